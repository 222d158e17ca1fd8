"""CDP (LRN): the int8 table rule of ``qlrn``, the engine model bit-exact to it, its accuracy against the float
LRN, the quantize rewrite, legality from the table and the performance model's entry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nvdla_helpers import config, int8, run_both

from hetflow.backends.nvdla import NvdlaUnsupportedError
from hetflow.backends.nvdla.lower import lower
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, Value
from hetflow.ir.ops.nn import lrn
from hetflow.ir.ops.quant import fixed_point, lrn_table, qlrn
from hetflow.passes.quantize import calibrate_and_quantize

ALEXNET = {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}
GOOGLENET = {"alpha": 1e-4, "beta": 0.75, "bias": 2.0}


def _qlrn(g: Graph, x: Value, size: int, sx: float, sy: float, params: dict, name: str = "lrn") -> Value:
    lut, index_shift, bits = lrn_table(size, params["alpha"], params["beta"], params["bias"], sx)
    m, s = fixed_point(sx / sy / 2.0 ** bits)
    return g.add_node("qlrn", [x, g.constant(lut, f"{name}_lut")],
                      {"size": size, "index_shift": index_shift, "multiplier": int(m[0]), "shift": int(s[0])},
                      name=name).outputs[0]


@pytest.mark.parametrize(("shape", "size", "params", "sx", "sy"), [
    ((1, 13, 7, 5), 5, ALEXNET, 3.0, 2.0), ((2, 64, 4, 4), 3, GOOGLENET, 3.0, 2.0), ((1, 3, 9, 9), 9, ALEXNET, 3.0, 2.0),
    ((1, 70, 3, 6), 7, {"alpha": 0.5, "beta": 0.6, "bias": 2.0}, 0.05, 0.01),
])
def test_cdp_is_bit_exact_with_the_int8_rule(shape, size, params, sx, sy):
    rng = np.random.default_rng(size)
    g = Graph("lrn")
    x = g.add_input("x", "int8", shape)
    g.outputs = [_qlrn(g, x, size, sx, sy, params)]
    want, got, exe = run_both(g, {"x": int8(rng, shape)}, config())
    np.testing.assert_array_equal(got["lrn"], want["lrn"])
    assert [op.engine for op in exe.loadable.ops] == ["CDP"]
    assert np.unique(got["lrn"]).size > 20  # the rule is exercised, not saturated


@pytest.mark.parametrize("magnitude", [1.0, 30.0, 100.0])
@pytest.mark.parametrize("params", [ALEXNET, GOOGLENET])
def test_the_table_tracks_the_float_lrn(magnitude, params):
    """Stated tolerance: within 1% of the output's range (one int8 step is 0.8%) for AlexNet's and GoogLeNet's
    parameters over inputs whose window sums reach from the flat to the steep part of the curve."""
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal((2, 32, 6, 6)) * magnitude, 0).astype(np.float32)
    sx = float(np.abs(x).max()) / 127
    xq = np.clip(np.rint(x / sx), -127, 127).astype(np.int8)
    want = lrn(xq.astype(np.float32) * sx, size=5, **params)
    sy = float(np.abs(want).max()) / 127
    lut, index_shift, bits = lrn_table(5, params["alpha"], params["beta"], params["bias"], sx)
    m, s = fixed_point(sx / sy / 2.0 ** bits)
    got = qlrn(xq, lut, size=5, index_shift=index_shift, multiplier=int(m[0]), shift=int(s[0]), dtype="int8")
    assert np.abs(got * sy - want).max() <= 0.01 * np.abs(want).max()


def test_float_lrn_quantizes_to_qlrn_and_runs_on_the_cdp():
    rng = np.random.default_rng(2)
    g = Graph("net")
    x = g.add_input("x", "float32", (1, 8, 10, 10))
    w = g.constant(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "w")
    y = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}, name="conv").outputs[0]
    r = g.add_node("relu", [y], name="relu").outputs[0]
    g.outputs = [g.add_node("lrn", [r], {"size": 5, **ALEXNET}, name="norm").outputs[0]]
    samples = [{"x": rng.standard_normal((1, 8, 10, 10)).astype(np.float32)} for _ in range(4)]
    q, report = calibrate_and_quantize(g, samples)
    assert "qlrn" in [n.op for n in q.nodes] and "norm" in report.quantized_nodes
    ref = ReferenceBackend()
    feed = samples[0]
    want_f, got_q = ref.compile(g).run(feed)["norm"], ref.compile(q).run(feed)["norm"]
    assert np.abs(got_q - want_f).max() <= 0.03 * np.abs(want_f).max()  # int8 conv + LRN vs float
    part = Graph("part")
    xi = part.add_input("xq", "int8", (1, 8, 10, 10))
    lrn_node = next(n for n in q.nodes if n.op == "qlrn")
    conv_node = next(n for n in q.nodes if n.op == "conv_requant")
    c = part.add_node("conv_requant", [xi, *conv_node.inputs[1:]], dict(conv_node.attrs), name="c").outputs[0]
    part.outputs = [part.add_node("qlrn", [c, lrn_node.inputs[1]], dict(lrn_node.attrs), name="n").outputs[0]]
    want, got, exe = run_both(part, {"xq": int8(rng, (1, 8, 10, 10))}, config())
    np.testing.assert_array_equal(got["n"], want["n"])
    assert [op.engine for op in exe.loadable.ops] == ["CONV", "SDP", "CDP"]


def test_cdp_layer_in_the_performance_model():
    g = Graph("lrn")
    x = g.add_input("x", "int8", (1, 64, 28, 28))
    g.outputs = [_qlrn(g, x, 5, 3.0, 2.0, ALEXNET)]
    cfg = config()
    _, _, exe = run_both(g, {"x": int8(np.random.default_rng(0), (1, 64, 28, 28))}, cfg)
    (layer,) = exe.perf.layers
    assert layer.engine_cycles == 64 * 28 * 28 / cfg.cdp_throughput
    assert layer.dram_bytes == 2 * 64 * 28 * 28 and layer.bound in ("ENGINE", "DRAM")


def test_configuration_without_a_cdp_refuses_lrn():
    g = Graph("lrn")
    x = g.add_input("x", "int8", (1, 8, 4, 4))
    g.outputs = [_qlrn(g, x, 5, 3.0, 2.0, ALEXNET)]
    no_cdp = dataclasses.replace(config(), engines=config().engines - {"cdp"})
    with pytest.raises(NvdlaUnsupportedError, match=r"node 'lrn' \(qlrn\) cannot run on NVDLA: .* has no CDP engine"):
        lower(g, no_cdp)


def test_lrn_window_out_of_the_cdp_range():
    g = Graph("lrn")
    x = g.add_input("x", "int8", (1, 16, 4, 4))
    g.outputs = [_qlrn(g, x, 11, 3.0, 2.0, ALEXNET)]
    with pytest.raises(NvdlaUnsupportedError, match=r"LRN window 11 is not one of the CDP's \(3, 5, 7, 9\)"):
        lower(g, config())


