"""RUBIK: depth-to-space contract, and deconvolution lowered as CONV over the output phases + SDP + RUBIK contract
(as NVIDIA's compiler does), bit-exact with the integer reference; the quantize rewrite; legality."""

from __future__ import annotations

import numpy as np
import pytest
from nvdla_helpers import config, int8, run_both

from hetflow.backends.nvdla import NvdlaBackend, NvdlaUnsupportedError
from hetflow.backends.nvdla.lower import lower
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, Value
from hetflow.ir.ops.quant import fixed_point
from hetflow.passes.quantize import calibrate_and_quantize
from hetflow.targets import get_preset


def _deconv(g: Graph, x: Value, m: int, k: int, stride: int | tuple[int, int], pad: int, rng: np.random.Generator,
            relu: bool = False, output_padding: tuple[int, int] = (0, 0)) -> Value:
    c = x.type.shape[1]
    w = int8(rng, (c, m, k, k))
    mult, shift = fixed_point(rng.uniform(0.5, 2.0, m) / (c * k * k * 30))
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    return g.add_node("conv_transpose_requant",
                      [x, g.constant(w, "w"), g.constant(rng.integers(-3000, 3000, m).astype(np.int32), "b"),
                       g.constant(mult.astype(np.int32), "m"), g.constant(shift.astype(np.int32), "s")],
                      {"strides": strides, "pads": (pad,) * 4, "dilations": (1, 1), "output_padding": output_padding,
                       "relu": relu}, name="deconv").outputs[0]


@pytest.mark.parametrize(("c", "m", "k", "stride", "pad", "hw"), [
    (8, 5, 4, 2, 1, (5, 6)),    # the usual 4x4 stride-2 upsampler
    (3, 7, 3, 2, 0, (6, 7)),    # kernel not a multiple of the stride: zero taps in the phases
    (16, 4, 5, 3, 2, (4, 5)),   # stride 3, 9 phases
    (70, 3, 2, 2, 0, (3, 3)),   # channels past the atoms
    (6, 6, 3, 1, 1, (7, 8)),    # stride 1: CONV alone, no RUBIK
])
def test_deconvolution_is_bit_exact(c, m, k, stride, pad, hw):
    rng = np.random.default_rng(c * k)
    g = Graph("deconv")
    x = g.add_input("x", "int8", (1, c, *hw))
    g.outputs = [_deconv(g, x, m, k, stride, pad, rng, relu=c == 8)]
    want, got, exe = run_both(g, {"x": int8(rng, (1, c, *hw))}, config())
    np.testing.assert_array_equal(got["deconv"], want["deconv"])
    assert np.unique(want["deconv"]).size > 20  # not a saturated or constant output
    engines = [op.engine for op in exe.loadable.ops]
    assert engines == (["CONV", "SDP", "RUBIK"] if stride > 1 else ["CONV", "SDP"])


def test_deconvolution_estimate_is_the_model_of_its_lowering():
    rng = np.random.default_rng(0)
    g = Graph("deconv")
    x = g.add_input("x", "int8", (1, 32, 14, 14))
    g.outputs = [_deconv(g, x, 16, 4, 2, 1, rng)]
    _, _, exe = run_both(g, {"x": int8(rng, (1, 32, 14, 14))}, config())
    description = get_preset("nvidia/nvdla-full")
    estimate = NvdlaBackend().estimate(g.nodes[0], description)
    assert estimate is not None and estimate.source == "model:nvdla-perf"
    assert estimate.seconds == pytest.approx(exe.perf.seconds)


@pytest.mark.parametrize("order", ["CRD", "DCR"])
def test_depth_to_space_is_a_rubik_contract(order):
    rng = np.random.default_rng(1)
    g = Graph("d2s")
    x = g.add_input("x", "int8", (2, 36, 3, 5))
    g.outputs = [g.add_node("depth_to_space", [x], {"blocksize": 3, "mode": order}, name="d2s").outputs[0]]
    want, got, exe = run_both(g, {"x": int8(rng, (2, 36, 3, 5))}, config())
    np.testing.assert_array_equal(got["d2s"], want["d2s"])
    assert [op.engine for op in exe.loadable.ops] == ["RUBIK"]


def test_float_deconvolution_quantizes_and_tracks_the_float_model():
    rng = np.random.default_rng(2)
    g = Graph("net")
    x = g.add_input("x", "float32", (1, 8, 6, 6))
    w = g.constant((rng.standard_normal((8, 4, 4, 4)) * 0.2).astype(np.float32), "w")
    b = g.constant(rng.standard_normal(4).astype(np.float32), "b")
    y = g.add_node("conv_transpose", [x, w, b], {"strides": (2, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1),
                                                 "output_padding": (0, 0)}, name="up").outputs[0]
    r = g.add_node("relu", [y], name="relu").outputs[0]
    g.outputs = [g.add_node("depth_to_space", [r], {"blocksize": 2, "mode": "CRD"}, name="d2s").outputs[0]]
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(4)]
    q, report = calibrate_and_quantize(g, samples)
    assert {"conv_transpose_requant", "depth_to_space"} <= {n.op for n in q.nodes}
    assert {"up", "relu", "d2s"} <= set(report.quantized_nodes)
    ref = ReferenceBackend()
    want, got = ref.compile(g).run(samples[0])["d2s"], ref.compile(q).run(samples[0])["d2s"]
    assert np.abs(got - want).max() <= 0.03 * np.abs(want).max()


def test_configuration_without_rubik_refuses_a_strided_deconvolution():
    rng = np.random.default_rng(3)
    g = Graph("deconv")
    x = g.add_input("x", "int8", (1, 8, 4, 4))
    g.outputs = [_deconv(g, x, 4, 4, 2, 1, rng)]
    with pytest.raises(NvdlaUnsupportedError, match=r"node 'deconv' \(conv_transpose_requant\).*nvdla-small has no RUBIK"):
        lower(g, config("nvidia/nvdla-small"))  # nv_small.spec: RUBIK_DISABLE
    g1 = Graph("deconv1")
    x1 = g1.add_input("x", "int8", (1, 8, 4, 4))
    g1.outputs = [_deconv(g1, x1, 4, 3, 1, 1, rng)]
    want, got, _ = run_both(g1, {"x": int8(rng, (1, 8, 4, 4))}, config("nvidia/nvdla-small"))  # stride 1: CONV only
    np.testing.assert_array_equal(got["deconv"], want["deconv"])


@pytest.mark.parametrize(("stride", "output_padding", "message"), [
    ((2, 1), (0, 0), r"strides \(2, 1\): the RUBIK contract moves square blocks"),
    (2, (1, 1), "dilation and output_padding are not lowered"),
    (9, (0, 0), r"stride \(9, 9\) exceeds 8"),
])
def test_deconvolution_out_of_range(stride, output_padding, message):
    rng = np.random.default_rng(4)
    g = Graph("deconv")
    x = g.add_input("x", "int8", (1, 4, 3, 3))
    g.outputs = [_deconv(g, x, 4, 4 if stride != 9 else 9, stride, 0, rng, output_padding=output_padding)]
    with pytest.raises(NvdlaUnsupportedError, match=message):
        lower(g, config())
