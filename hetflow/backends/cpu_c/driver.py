"""The cpu_c device driver: programs are graphs compiled to C on this host; time is measured."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.cpu_c.executable import CpuCExecutable
from hetflow.devices import BaseDevice, Program, register_driver
from hetflow.ir import Graph, verify
from hetflow.targets import MachineDescription


class CpuCDevice(BaseDevice):
    """Backend ``cpu_c``: loads an IR Graph (compiled here) or a CpuCExecutable; buffers bound by value names.

    Kernels use as many threads as the description gives the device (``compute.threads``, else its
    cores), so that two instances on one host can split its cores between them.
    """

    driver = "cpu_c"
    time_source = "measured"

    def __init__(self, description: MachineDescription, instance_id: str | None = None, host: str | None = None,
                 threads: int | None = None) -> None:
        super().__init__(description, instance_id, host)
        compute = description.compute
        self.threads = threads or (compute.threads or compute.units if compute is not None else None)

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            verify(artifact)
            artifact = CpuCBackend().compile(artifact, threads=self.threads)
        if not isinstance(artifact, CpuCExecutable):
            raise TypeError(f"the cpu_c driver loads an IR Graph or a CpuCExecutable, not {type(artifact).__name__}")
        return Program.from_graph(artifact.graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.run(inputs)


register_driver("cpu_c", CpuCDevice)
