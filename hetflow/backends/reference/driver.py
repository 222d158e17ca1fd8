"""The reference device driver: runs programs with the NumPy interpreter on the host; time is measured."""

from __future__ import annotations

from hetflow.backends.reference.interpreter import ReferenceExecutable
from hetflow.devices import ExecutableDevice
from hetflow.ir import Graph


class ReferenceDevice(ExecutableDevice):
    """Backend ``reference``: programs are IR graphs (or ReferenceExecutables), buffers bound by graph value names."""

    driver = "reference"
    computes_on_caller = True
    time_source = "measured"

    executable_types = (ReferenceExecutable,)

    def build(self, graph: Graph) -> ReferenceExecutable:
        return ReferenceExecutable(graph)


# Registered through the hetflow.drivers entry point in pyproject.toml.
__all__ = ["ReferenceDevice"]
