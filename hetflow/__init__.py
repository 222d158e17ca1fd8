"""hetflow: one model, many chips."""

from hetflow.api import compile, load
from hetflow.errors import HetflowError, InputError, ModelError, UnsupportedOpError
from hetflow.ir import DType, Graph, TensorType

__version__ = "0.1.0"

__all__ = [
    "DType", "Graph", "HetflowError", "InputError", "ModelError", "TensorType", "UnsupportedOpError",
    "compile", "load",
]
