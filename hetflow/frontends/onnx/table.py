"""The ONNX mapping table: one function per ONNX op, named like the op, versioned by opset.

The machinery is the frontends' shared ``MappingTable``; this module holds ONNX's instance. A mapping
function takes the conversion context, the node's inputs as IR values (None for an absent optional input)
and the node's attributes as keyword parameters whose defaults are the ONNX spec's.
"""

from __future__ import annotations

from hetflow.frontends.table import MapFn, Mapping, MappingTable, attribute_names

ONNX_TABLE = MappingTable("ONNX", modules=("hetflow.frontends.onnx.mappings",), version_name="opset",
                          default_domain="ai.onnx", listing="hetflow ops")
onnx_op = ONNX_TABLE.register
"""Register a mapping. ``Clip_v11`` maps op ``Clip`` from opset 11 on unless ``op_type`` says otherwise."""


def lookup(op_type: str, domain: str, opset: int, where: str) -> Mapping:
    """The mapping with the highest ``since`` not above ``opset``."""
    return ONNX_TABLE.lookup(op_type, domain, opset, where)


def table() -> list[Mapping]:
    """Every registered ONNX mapping, sorted by domain, op type and version."""
    return ONNX_TABLE.entries()


__all__ = ["ONNX_TABLE", "MapFn", "Mapping", "attribute_names", "lookup", "onnx_op", "table"]
