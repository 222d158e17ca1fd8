"""Public error types (defined beside the IR so that every package can raise them)."""

from hetflow.ir.errors import HetflowError, InputError, ModelError, UnsupportedOpError
from hetflow.ir.registry import IRError

__all__ = ["HetflowError", "IRError", "InputError", "ModelError", "UnsupportedOpError"]
