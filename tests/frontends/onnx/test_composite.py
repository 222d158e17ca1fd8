"""ONNX ops that hetflow decomposes (Attention, losses, quantization, recurrent layers, signal and image
ops) or maps onto the IR's ``extra`` ops, checked against onnxruntime on seeded inputs; against onnx's
reference evaluator where onnxruntime has no kernel for the op or opset.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import assert_close, check_node, node_model, run_hetflow, run_oracle

from hetflow.ir.errors import HetflowError

F32, F16 = np.float32, np.float16
TOL = {"rtol": 1e-4, "atol": 1e-5}


def rand(*shape, seed=0, dtype=F32, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def ints(*shape, lo, hi, seed=0, dtype=np.int64):
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(dtype)


# ------------------------------------------------------------------ attention


def qkv(b=2, hq=4, hkv=4, sq=3, skv=5, d=8, dv=8, seed=0, dtype=F32):
    return {"q": rand(b, hq, sq, d, seed=seed, dtype=dtype), "k": rand(b, hkv, skv, d, seed=seed + 1, dtype=dtype),
            "v": rand(b, hkv, skv, dv, seed=seed + 2, dtype=dtype)}


# The last entry is the oracle: onnxruntime refuses a mask shorter than the keys (the spec pads it).
ATTENTION_CASES = [
    ("plain", qkv(), {}, "ort"),
    ("gqa_causal_scaled", qkv(hq=4, hkv=2, sq=5), {"is_causal": 1, "scale": 0.3}, "ort"),
    ("float_mask_softcap", {**qkv(), "mask": rand(3, 5, seed=9)}, {"softcap": 2.0}, "ort"),
    ("bool_mask_short", {**qkv(), "mask": ints(2, 1, 3, 4, lo=0, hi=2, seed=3).astype(bool)}, {}, "reference"),
    ("causal_bool_mask", {**qkv(sq=4, skv=4), "mask": np.tril(np.ones((4, 4), bool), 1)}, {"is_causal": 1}, "ort"),
]


@pytest.mark.parametrize("name,inputs,attrs,oracle", ATTENTION_CASES, ids=[c[0] for c in ATTENTION_CASES])
def test_attention_4d(name, inputs, attrs, oracle):
    check_node("Attention", inputs, attrs, opset=23, oracle=oracle, **TOL)


def test_attention_3d_kv_cache_and_qk_output():
    b, s, past, hq, hkv, d = 2, 3, 4, 4, 2, 4
    inputs = {"q": rand(b, s, hq * d), "k": rand(b, s, hkv * d, seed=1), "v": rand(b, s, hkv * d, seed=2),
              "mask": rand(s, past + s, seed=3), "past_key": rand(b, hkv, past, d, seed=4),
              "past_value": rand(b, hkv, past, d, seed=5)}
    for mode in (0, 1, 2, 3):
        attrs = {"q_num_heads": hq, "kv_num_heads": hkv, "is_causal": 1, "softcap": 3.0, "qk_matmul_output_mode": mode}
        # Mode 2 shows the bias: onnxruntime writes -FLT_MAX where the spec (and hetflow) has -inf. The
        # reference evaluator softcaps mode 0 too, which the spec does not; onnxruntime follows the spec.
        check_node("Attention", inputs, attrs, opset=23, n_outputs=4, oracle="reference" if mode == 2 else "ort", **TOL)


def test_attention_fully_masked_row_is_zero():
    mask = np.ones((3, 5), bool)
    mask[1] = False
    y, _, _, probs = check_node("Attention", {**qkv(), "mask": mask}, {"qk_matmul_output_mode": 3}, opset=23,
                                n_outputs=4, **TOL)
    assert not np.isnan(y).any() and np.all(y[:, :, 1] == 0) and np.all(probs[:, :, 1] == 0)


def test_attention_external_cache_and_window():
    inputs = {**qkv(sq=2, skv=6), "mask": None, "past_key": None, "past_value": None,
              "nonpad": np.array([4, 6], np.int64)}
    check_node("Attention", inputs, {"is_causal": 1}, opset=24, **TOL)
    window = {"left_window_size": 2, "right_window_size": 1}
    check_node("Attention", qkv(sq=4, skv=6), window, opset=25, **TOL)


def test_attention_float16_follows_reference_rounding():
    # The conformance data rounds the softmax to float16 step by step; onnxruntime computes it in float32.
    check_node("Attention", qkv(dtype=F16, sq=4, skv=4), {"is_causal": 1}, opset=23, oracle="reference",
               rtol=1e-3, atol=1e-7)


def test_attention_3d_needs_head_counts():
    model = node_model("Attention", {"q": rand(1, 2, 8), "k": rand(1, 2, 8), "v": rand(1, 2, 8)}, opset=23)
    with pytest.raises(HetflowError, match="q_num_heads and kv_num_heads"):
        run_hetflow(model, {"q": rand(1, 2, 8), "k": rand(1, 2, 8), "v": rand(1, 2, 8)})


def test_flex_attention_inlines_score_and_prob_mods():
    bias = numpy_helper.from_array(rand(3, 5, seed=7), "bias")
    score_mod = helper.make_graph([helper.make_node("Add", ["scores", "bias"], ["out"])], "score_mod",
                                  [helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)],
                                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [bias])
    half = numpy_helper.from_array(np.array(0.5, F32), "half")
    prob_mod = helper.make_graph([helper.make_node("Mul", ["probs", "half"], ["out"])], "prob_mod",
                                 [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)],
                                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [half])
    inputs = qkv(hq=4, hkv=2)
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview",
                            score_mod=score_mod, prob_mod=prob_mod)
    graph = helper.make_graph([node], "flex", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape)
                                               for k, v in inputs.items()],
                              [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                    helper.make_opsetid("ai.onnx.preview", 1)])
    assert_close(run_hetflow(model, inputs)[0], run_oracle(model, inputs, "reference")[0], **TOL)


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("layout", ["4d_positions", "3d_rotary_dim"])
def test_rotary_embedding(interleaved, layout):
    if layout == "4d_positions":
        inputs = {"x": rand(2, 3, 4, 8), "cos": rand(10, 4, seed=1), "sin": rand(10, 4, seed=2),
                  "pos": ints(2, 4, lo=0, hi=10)}
        attrs = {"interleaved": interleaved}
    else:
        inputs = {"x": rand(2, 4, 3 * 8), "cos": rand(2, 4, 2, seed=1), "sin": rand(2, 4, 2, seed=2)}
        attrs = {"interleaved": interleaved, "num_heads": 3, "rotary_embedding_dim": 4}
    check_node("RotaryEmbedding", inputs, attrs, opset=23, **TOL)


def test_tensor_scatter_linear_and_circular():
    inputs = {"cache": rand(2, 3, 6, 4), "update": rand(2, 3, 2, 4, seed=1), "at": np.array([1, 5], np.int64)}
    check_node("TensorScatter", inputs, {"mode": "circular"}, opset=24)
    inputs["at"] = np.array([0, 4], np.int64)
    check_node("TensorScatter", inputs, {}, opset=24)


def test_linear_attention_gated_delta_with_groups():
    b, t, hq, hkv, dk, dv = 2, 3, 4, 2, 4, 3
    inputs = {"q": rand(b, t, hq * dk), "k": rand(b, t, hkv * dk, seed=1, scale=0.5),
              "v": rand(b, t, hkv * dv, seed=2), "state": rand(b, hkv, dk, dv, seed=3),
              "decay": -np.abs(rand(b, t, hkv * dk, seed=4)), "beta": np.abs(rand(b, t, hkv, seed=5))}
    check_node("LinearAttention", inputs, {"q_num_heads": hq, "kv_num_heads": hkv}, opset=27, n_outputs=2, **TOL)


@pytest.mark.parametrize("past", [False, True])
def test_causal_conv_with_state(past):
    inputs = {"x": rand(2, 3, 5), "w": rand(3, 1, 3, seed=1), "b": rand(3, seed=2),
              "state": rand(2, 3, 2, seed=3) if past else None}
    check_node("CausalConvWithState", inputs, {"activation": "silu"}, opset=27, n_outputs=2, **TOL)


# ------------------------------------------------------------------ normalization, losses, activations


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_normalization(axis):
    x = rand(2, 3, 4)
    scale = rand(*x.shape[axis % 3:], seed=1)
    check_node("RMSNormalization", {"x": x, "scale": scale}, {"axis": axis, "epsilon": 1e-3}, opset=23, **TOL)


@pytest.mark.parametrize("p,axis", [(2, -1), (1, 0), (2, 1)])
def test_lp_normalization(p, axis):
    check_node("LpNormalization", {"x": rand(3, 4, 5)}, {"p": p, "axis": axis}, opset=22, **TOL)


LOSS_CASES = [
    ("mean", (3, 5), False, None),
    ("sum", (3, 5, 2), True, None),
    ("none", (2, 4, 3, 2), False, 1),
    ("mean", (4, 5, 3), True, 2),
    ("mean", (3, 5), True, -1),
]


@pytest.mark.parametrize("reduction,shape,weighted,ignore", LOSS_CASES)
@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
def test_losses(op, reduction, shape, weighted, ignore):
    c = shape[1]
    target = ints(shape[0], *shape[2:], lo=0, hi=c, seed=1)
    if ignore is not None:
        target.reshape(-1)[::3] = ignore
    inputs = {"x": rand(*shape), "target": target, "w": rand(c, seed=2) ** 2 if weighted else None}
    attrs = {"reduction": reduction} | ({"ignore_index": ignore} if ignore is not None else {})
    n_outputs = 2 if op == "SoftmaxCrossEntropyLoss" else 1
    check_node(op, inputs, attrs, opset=13, n_outputs=n_outputs, **TOL)


def test_swish_and_swiglu():
    check_node("Swish", {"x": rand(3, 4)}, {"alpha": 1.5}, opset=24, **TOL)
    check_node("SwiGLU", {"a": rand(3, 4), "b": rand(3, 4, seed=1)}, {"alpha": 0.7}, opset=28, oracle="reference",  # no kernel
               **TOL)


# ------------------------------------------------------------------ quantization


QUANT_CASES = [
    ("per_tensor_u8", rand(3, 4, scale=3), np.array(0.05, F32), np.array(128, np.uint8), {}),
    ("per_tensor_i8", rand(3, 4, scale=3), np.array(0.02, F32), np.array(-3, np.int8), {}),
    ("per_axis", rand(2, 3, 4), np.array([0.01, 0.02, 0.05], F32), np.array([0, 10, -10], np.int8), {"axis": 1}),
    ("no_zero_point", rand(5, scale=2), np.array(0.01, F32), None, {}),
]


@pytest.mark.parametrize("name,x,scale,zp,attrs", QUANT_CASES, ids=[c[0] for c in QUANT_CASES])
def test_quantize_dequantize(name, x, scale, zp, attrs):
    q = check_node("QuantizeLinear", {"x": x, "s": scale, "zp": zp}, attrs, opset=19, const_inputs=["s", "zp"])[0]
    check_node("DequantizeLinear", {"q": q, "s": scale, "zp": zp}, attrs, opset=19, const_inputs=["s", "zp"])


def test_blocked_quantization():
    x, scale = rand(3, 8, scale=3), np.abs(rand(3, 3, seed=1)) / 10 + 0.01
    zp = ints(3, 3, lo=-5, hi=5, seed=2, dtype=np.int8)
    attrs = {"axis": 1, "block_size": 3}
    q = check_node("QuantizeLinear", {"x": x, "s": scale, "zp": zp}, attrs, opset=21)[0]
    check_node("DequantizeLinear", {"q": q, "s": scale, "zp": zp}, attrs, opset=21, **TOL)


def test_quantize_rejects_int4():
    model = node_model("QuantizeLinear", {"x": rand(4), "s": np.array(0.1, F32)}, {"output_dtype": TensorProto.INT4},
                       opset=21, const_inputs=["s"])
    with pytest.raises(HetflowError, match="INT4"):
        run_hetflow(model, {"x": rand(4)})


def test_dynamic_quantize_linear():
    check_node("DynamicQuantizeLinear", {"x": rand(4, 5, scale=4)}, opset=11, n_outputs=3)
    check_node("DynamicQuantizeLinear", {"x": np.abs(rand(6, seed=1)) + 1}, opset=11, n_outputs=3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_integer_matmul_and_conv(dtype):
    lo, hi = (0, 255) if dtype == np.uint8 else (-128, 127)
    a, b = ints(2, 3, 4, lo=lo, hi=hi, dtype=dtype), ints(4, 5, lo=lo, hi=hi, seed=1, dtype=dtype)
    zp = np.array(3, dtype)
    check_node("MatMulInteger", {"a": a, "b": b, "azp": zp, "bzp": zp}, opset=10)
    s = {"as": np.array(0.02, F32), "bs": np.array(0.03, F32), "ys": np.array(0.5, F32)}
    check_node("QLinearMatMul", {"a": a, "as": s["as"], "azp": zp, "b": b, "bs": s["bs"], "bzp": zp,
                                 "ys": s["ys"], "yzp": np.array(7, dtype)}, opset=10)
    x, w = ints(1, 2, 5, 5, lo=lo, hi=hi, seed=2, dtype=dtype), ints(3, 2, 3, 3, lo=lo, hi=hi, seed=3, dtype=dtype)
    check_node("ConvInteger", {"x": x, "w": w, "xzp": zp}, {"pads": [1, 1, 1, 1]}, opset=10)
    check_node("QLinearConv", {"x": x, "xs": s["as"], "xzp": zp, "w": w, "ws": np.array([0.01, 0.02, 0.03], F32),
                               "wzp": np.zeros(3, dtype), "ys": np.array(0.9, F32), "yzp": np.array(5, dtype),
                               "bias": ints(3, lo=-50, hi=50, dtype=np.int32)},
               {"strides": [2, 2]}, opset=10, const_inputs=["w", "ws", "wzp"])


# ------------------------------------------------------------------ recurrent layers


def rnn_inputs(gates, t=4, b=3, i=5, h=6, d=1, lens=None, peepholes=False, seed=0):
    inputs = {"x": rand(t, b, i, seed=seed), "w": rand(d, gates * h, i, seed=seed + 1, scale=0.5),
              "r": rand(d, gates * h, h, seed=seed + 2, scale=0.5), "b": rand(d, 2 * gates * h, seed=seed + 3),
              "lens": lens, "h0": rand(d, b, h, seed=seed + 4)}
    if gates == 4:
        inputs["c0"] = rand(d, b, h, seed=seed + 5)
        inputs["p"] = rand(d, 3 * h, seed=seed + 6) if peepholes else None
    return inputs


RECURRENT = {"RNN": 1, "GRU": 3, "LSTM": 4}


@pytest.mark.parametrize("op", RECURRENT)
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_layers_with_sequence_lengths(op, direction):
    d = 2 if direction == "bidirectional" else 1
    inputs = rnn_inputs(RECURRENT[op], d=d, lens=np.array([4, 2, 3], np.int32), peepholes=True)
    attrs = {"direction": direction, "hidden_size": 6} | ({"linear_before_reset": 1} if op == "GRU" else {})
    check_node(op, inputs, attrs, opset=14, n_outputs=3 if op == "LSTM" else 2, **TOL)


@pytest.mark.parametrize("op", RECURRENT)
def test_recurrent_layers_activations_and_clip(op):
    acts = {"RNN": ["Relu"], "GRU": ["HardSigmoid", "Softsign"], "LSTM": ["Sigmoid", "Tanh", "Relu"]}[op]
    attrs = {"hidden_size": 6, "activations": acts, "clip": 2.5}
    check_node(op, rnn_inputs(RECURRENT[op]), attrs, opset=14, n_outputs=3 if op == "LSTM" else 2, **TOL)


@pytest.mark.parametrize("op", RECURRENT)
def test_recurrent_layers_batch_major(op):
    inputs = rnn_inputs(RECURRENT[op])
    for name in ("x", "h0", "c0"):
        if name in inputs:
            inputs[name] = np.ascontiguousarray(inputs[name].transpose(1, 0, 2))
    # onnxruntime has no batch-major (layout=1) recurrent kernels.
    check_node(op, inputs, {"layout": 1, "hidden_size": 6}, opset=14, n_outputs=3 if op == "LSTM" else 2,
               oracle="reference", **TOL)


# ------------------------------------------------------------------ signal processing


@pytest.mark.parametrize("attrs,parts,length", [({}, 2, None), ({"onesided": 1}, 1, None), ({"inverse": 1}, 2, 6),
                                                ({"inverse": 1, "onesided": 1}, 2, 8)])
def test_dft(attrs, parts, length):
    inputs = {"x": rand(2, 5, 3, parts), "n": None if length is None else np.array(length, np.int64),
              "axis": np.array(1, np.int64)}
    check_node("DFT", inputs, attrs, opset=20, const_inputs=["n", "axis"], **TOL)


def test_stft_and_windows():
    window = check_node("HannWindow", {"size": np.array(8, np.int64)}, {}, opset=17, const_inputs=["size"])[0]
    check_node("HammingWindow", {"size": np.array(7, np.int64)}, {"periodic": 0}, opset=17, const_inputs=["size"])
    check_node("BlackmanWindow", {"size": np.array(9, np.int64)}, {}, opset=17, const_inputs=["size"], **TOL)
    inputs = {"signal": rand(2, 30, 1), "step": np.array(4, np.int64), "window": window}
    check_node("STFT", inputs, {}, opset=17, const_inputs=["step", "window"], **TOL)


def test_mel_weight_matrix():
    inputs = {"bins": np.array(8, np.int64), "n": np.array(64, np.int64), "rate": np.array(8000, np.int64),
              "lo": np.array(100.0, F32), "hi": np.array(3500.0, F32)}
    check_node("MelWeightMatrix", inputs, {}, opset=17, const_inputs=list(inputs))


# ------------------------------------------------------------------ image geometry and detection


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample(mode, padding_mode, align_corners):
    inputs = {"x": rand(2, 3, 5, 6), "grid": rand(2, 4, 3, 2, seed=1, scale=0.8)}
    attrs = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    # Cubic taps at the border: onnxruntime clamps each tap, the ONNX reference (and conformance data)
    # clamps the sample point first; hetflow follows the reference.
    oracle = "reference" if (mode, padding_mode) == ("cubic", "border") else "ort"
    check_node("GridSample", inputs, attrs, opset=20, oracle=oracle, **TOL)


def test_grid_sample_volumetric_and_affine_grid():
    check_node("GridSample", {"x": rand(1, 2, 3, 4, 5), "grid": rand(1, 2, 3, 4, 3, seed=1)}, {"mode": "linear"},
               opset=20, **TOL)
    for size, theta in (([2, 3, 4, 5], rand(2, 2, 3)), ([1, 1, 3, 4, 5], rand(1, 3, 4))):
        for align in (0, 1):
            check_node("AffineGrid", {"theta": theta, "size": np.array(size, np.int64)}, {"align_corners": align},
                       opset=20, const_inputs=["size"], **TOL)


def test_col2im():
    inputs = {"x": rand(2, 2 * 2 * 3, 9), "image": np.array([5, 6], np.int64), "block": np.array([2, 3], np.int64)}
    check_node("Col2Im", inputs, {"strides": [2, 1], "pads": [1, 0, 0, 1], "dilations": [1, 2]}, opset=18,
               const_inputs=["image", "block"], **TOL)


def test_center_crop_pad():
    inputs = {"x": rand(5, 4, 3), "shape": np.array([3, 7], np.int64)}
    check_node("CenterCropPad", inputs, {"axes": [0, -2]}, opset=18, const_inputs=["shape"])


def test_max_unpool():
    x = rand(1, 2, 4, 4)
    _, indices = check_node("MaxPool", {"x": x}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=12, n_outputs=2)
    pooled = x.reshape(-1)[indices]
    check_node("MaxUnpool", {"x": pooled, "i": indices}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=11)
    # A larger output_shape: the ONNX reference pads the unpooled tensor at the end (so the conformance data);
    # onnxruntime reads the indices as positions in the larger output.
    check_node("MaxUnpool", {"x": pooled, "i": indices, "shape": np.array([1, 2, 5, 5], np.int64)},
               {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=11, const_inputs=["shape"], oracle="reference")


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_non_max_suppression(center_point_box):
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 10, (2, 12, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(1, 4, (2, 12, 2))], axis=-1).astype(F32)
    inputs = {"boxes": boxes, "scores": rng.uniform(0, 1, (2, 3, 12)).astype(F32),
              "limit": np.array([4], np.int64), "iou": np.array([0.3], F32), "score": np.array([0.2], F32)}
    check_node("NonMaxSuppression", inputs, {"center_point_box": center_point_box}, opset=11,
               const_inputs=["limit", "iou", "score"])


def test_cumprod_bitcast_det():
    x = rand(3, 4) + 1
    for attrs in ({}, {"exclusive": 1}, {"reverse": 1}, {"exclusive": 1, "reverse": 1}):
        check_node("CumProd", {"x": x, "axis": np.array(1, np.int64)}, attrs, opset=26, const_inputs=["axis"], **TOL)
    check_node("BitCast", {"x": rand(2, 3)}, {"to": TensorProto.INT32}, opset=26)
    check_node("BitCast", {"x": np.array(1.5, np.float64)}, {"to": TensorProto.UINT64}, opset=26)
    check_node("Det", {"x": rand(2, 3, 3)}, opset=11, **TOL)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("ctm,sampling", [("half_pixel", 0), ("output_half_pixel", 2)])
def test_roi_align(mode, ctm, sampling):
    inputs = {"x": rand(2, 3, 8, 9), "rois": np.array([[0.5, 1.0, 6.2, 7.1], [2, 2, 4, 3], [-1, 0, 3, 9.5]], F32),
              "batch": np.array([0, 1, 1], np.int64)}
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "output_height": 3, "output_width": 2,
             "sampling_ratio": sampling, "spatial_scale": 0.9}
    check_node("RoiAlign", inputs, attrs, opset=16, **TOL)


@pytest.mark.parametrize("offset_group,group,with_mask", [(1, 1, False), (2, 2, True)])
def test_deform_conv(offset_group, group, with_mask):
    n, c, oc, k = 2, 4, 6, (3, 3)
    inputs = {"x": rand(n, c, 6, 7), "w": rand(oc, c // group, *k, seed=1), "offset": rand(n, 2 * offset_group * 9, 4, 7,
                                                                                          seed=2),
              "b": rand(oc, seed=3), "mask": np.abs(rand(n, offset_group * 9, 4, 7, seed=4)) if with_mask else None}
    attrs = {"pads": [0, 1, 0, 1], "strides": [1, 1], "offset_group": offset_group, "group": group}
    check_node("DeformConv", inputs, attrs, opset=19, **TOL)


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
def test_tfidf_vectorizer(mode):
    x = np.array([[1, 1, 3, 3, 3, 7, 8, 6], [2, 3, 5, 4, 5, 6, 7, 8]], np.int64)
    attrs = {"mode": mode, "min_gram_length": 1, "max_gram_length": 2, "max_skip_count": 2, "ngram_counts": [0, 4],
             "ngram_indexes": [0, 1, 2, 3, 4, 5, 6], "pool_int64s": [2, 3, 5, 4, 5, 6, 7, 8, 6, 7],
             "weights": [0.5, 1, 2, 1.5, 1, 3, 0.25]}
    check_node("TfIdfVectorizer", {"x": x}, attrs, opset=9)
