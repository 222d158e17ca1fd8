"""Convolution splits (issue 11 item 3): a convolution that does not fit the convolution buffer is cut into kernel
groups or output-row chunks with their halo; the result is bit-exact with the unsplit one, and the performance
model charges exactly the traffic of the pieces the loadable runs."""

from __future__ import annotations

import numpy as np
import pytest
from nvdla_helpers import conv_requant, int8, run_both

from hetflow.backends.nvdla.engines import pad_to
from hetflow.backends.nvdla.hw import sweep_config
from hetflow.backends.nvdla.lower import NvdlaLoweringError, lower
from hetflow.ir import Graph

ROOMY = sweep_config(64, 4096, 1.0)  # 4 MiB: nothing here needs a split


def _graph(c: int, hw: tuple[int, int], k: int, kernel: int, stride: int, pad: int, seed: int) -> tuple[Graph, dict]:
    rng = np.random.default_rng(seed)
    g = Graph("split")
    x = g.add_input("x", "int8", (1, c, *hw))
    g.outputs = [conv_requant(g, x, k, kernel, stride, pad, rng)]
    return g, {"x": int8(rng, (1, c, *hw))}


@pytest.mark.parametrize(("c", "hw", "k", "kernel", "stride", "pad", "cbuf_kib"), [
    # narrow images of many channels: one kernel group outweighs one band of input rows, so the input is cut
    (256, (12, 12), 8, 3, 1, 1, 32),
    (44, (33, 9), 8, 5, 2, 2, 16),  # strided 5x5, odd sizes, channels off the atom
    (256, (14, 10), 16, 3, 1, 0, 32),  # no padding: every halo inside the image
])
def test_feature_split_by_output_rows_is_bit_exact(c, hw, k, kernel, stride, pad, cbuf_kib):
    g, feeds = _graph(c, hw, k, kernel, stride, pad, seed=c + hw[1])
    want, got, exe = run_both(g, feeds, sweep_config(64, cbuf_kib, 1.0))
    params = exe.loadable.ops[0].params
    assert params["split"] == "features" and len(params["row_chunks"]) > 1
    chunks = params["row_chunks"]
    assert chunks[0][0] == 0 and chunks[-1][1] == want["conv"].shape[2]
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    np.testing.assert_array_equal(got["conv"], want["conv"])
    _, unsplit, whole = run_both(g, feeds, ROOMY)
    assert whole.loadable.ops[0].params["split"] == "none"
    np.testing.assert_array_equal(got["conv"], unsplit["conv"])


def test_weight_split_rereads_the_input_per_kernel_group_and_is_bit_exact():
    """Large weights beside a band of a wide input: kernel groups, each streaming the whole input again."""
    g, feeds = _graph(64, (40, 40), 64, 3, 1, 1, seed=3)
    cfg = sweep_config(64, 24, 1.0)
    want, got, exe = run_both(g, feeds, cfg)
    params = exe.loadable.ops[0].params
    assert params["split"] == "weights" and len(params["k_splits"]) > 1
    assert all((b - a) % cfg.atomic_k == 0 for a, b in params["k_splits"])
    np.testing.assert_array_equal(got["conv"], want["conv"])


@pytest.mark.parametrize(("c", "hw", "k", "kernel", "stride", "pad", "cbuf_kib"), [
    (256, (12, 12), 8, 3, 1, 1, 32), (256, (14, 10), 16, 3, 1, 0, 32), (44, (33, 9), 8, 5, 2, 2, 16),
    (64, (40, 40), 64, 3, 1, 1, 24), (64, (6, 6), 96, 3, 1, 1, 8), (64, (30, 30), 8, 3, 1, 1, 16),
])
def test_model_charges_the_traffic_of_the_pieces_the_loadable_runs(c, hw, k, kernel, stride, pad, cbuf_kib):
    """Recount the bytes from the loadable's own pieces (rows each chunk reads, how often the input and the
    weights are read) and compare with the model's layer. Stride 1 only for the exact count (a strided layer's
    input is counted with the stride folded into channels, as the spreadsheet does)."""
    g, feeds = _graph(c, hw, k, kernel, stride, pad, seed=7)
    cfg = sweep_config(64, cbuf_kib, 1.0)
    loadable, _ = lower(g, cfg)
    conv = loadable.ops[0]
    p = conv.params
    layer_bytes = _perf(g, cfg).layers[0].dram_bytes
    if stride != 1:
        assert layer_bytes > 0
        return
    m = cfg.memory_atomic
    h, w = hw
    row = pad_to(c, m) * w
    rows = [min(h, (b - 1) + kernel - pad) - max(0, a - pad) for a, b in p["row_chunks"]]
    x_passes = len(p["k_splits"]) if p["split"] == "weights" else 1
    weights = pad_to(c, m) * kernel * kernel * k
    out = pad_to(k, m) * (h + 2 * pad - kernel + 1) * (w + 2 * pad - kernel + 1)
    assert layer_bytes == x_passes * sum(rows) * row + len(p["row_chunks"]) * weights + out


def _perf(g: Graph, cfg):
    from hetflow.backends.nvdla.perf import program_perf

    return program_perf(lower(g, cfg)[0], cfg)


def test_a_split_costs_more_traffic_than_no_split():
    g, _ = _graph(256, (12, 12), 8, 3, 1, 1, seed=1)
    tight, roomy = _perf(g, sweep_config(64, 32, 1.0)), _perf(g, ROOMY)
    assert tight.dram_bytes > roomy.dram_bytes


def test_a_row_that_cannot_fit_is_refused_naming_the_node():
    """A 3x3 over 256 channels x 1024 columns: one band of 4 input rows is 1 MiB, far past a 64 KiB buffer."""
    g, _ = _graph(256, (8, 1024), 8, 3, 1, 1, seed=0)
    with pytest.raises(NvdlaLoweringError, match=r"node 'conv' \(conv_requant\).*does not fit the 65536 B"):
        lower(g, sweep_config(64, 64, 1.0))
