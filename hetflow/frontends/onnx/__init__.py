"""The ONNX frontend: importer and mapping table."""

from typing import Any

from hetflow.frontends.onnx.importer import import_model, read_model
from hetflow.frontends.onnx.table import ONNX_TABLE, onnx_op, table
from hetflow.frontends.registry import Frontend


def _is_model_proto(obj: Any) -> bool:
    import onnx

    return isinstance(obj, onnx.ModelProto)


FRONTEND = Frontend("onnx", load=import_model, suffixes=(".onnx",), accepts=_is_model_proto, fallback=True)

__all__ = ["FRONTEND", "ONNX_TABLE", "import_model", "onnx_op", "read_model", "table"]
