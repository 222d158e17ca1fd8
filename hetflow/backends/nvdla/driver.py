"""The nvdla device driver: an emulated NVDLA configuration.

Programs are quantized IR graphs (compiled here for the device's description) or ``NvdlaExecutable``s compiled
beforehand. NVDLA loadables are fixed cubes: a graph with a symbolic dim (a batch) is compiled once per input
shape it is run with, as TensorRT builds an engine per optimization profile. A run writes its int8 inputs into
the DRAM image, fires the engine ops in dependency order through the bit-exact engine models, and reports the
schedule's end as device time, ``model:nvdla-perf``. Nothing here is a measurement of an NVDLA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.backends.nvdla import NvdlaBackend, NvdlaExecutable
from hetflow.backends.nvdla.perf import TIME_SOURCE
from hetflow.devices import BaseDevice, Program, TimelineEvent
from hetflow.ir import Graph, verify
from hetflow.ir.subgraph import specialize
from hetflow.targets import MachineDescription


class PerShape:
    """A graph with symbolic dims, compiled for each concrete input shape on first use."""

    def __init__(self, graph: Graph, description: MachineDescription) -> None:
        self.graph = graph
        self.description = description
        self.compiled: dict[tuple, NvdlaExecutable] = {}

    def for_inputs(self, inputs: dict[str, np.ndarray]) -> NvdlaExecutable:
        key = tuple((v.name, np.shape(inputs[v.name])) for v in self.graph.inputs)
        if key not in self.compiled:
            shapes = dict(key)
            concrete = specialize(self.graph, [shapes[v.name] for v in self.graph.inputs])
            verify(concrete)
            self.compiled[key] = NvdlaBackend().compile_for(concrete, self.description)
        return self.compiled[key]


class NvdlaDevice(BaseDevice):
    """Backend ``nvdla``: buffers in (shared) host memory, programs run on the engine models."""

    driver = "nvdla"
    time_source = TIME_SOURCE

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            verify(artifact)
            static = all(v.type.is_static for v in artifact.inputs)
            handle = NvdlaBackend().compile_for(artifact, self._description) if static \
                else PerShape(artifact, self._description)
            return Program.from_graph(artifact, handle, name)
        if isinstance(artifact, NvdlaExecutable):
            return Program.from_graph(artifact.graph, artifact, name)
        raise TypeError(f"the nvdla driver loads a quantized IR Graph or an NvdlaExecutable, "
                        f"not {type(artifact).__name__}")

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _executable(program, inputs).run(inputs)

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float:
        return _executable(program, inputs).seconds

    def timeline(self, program: Program, inputs: dict[str, np.ndarray]) -> list[TimelineEvent]:
        """The schedule's engine events (one per op descriptor), for one track per engine in the plan's trace."""
        return [TimelineEvent(e.engine, e.name, e.start, e.end, {"op": e.op, "source": TIME_SOURCE})
                for e in _executable(program, inputs).events]


def _executable(program: Program, inputs: dict[str, np.ndarray]) -> NvdlaExecutable:
    handle = program.handle
    return handle.for_inputs(inputs) if isinstance(handle, PerShape) else handle

