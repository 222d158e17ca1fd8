"""int8 quantization in the IR: op semantics and rounding, scale choice, the float -> int8 rewrite."""

from __future__ import annotations

import numpy as np
import pytest
from models.small_cnn import samples as _samples
from models.small_cnn import small_cnn

import hetflow as hf
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.ops.quant import conv_integer, dequantize_linear, fixed_point, qadd, quantize_linear, requantize
from hetflow.passes.calibrate import collect_statistics
from hetflow.passes.quantize import QuantizationError, calibrate_and_quantize, quantize
from hetflow.passes.scales import ScaleChoice, estimated_error


# ------------------------------------------------------------------ op semantics
def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1000.0, -1000.0], np.float32)
    q = quantize_linear(x, np.float32(1.0), None, axis=1, dtype="int8")
    assert q.dtype == np.int8 and q.tolist() == [0, 2, 2, 0, -2, 127, -128]
    assert quantize_linear(x, np.float32(1.0), np.uint8(128), axis=1, dtype="uint8").tolist()[:2] == [128, 130]


def test_dequantize_per_channel_along_the_axis():
    q = np.arange(-6, 6, dtype=np.int8).reshape(1, 3, 2, 2)
    y = dequantize_linear(q, np.array([1, 2, 4], np.float32), None, axis=1)
    np.testing.assert_array_equal(y, q.astype(np.float32) * np.array([1, 2, 4], np.float32).reshape(1, 3, 1, 1))


def test_conv_integer_accumulates_exactly_in_int32():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 300, 4, 4)).astype(np.int8)  # 300 x 9 products of up to 2**14 each
    w = rng.integers(-128, 128, (2, 300, 3, 3)).astype(np.int8)
    acc = conv_integer(x, w, strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1)
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((1, 2, 4, 4), np.int64)
    for i in range(4):
        for j in range(4):
            want[0, :, i, j] = np.einsum("kcrs,crs->k", w.astype(np.int64), xp[0, :, i:i + 3, j:j + 3])
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc, want)


def test_requantize_rounds_half_up_with_bias_relu_and_saturation():
    acc = np.array([1, 2, 3, -1, -3, -5, 1000], np.int32).reshape(1, 7)
    y = requantize(acc, None, np.array(1), np.array(1), axis=1, zero_point=0, relu=False, dtype="int8")
    assert y.tolist() == [[1, 1, 2, 0, -1, -2, 127]]  # (v + 1) >> 1: halves go up, towards +inf
    y = requantize(acc, np.array(1, np.int32), np.array(3), np.array(2), axis=1, zero_point=0, relu=True, dtype="int8")
    assert y.tolist() == [[2, 2, 3, 0, 0, 0, 127]]  # ((v + 1) * 3 + 2) >> 2, clamped at zero


def test_qadd_rescales_both_operands_to_one_output_scale():
    a = np.array([10, -20, 100, 127], np.int8)
    b = np.array([4, 4, 100, 127], np.int8)
    y = qadd(a, b, a_zero_point=0, b_zero_point=0, a_multiplier=3, b_multiplier=2, shift=2, zero_point=0,
             relu=False, dtype="int8")
    assert y.tolist() == [(30 + 8 + 2) >> 2, (-60 + 8 + 2) >> 2, (300 + 200 + 2) >> 2, 127]  # the last saturates


def test_fixed_point_multipliers_are_16_bit_and_close():
    reals = np.geomspace(1e-7, 30, 200)
    mult, shift = fixed_point(reals)
    assert np.all(np.abs(mult) < 2 ** 15) and np.all(shift >= 0)
    np.testing.assert_allclose(mult / 2.0 ** shift, reals, rtol=2 ** -14)


# ------------------------------------------------------------------ scale choice
def _stats(values: np.ndarray):
    g = Graph("id")
    x = g.add_input("x", "float32", values.shape)
    g.outputs = [g.add_node("identity", [x], name="y").outputs[0]]
    return collect_statistics(g, [{"x": values}])["y"]


def test_scale_methods_order_on_a_long_tail():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.standard_normal(100_000), [40.0, -55.0]]).astype(np.float32)
    stats = _stats(values)
    minmax, pct, ent = (ScaleChoice(m).threshold(stats) for m in ("minmax", "percentile", "entropy"))
    assert minmax == pytest.approx(55.0)
    assert pct < 10 and ent < 20  # both clip the two outliers away
    assert ScaleChoice("minmax").scale(stats) == pytest.approx(55.0 / 127)
    # without the outliers, a clipped scale is the better trade: rounding noise dominates at min/max
    body = _stats(values[:-2])
    assert estimated_error(body, ScaleChoice("percentile").scale(body)) < estimated_error(body, 55.0 / 127)


def test_unknown_method_is_one_line():
    with pytest.raises(HetflowError, match="unknown calibration method 'kl'"):
        ScaleChoice("kl")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the rewrite
@pytest.mark.parametrize("method,tolerance", [("minmax", 0.1), ("percentile", 0.1), ("entropy", 0.25)])
def test_rewrite_tracks_the_float_model(method, tolerance):
    """Entropy clips hardest; on four 16x16 calibration images its histograms are thin, so it is looser here."""
    g = small_cnn()
    q, report = calibrate_and_quantize(g, _samples(4, 0), ScaleChoice(method))
    ops = [n.op for n in q.nodes]
    assert {"conv_requant", "qadd", "matmul_requant", "concat", "max_pool"} <= set(ops)
    assert "batch_norm" not in ops and "relu" not in ops  # absorbed into the rescale
    assert [v.name for v in q.outputs] == ["logits"]
    assert {"c1", "bn1", "r1", "res", "r2", "fc", "logits", "cat"} <= set(report.quantized_nodes)
    assert "reduce_mean" not in {r.op for r in report.records} and 0 < report.max_error < 0.5
    ref, got = ReferenceBackend().compile(g), ReferenceBackend().compile(q)
    for feed in _samples(3, 9):
        want, out = ref.run(feed)["logits"], got.run(feed)["logits"]
        assert np.abs(out - want).max() < tolerance * np.abs(want).max()


def test_concat_operands_share_one_scale():
    q, _ = calibrate_and_quantize(small_cnn(), _samples(2, 0))
    cat = next(n for n in q.nodes if n.op == "concat")
    scales = {tuple(p.inputs[3].const.tolist()) == tuple(p.inputs[3].const.tolist()) for p in
              (v.producer for v in cat.inputs)}
    assert scales == {True}
    reals = [p.inputs[3].const / 2.0 ** p.inputs[4].const for p in (v.producer for v in cat.inputs)]
    assert all(r.size for r in reals)


def test_missing_statistics_and_bad_calibration_data_are_one_line():
    g = small_cnn()
    with pytest.raises(QuantizationError, match="no calibration statistics for tensor"):
        quantize(g, {})
    with pytest.raises(InputError, match="x"):
        collect_statistics(g, [{"x": np.zeros((1, 3, 8, 8), np.float32)}])
    with pytest.raises(HetflowError, match="needs calibration samples"):
        hf.compile(g, "edge-soc", precision="int8")
    with pytest.raises(HetflowError, match="precision must be one of"):
        hf.compile(g, precision="int4")


def test_a_concat_operand_already_read_in_int8_keeps_its_scale():
    """e1 also feeds a residual sum before the concat: it cannot be requantized to the concat's scale, so the
    concat stays in float rather than reading e1 at the wrong scale."""
    rng = np.random.default_rng(0)
    g = Graph("shared")
    x = g.add_input("x", "float32", (1, 4, 6, 6))

    def conv(v, name):
        w = g.constant(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), f"{name}_w")
        return g.add_node("conv", [v, w], {"strides": (1, 1), "pads": (0,) * 4, "dilations": (1, 1)},
                          name=name).outputs[0]

    e1, e2 = conv(x, "e1"), conv(x, "e2")
    s = g.add_node("add", [e1, e2], name="sum").outputs[0]
    cat = g.add_node("concat", [e1, e2], {"axis": 1}, name="cat").outputs[0]
    g.outputs = [s, cat]
    feeds = [{"x": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)} for _ in range(3)]
    q, report = calibrate_and_quantize(g, feeds)
    assert "cat" in report.kept_float and "sum" in report.quantized_nodes
    want, got = ReferenceBackend().compile(g).run(feeds[0]), ReferenceBackend().compile(q).run(feeds[0])
    for name in ("sum", "cat"):
        assert np.abs(got[name] - want[name]).max() < 0.05 * np.abs(want[name]).max()


def test_dense_relus_and_flatten_stay_in_int8():
    """A LeNet's tail: flatten -> matmul + bias + ReLU -> matmul. The ReLU becomes the requantization's clamp and the
    flatten an int8 reshape, so no dequantize -> float op -> quantize boundary interrupts the int8 chain."""
    rng = np.random.default_rng(0)
    g = Graph("tail")
    x = g.add_input("x", "float32", (1, 4, 3, 3))
    w = g.constant(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "w")
    c = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}, name="c").outputs[0]
    f = g.add_node("reshape", [c], {"shape": (1, 72)}, name="flat").outputs[0]
    h = g.add_node("matmul", [f, g.constant(rng.standard_normal((72, 16)).astype(np.float32), "w1")], name="fc1").outputs[0]
    h = g.add_node("add", [h, g.constant(rng.standard_normal(16).astype(np.float32), "b1")], name="b1").outputs[0]
    h = g.add_node("relu", [h], name="r1").outputs[0]
    g.outputs = [g.add_node("matmul", [h, g.constant(rng.standard_normal((16, 5)).astype(np.float32), "w2")],
                            name="fc2").outputs[0]]
    feeds = [{"x": rng.standard_normal((1, 4, 3, 3)).astype(np.float32)} for _ in range(4)]
    q, report = calibrate_and_quantize(g, feeds)
    ops = [n.op for n in q.nodes]
    assert ops == ["quantize_linear", "conv_requant", "reshape", "matmul_requant", "matmul_requant", "dequantize_linear"]
    assert next(n for n in q.nodes if n.name == "fc1/int8").attrs["relu"] is True
    assert {"flat", "fc1", "b1", "r1"} <= set(report.quantized_nodes)
    want, got = ReferenceBackend().compile(g).run(feeds[0]), ReferenceBackend().compile(q).run(feeds[0])
    name = g.outputs[0].name
    assert np.abs(got[name] - want[name]).max() < 0.05 * np.abs(want[name]).max()
