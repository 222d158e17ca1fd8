"""Calibration statistics equal what NumPy computes directly on the same tensors."""

from __future__ import annotations

import numpy as np
import pytest

from hetflow import dsl
from hetflow.errors import InputError
from hetflow.passes import collect_statistics


def _mlp():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    with dsl.model("mlp") as m:
        x = m.input("x", ("N", 8))
        h = dsl.relu(dsl.linear(x, m.param("w", w), m.param("b", np.zeros(4, np.float32))))
        m.output(h)
    return m.graph, w


def test_ranges_and_histogram_match_numpy():
    graph, w = _mlp()
    rng = np.random.default_rng(1)
    samples = [{"x": rng.standard_normal((3, 8)).astype(np.float32)} for _ in range(4)]
    stats = collect_statistics(graph, samples, bins=64)
    xs = np.concatenate([s["x"] for s in samples])
    assert stats["x"].min == pytest.approx(xs.min()) and stats["x"].max == pytest.approx(xs.max())
    assert stats["x"].count == 4
    assert int(stats["x"].histogram.sum()) == xs.size
    out = graph.outputs[0].name
    relu = np.maximum(xs @ w, 0)
    assert stats[out].min == 0.0 and stats[out].max == pytest.approx(relu.max(), rel=1e-6)
    expected, _ = np.histogram(np.abs(relu), bins=64, range=(0, relu.max()))
    assert np.array_equal(stats[out].histogram, expected)
    # The 100th percentile is the range; a lower one is inside it.
    assert stats[out].percentile(100) == pytest.approx(stats[out].absmax)
    assert 0 < stats["x"].percentile(50) < stats["x"].absmax


def test_bad_samples_are_one_line_errors():
    graph, _ = _mlp()
    with pytest.raises(InputError, match="at least one sample"):
        collect_statistics(graph, [])
    with pytest.raises(InputError, match="'x'"):
        collect_statistics(graph, [{"x": np.zeros((2, 9), np.float32)}])
    with pytest.raises(InputError, match="missing"):
        collect_statistics(graph, [{}])
