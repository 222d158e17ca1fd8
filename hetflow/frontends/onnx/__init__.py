"""The ONNX frontend: importer, mapping table, and an onnx.backend Backend."""

from hetflow.frontends.onnx.importer import import_model, read_model
from hetflow.frontends.onnx.table import onnx_op, table

__all__ = ["import_model", "onnx_op", "read_model", "table"]
