"""The optional ``gpu`` extra: importing torch and Triton, and choosing between a CUDA GPU and Triton's interpreter.

Triton decides whether it interprets kernels when ``triton.language`` is first imported, so the decision is
made once, here, before that import: a CUDA GPU visible to torch runs compiled kernels; otherwise Triton's
interpreter (``TRITON_INTERPRET=1``) runs the very same generated kernels with NumPy on the host.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from hetflow.config import export_triton_settings, triton_interpret_requested
from hetflow.ir.errors import HetflowError

INSTALL_HINT = 'pip install -e ".[gpu]"'


class GpuExtraMissingError(HetflowError):
    """torch or triton is not installed."""


@dataclass(frozen=True)
class GpuRuntime:
    """The imported modules and the mode they run in."""

    torch: ModuleType
    triton: ModuleType
    tl: ModuleType
    interpret: bool
    device: str  # the torch device kernels' tensors live on: "cuda" or "cpu"

    @property
    def mode(self) -> str:
        """How kernels run, for reports."""
        if self.interpret:
            return f"Triton {self.triton.__version__} interpreter on the host CPU (no CUDA GPU)"
        return f"Triton {self.triton.__version__} on {self.torch.cuda.get_device_name()}"


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise GpuExtraMissingError(f"the gpu_triton backend needs {name.split('.')[0]} ({exc}); run: {INSTALL_HINT}") \
            from None


@lru_cache(maxsize=1)
def load_runtime() -> GpuRuntime:
    """Import torch and triton once, in the mode this machine allows."""
    torch = _import("torch")
    cuda = bool(torch.cuda.is_available())
    if not cuda and "triton.language" in sys.modules and not triton_interpret_requested():
        raise GpuExtraMissingError("triton was imported before hetflow could ask for its interpreter and there is no "
                                   "CUDA GPU; set TRITON_INTERPRET=1 before importing triton")
    export_triton_settings(interpret=not cuda)
    triton = _import("triton")
    tl = _import("triton.language")
    interpret = not cuda or triton_interpret_requested()
    return GpuRuntime(torch, triton, tl, interpret, "cuda" if cuda and not interpret else "cpu")


def available() -> str | None:
    """None when torch and triton import; else the one line saying how to install them."""
    try:
        load_runtime()
    except GpuExtraMissingError as exc:
        return str(exc)
    return None
