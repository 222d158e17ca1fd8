"""hetflow: one model, many chips."""

from hetflow.api import compile, from_torch, load
from hetflow.devices import DeviceError, open_device
from hetflow.errors import HetflowError, InputError, ModelError, UnsupportedOpError
from hetflow.ir import DType, Graph, TensorType
from hetflow.partition import Plan
from hetflow.targets import Cluster, DescriptionError

__version__ = "0.1.0"

__all__ = [
    "DType", "Graph", "HetflowError", "InputError", "ModelError", "TensorType", "UnsupportedOpError",
    "Plan", "compile", "from_torch", "load",
    "Cluster", "DescriptionError", "DeviceError", "open_device",
]
