"""The reference device driver: runs programs with the NumPy interpreter on the host; time is measured."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.reference.interpreter import ReferenceExecutable
from hetflow.devices import BaseDevice, Program, register_driver
from hetflow.ir import Graph, verify


class ReferenceDevice(BaseDevice):
    """Backend ``reference``: programs are IR graphs (or ReferenceExecutables), buffers bound by graph value names."""

    driver = "reference"
    time_source = "measured"

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            verify(artifact)
            artifact = ReferenceExecutable(artifact)
        if not isinstance(artifact, ReferenceExecutable):
            raise TypeError(f"the reference driver loads an IR Graph or a ReferenceExecutable, not {type(artifact).__name__}")
        return Program.from_graph(artifact.graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.run(inputs)


register_driver("reference", ReferenceDevice)
