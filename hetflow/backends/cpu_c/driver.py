"""The cpu_c device driver: programs are graphs compiled to C on this host; time is measured."""

from __future__ import annotations

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.cpu_c.executable import CpuCExecutable
from hetflow.devices import ExecutableDevice
from hetflow.ir import Graph
from hetflow.targets import MachineDescription


class CpuCDevice(ExecutableDevice):
    """Backend ``cpu_c``: loads an IR Graph (compiled here) or a CpuCExecutable; buffers bound by value names.

    Kernels use as many threads as the description gives the device (``compute.threads``, else its
    cores), so that two instances on one host can split its cores between them.
    """

    driver = "cpu_c"
    computes_on_caller = True
    time_source = "measured"

    def __init__(self, description: MachineDescription, instance_id: str | None = None, host: str | None = None,
                 threads: int | None = None) -> None:
        super().__init__(description, instance_id, host)
        compute = description.compute
        self.threads = threads or (compute.threads or compute.units if compute is not None else None)

    executable_types = (CpuCExecutable,)

    def build(self, graph: Graph) -> CpuCExecutable:
        return CpuCBackend().compile(graph, threads=self.threads)


# Registered through the hetflow.drivers entry point in pyproject.toml.
__all__ = ["CpuCDevice"]
