"""The PyTorch frontend: ``torch.export`` -> core ATen -> IR through the ATen mapping table.

This module stays light (no ``import torch``) so that listing frontends costs nothing; torch is imported
when a module is converted. Without torch installed, conversion says which extra to install.
"""

from __future__ import annotations

from typing import Any

from hetflow.frontends.registry import Frontend
from hetflow.frontends.torch.table import ATEN_TABLE, aten_op, table
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError

MISSING = 'PyTorch is not installed: run `pip install -e ".[torch]"` to convert PyTorch models'


class MissingExtraError(HetflowError):
    """An optional dependency (a pip extra) that this feature needs is not installed."""


def require_torch() -> Any:
    """The ``torch`` module, or a one-line MissingExtraError naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise MissingExtraError(MISSING) from None
    return torch


def from_torch(module: Any, example_inputs: Any, *, dynamic_batch: bool = True, **options: Any) -> Graph:
    """Convert a ``torch.nn.Module`` (or an ``ExportedProgram``) to a hetflow Graph.

    ``example_inputs`` is a tensor or a tuple of them (positional arguments of ``forward``). With
    ``dynamic_batch`` the leading dim of every input is the symbolic IR dim ``batch``.
    """
    torch = require_torch()
    from hetflow.frontends.torch.importer import export_module, import_program

    where = type(module).__name__
    if isinstance(module, torch.export.ExportedProgram):
        return import_program(module.run_decompositions(), where, **options)
    if not isinstance(module, torch.nn.Module):
        raise HetflowError(f"from_torch needs a torch.nn.Module or an ExportedProgram, not a {where}")
    return import_program(export_module(module, example_inputs, dynamic_batch, where), where, **options)


def _load(source: Any, *, example_inputs: Any = None, dynamic_batch: bool = True, **options: Any) -> Graph:
    if example_inputs is None and type(source).__name__ != "ExportedProgram":
        raise HetflowError(f"loading a {type(source).__name__} needs example_inputs= (or call hf.from_torch)")
    return from_torch(source, example_inputs, dynamic_batch=dynamic_batch, **options)


def _is_torch_object(obj: Any) -> bool:
    """A torch module or exported program, recognised without importing torch (absent torch: nothing is)."""
    return any(c.__module__.startswith("torch.") and c.__name__ in ("Module", "ExportedProgram")
               for c in type(obj).__mro__)


FRONTEND = Frontend("torch", load=_load, accepts=_is_torch_object)

__all__ = ["ATEN_TABLE", "FRONTEND", "MissingExtraError", "aten_op", "from_torch", "require_torch", "table"]
