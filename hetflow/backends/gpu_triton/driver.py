"""The gpu_triton device driver: programs are graphs compiled to Triton kernels.

On a CUDA GPU each run's time is the CUDA events' ``measured`` time around its kernels (launched on the
program's stream, replayed as a CUDA graph). Without one, kernels run in Triton's interpreter on the host
and the device reports the GPU cost model's time for the program (``model:gpu-cost``), never host time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.gpu_triton import GpuTritonBackend
from hetflow.backends.gpu_triton.cost import SOURCE, estimate_node
from hetflow.backends.gpu_triton.executable import GpuTritonExecutable
from hetflow.backends.gpu_triton.runtime import load_runtime
from hetflow.devices import ExecutableDevice, Program
from hetflow.ir import Graph
from hetflow.targets import MachineDescription


class GpuTritonDevice(ExecutableDevice):
    """Backend ``gpu_triton``: loads an IR Graph (compiled here for this description) or a GpuTritonExecutable."""

    driver = "gpu_triton"
    time_source = "measured"
    executable_types = (GpuTritonExecutable,)

    def __init__(self, description: MachineDescription, instance_id: str | None = None,
                 host: str | None = None) -> None:
        self.runtime = load_runtime()  # the one line naming the gpu extra, at open, when it is missing
        if self.runtime.interpret:
            self.time_source = SOURCE  # type: ignore[misc]  # per instance: this host has no GPU to measure
        super().__init__(description, instance_id, host)

    def build(self, graph: Graph) -> GpuTritonExecutable:
        return GpuTritonBackend().compile(graph, self.description)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        exe: GpuTritonExecutable = program.handle
        return exe.run(inputs)

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, Any]) -> float:
        """The cost model's seconds for the program's nodes on this description (interpreter runs)."""
        graph: Graph = program.handle.graph
        return sum((estimate_node(n, self.description) or (0.0, SOURCE))[0] for n in graph.nodes)


# Registered through the hetflow.drivers entry point in pyproject.toml.
__all__ = ["GpuTritonDevice"]
