"""The accelerator-independent IR: graphs of typed values and registered ops."""

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Graph, Node, Region, Value
from hetflow.ir.registry import REQUIRED, IRError, OpDef, all_ops, defop, get_op
from hetflow.ir.types import Dim, TensorType

__all__ = [
    "DType", "Dim", "Graph", "IRError", "Node", "OpDef", "REQUIRED", "Region", "TensorType", "Value",
    "all_ops", "defop", "get_op",
]

from hetflow.ir.printer import format_graph  # noqa: E402
from hetflow.ir.verify import verify  # noqa: E402

__all__ += ["format_graph", "verify"]
