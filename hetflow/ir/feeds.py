"""Checking a run's inputs against a graph's signature, shared by every runner."""

from __future__ import annotations

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.errors import InputError
from hetflow.ir.graph import Graph


def check_feeds(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate inputs against the graph signature; one-line InputError naming the input otherwise."""
    expected = {v.name for v in graph.inputs}
    extra = set(feeds) - expected
    if extra:
        raise InputError(f"unknown input(s) {sorted(extra)}; the model takes {sorted(expected)}")
    out: dict[str, np.ndarray] = {}
    symbols: dict[str, int] = {}
    for v in graph.inputs:
        if v.name not in feeds:
            raise InputError(f"input '{v.name}' ({v.type}) is missing")
        array = np.asarray(feeds[v.name])
        want = v.type.dtype
        got = DType.of(array.dtype) if array.dtype.kind not in "USO" else DType.string
        if got is not want:
            raise InputError(f"input '{v.name}': expected dtype {want}, got {got}")
        shape = v.type.shape
        if shape is not None:
            if array.ndim != len(shape):
                raise InputError(f"input '{v.name}': expected shape {v.type}, got {list(array.shape)} (rank differs)")
            for axis, (d, n) in enumerate(zip(shape, array.shape)):
                if isinstance(d, int) and d != n:
                    raise InputError(f"input '{v.name}': expected shape {v.type}, got {list(array.shape)} (dim {axis})")
                if isinstance(d, str) and symbols.setdefault(d, n) != n:
                    raise InputError(f"input '{v.name}': dim {axis} is '{d}'={symbols[d]} elsewhere, got {n}")
        out[v.name] = array
    return out
