"""Shared helpers for the cpu_c tests."""

from __future__ import annotations

import numpy as np

from hetflow.backends.cpu_c import CpuCBackend, CpuCExecutable
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph


def compare(graph: Graph, feeds: dict[str, np.ndarray], *, rtol: float = 1e-5, atol: float = 1e-6,
            **options: object) -> CpuCExecutable:
    """Compile ``graph`` with cpu_c (every node generated unless ``fallback`` says otherwise) and check
    each output against the reference backend: float within tolerance, everything else exactly."""
    options.setdefault("fallback", "error")
    exe = CpuCBackend().compile(graph, **options)
    got = exe.run(feeds)
    want = ReferenceBackend().compile(graph).run(feeds)
    assert set(got) == set(want)
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, f"{name}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=name)
    return exe
