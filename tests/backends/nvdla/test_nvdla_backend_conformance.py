"""The nvdla backend passes the backend conformance suite, on the suite's small CNN quantized to int8.

NVDLA computes in int8 only, so its program is the part of the suite's graph that the NVDLA runs after the shared
float -> int8 rewrite (quantize/dequantize at the edges and the flattening reshape stay on a CPU, as they would in a
plan); the reference runs the same int8 IR, and the engine models must equal it bit for bit.
"""

from __future__ import annotations

import numpy as np
from backends.conformance import BackendConformance

from hetflow.backends.nvdla.hw import from_description
from hetflow.backends.nvdla.lower import nvdla_part
from hetflow.ir import Graph
from hetflow.passes.quantize import calibrate_and_quantize
from hetflow.targets import get_preset


class TestNvdlaBackend(BackendConformance):
    backend_name = "nvdla"
    description = "nvidia/nvdla-full"
    rtol = atol = 0.0

    def small_graph(self) -> Graph:
        graph = super().small_graph()
        rng = np.random.default_rng(2)
        samples = [{"x": (rng.random((1, 1, 8, 8), np.float32) - 0.5)} for _ in range(4)]
        quantized, _ = calibrate_and_quantize(graph, samples)
        return nvdla_part(quantized, from_description(get_preset(self.description)))

    @staticmethod
    def feeds(graph: Graph, batch: int = 2) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(1)
        return {v.name: rng.integers(-128, 128, tuple(d if isinstance(d, int) else batch for d in v.type.shape),
                                     dtype=np.int8) for v in graph.inputs}
