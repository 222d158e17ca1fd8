"""The fpga_hls device driver: an emulated FPGA board.

Programs are IR graphs (compiled here for the device's description by ``FpgaHlsBackend.compile_for``:
the device's settings, or by default the first architecture whose folded design fits the board) or
``FpgaExecutable``s compiled beforehand (the partitioner compiles a plan's FPGA subgraphs that way). A
run executes the design's g++ C simulation on the host; its device time is the cycle model's
``model:hls-cycles`` at the description's clock: the pipeline's latency plus one initiation
interval for each further sample of the batch. Nothing here is a measurement of an FPGA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.fpga_hls import FpgaExecutable, FpgaHlsBackend, HLSConfig
from hetflow.backends.fpga_hls.estimate import TIME_SOURCE, estimate
from hetflow.devices import BaseDevice, Program
from hetflow.ir import Graph, verify
from hetflow.targets import MachineDescription


class FpgaHlsDevice(BaseDevice):
    """Backend ``fpga_hls``: buffers in host memory, programs run as C simulations, time from the cycle model."""

    driver = "fpga_hls"
    time_source = TIME_SOURCE

    def __init__(self, description: MachineDescription, instance_id: str | None = None, host: str | None = None,
                 *, config: HLSConfig | dict[str, Any] | None = None) -> None:
        super().__init__(description, instance_id, host)
        self.config = None if config is None else HLSConfig.of(config)  # None: the board's default (compile_for)

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            verify(artifact)
            artifact = FpgaHlsBackend().compile_for(artifact, self._description, config=self.config, name=name)
        if not isinstance(artifact, FpgaExecutable):
            raise TypeError(f"the fpga_hls driver loads an IR Graph or an FpgaExecutable, not {type(artifact).__name__}")
        if artifact.estimate.target != self._description.name:  # compiled for another board: re-estimate for this one
            est = estimate(artifact.design, self._description)
            est.check_fit(artifact.design)
            artifact.estimate = est
        return Program.from_graph(artifact.graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.run(inputs)

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float:
        exe: FpgaExecutable = program.handle
        _, samples = exe.samples(inputs)
        return exe.estimate.run_seconds(samples)


# Registered through the hetflow.drivers entry point in pyproject.toml.
__all__ = ["FpgaHlsDevice"]
