"""The nvdla device driver: an emulated NVDLA configuration.

Programs are quantized IR graphs (compiled here for the device's description) or ``NvdlaExecutable``s compiled
beforehand. A run writes its int8 inputs into the DRAM image, fires the engine ops in dependency order through
the bit-exact engine models, and reports the schedule's end as device time, ``model:nvdla-perf``. Nothing here
is a measurement of an NVDLA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.nvdla import NvdlaBackend, NvdlaExecutable
from hetflow.backends.nvdla.perf import TIME_SOURCE
from hetflow.devices import BaseDevice, Program, register_driver
from hetflow.ir import Graph


class NvdlaDevice(BaseDevice):
    """Backend ``nvdla``: buffers in (shared) host memory, programs run on the engine models."""

    driver = "nvdla"
    time_source = TIME_SOURCE

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            artifact = NvdlaBackend().compile_for(artifact, self._description)
        if not isinstance(artifact, NvdlaExecutable):
            raise TypeError(f"the nvdla driver loads a quantized IR Graph or an NvdlaExecutable, "
                            f"not {type(artifact).__name__}")
        return Program.from_graph(artifact.graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.run(inputs)

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float:
        return program.handle.seconds


register_driver("nvdla", NvdlaDevice)
