"""The ATen mapping table: one function per core-ATen overload packet, named like the op.

A mapping takes the conversion context, then the op's schema arguments in schema order: tensors as IR
values (None for an absent optional tensor), everything else as Python values (ints, floats, lists, and
symbolic sizes as strings naming IR dims). Parameter defaults are the schema's defaults, so an argument the
exported node leaves out takes the value PyTorch would use. ``tests/frontends/torch`` checks the defaults
against ``torch.ops.aten`` schemas.
"""

from __future__ import annotations

from hetflow.frontends.table import Mapping, MappingTable

ATEN_TABLE = MappingTable("ATen", modules=("hetflow.frontends.torch.mappings",), version_name="version",
                          default_domain="aten", listing="hetflow ops --frontend torch")
aten_op = ATEN_TABLE.register
"""Register a mapping for the ATen overload packet named like the function (or ``op_type``)."""


def table() -> list[Mapping]:
    """Every registered ATen mapping, sorted by op name."""
    return ATEN_TABLE.entries()


__all__ = ["ATEN_TABLE", "aten_op", "table"]
