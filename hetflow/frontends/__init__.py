"""Frontends: import models from other formats into the IR through declarative mapping tables.

The machinery is shared: ``table.MappingTable`` (one function per source op, versioned), ``context.Ctx``
(what a mapping builds IR through, and ``NeedsConstant``), and ``registry`` (which frontend reads a model).
A new framework is a new table and a ``Frontend`` record, never a change to the IR.
"""

from hetflow.frontends.context import Ctx, NeedsConstant
from hetflow.frontends.registry import Frontend, frontends, load_model, pick_frontend, register_frontend
from hetflow.frontends.table import Mapping, MappingTable, attribute_names

__all__ = [
    "Ctx", "Frontend", "Mapping", "MappingTable", "NeedsConstant", "attribute_names", "frontends", "load_model",
    "pick_frontend", "register_frontend",
]
