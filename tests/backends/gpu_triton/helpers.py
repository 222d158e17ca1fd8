"""Shared checks for the gpu_triton tests: run a graph through the generated kernels and the reference."""

from __future__ import annotations

import numpy as np

from hetflow.backends.gpu_triton import GpuTritonBackend, GpuTritonExecutable
from hetflow.backends.reference import ReferenceExecutable
from hetflow.ir import Graph

TOLERANCE = {"float32": (2e-5, 2e-5), "float16": (2e-2, 2e-2), "bfloat16": (8e-2, 8e-2)}
"""(rtol, atol) per dtype: float32 to float32 rounding; half types to their 11- and 8-bit mantissas after
float32 accumulation (the reference computes in the tensor's own type, so both round)."""


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy) for v in graph.inputs}


def check(graph: Graph, feeds: dict[str, np.ndarray] | None = None, dtype: str = "float32", scale: float = 1.0,
          **options: object) -> GpuTritonExecutable:
    """Compile ``graph`` with gpu_triton, run it and the reference backend, assert they agree."""
    feeds = feeds or random_feeds(graph)
    exe = GpuTritonBackend().compile(graph, **options)
    got = exe.run(feeds)
    want = ReferenceExecutable(graph).run(feeds)
    rtol, atol = TOLERANCE[dtype]
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=rtol, atol=atol * scale,
                                   err_msg=name)
    return exe
