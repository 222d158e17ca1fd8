"""The TFLite mapping table: one function per builtin operator, named like it, versioned by the op's version.

A mapping takes the conversion context, the operator's inputs as IR values (None for an absent optional
input, index -1 in the flatbuffer) and its builtin options as keyword-only parameters named in snake_case
(``fused_activation_function``, ``stride_h``) with the schema's defaults.
"""

from __future__ import annotations

from hetflow.frontends.table import Mapping, MappingTable

TFLITE_TABLE = MappingTable("TFLite", modules=("hetflow.frontends.tflite.mappings",), version_name="version",
                            default_domain="builtin", listing="hetflow ops --frontend tflite")
tflite_op = TFLITE_TABLE.register
"""Register a mapping: ``CONV_2D`` maps the builtin operator CONV_2D from version 1 on."""


def table() -> list[Mapping]:
    """Every registered TFLite mapping, sorted by operator name and version."""
    return TFLITE_TABLE.entries()


__all__ = ["TFLITE_TABLE", "table", "tflite_op"]
