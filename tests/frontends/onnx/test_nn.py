"""ONNX nn ops through hetflow's reference backend, checked against onnxruntime on seeded random inputs."""

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_check import check_node, run_hetflow

import hetflow as hf
from hetflow.ir.errors import HetflowError

CONV_TOL = {"rtol": 1e-4, "atol": 1e-5}


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ Conv

CONV_CASES = [
    # (x shape, w shape, attrs)
    ((1, 3, 11), (4, 3, 3), {}),
    ((2, 3, 12), (4, 3, 5), {"strides": [2], "pads": [2, 1], "dilations": [2]}),
    ((1, 4, 9, 9), (6, 4, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((2, 4, 10, 9), (8, 4, 3, 3), {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}),
    ((1, 4, 8, 8), (8, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    ((2, 6, 8, 8), (6, 1, 3, 3), {"group": 6, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 6, 9, 9), (12, 1, 3, 3), {"group": 6, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise x2
    ((1, 4, 9, 9), (8, 1, 3, 3), {"group": 4, "dilations": [2, 2]}),
    ((1, 8, 7, 7), (12, 8, 1, 1), {}),  # 1x1 stride 1: no im2col
    ((2, 8, 7, 7), (12, 8, 1, 1), {"strides": [2, 2]}),
    ((1, 12, 6, 6), (16, 3, 1, 1), {"group": 4}),  # ShuffleNet's grouped pointwise
    ((1, 3, 224, 224)[:2] + (32, 32), (16, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}),
    ((1, 3, 12, 12), (5, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 11, 12), (5, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    ((1, 3, 11, 12), (5, 3, 2, 3), {"auto_pad": "VALID", "strides": [2, 1]}),
    ((1, 2, 5, 6, 7), (4, 2, 3, 3, 3), {"pads": [1, 0, 1, 1, 1, 0]}),
    ((2, 4, 6, 6, 6), (4, 2, 2, 3, 2), {"group": 2, "strides": [2, 1, 2], "dilations": [1, 2, 1]}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,attrs", CONV_CASES)
def test_conv(xs, ws, attrs, bias):
    inputs = {"x": rand(*xs, seed=1), "w": rand(*ws, seed=2), "b": rand(ws[0], seed=3) if bias else None}
    check_node("Conv", inputs, attrs, const_inputs=["w"], **CONV_TOL)


def test_conv_same_padding_with_dilation():
    # onnxruntime refuses dilation with SAME padding; onnx's reference evaluator is the oracle here.
    inputs = {"x": rand(1, 3, 11, 12), "w": rand(5, 3, 3, 3, seed=1)}
    check_node("Conv", inputs, {"auto_pad": "SAME_UPPER", "dilations": [2, 2]}, oracle="onnx", **CONV_TOL)


def test_conv_kernel_shape_attribute_and_opset_7():
    inputs = {"x": rand(1, 3, 8, 8), "w": rand(4, 3, 3, 2, seed=1)}
    check_node("Conv", inputs, {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1]}, opset=7, **CONV_TOL)


def test_conv_weight_as_runtime_input():
    check_node("Conv", {"x": rand(1, 3, 8, 8), "w": rand(4, 3, 3, 3, seed=1)}, {"strides": [2, 2]}, **CONV_TOL)


def test_conv_float64():
    check_node("Conv", {"x": rand(1, 2, 6, 6, dtype=np.float64), "w": rand(3, 2, 3, 3, seed=1, dtype=np.float64)},
               {"pads": [1, 1, 1, 1]}, oracle="onnx", rtol=1e-10, atol=1e-12)  # onnxruntime has no double Conv


def test_conv_kernel_shape_disagreeing_with_weight_is_an_error():
    model = _model("Conv", {"x": rand(1, 3, 8, 8)}, {"kernel_shape": [2, 2]}, consts={"w": rand(4, 3, 3, 3)})
    with pytest.raises(HetflowError, match="kernel_shape"):
        hf.load(model)


def test_conv_same_padding_on_symbolic_spatial_dims_is_an_error():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, "H", "W"])
    model = _graph_model([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER")], [x],
                         {"w": rand(4, 3, 3, 3)})
    with pytest.raises(HetflowError, match="static spatial dims"):
        hf.load(model)


def test_conv_with_symbolic_batch_runs_any_batch():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])
    model = _graph_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [x],
                         {"w": rand(4, 3, 3, 3, seed=1)})
    graph = hf.load(model)
    assert graph.outputs[0].type.shape == ("N", 4, 8, 8)
    for n in (1, 3):
        feeds = {"x": rand(n, 3, 8, 8, seed=n)}
        _close(run_hetflow(model, feeds)[0], _ort(model, feeds)[0], **CONV_TOL)


# ------------------------------------------------------------------ ConvTranspose

CONV_T_CASES = [
    ((1, 3, 7), (3, 2, 3), {}),
    ((2, 4, 5), (4, 3, 4), {"strides": [3], "pads": [1, 2], "output_padding": [1]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 1], "output_padding": [1, 0]}),
    ((2, 4, 5, 6), (4, 2, 3, 2), {"group": 2, "strides": [2, 3], "dilations": [2, 1]}),
    ((1, 4, 6, 6), (4, 1, 3, 3), {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [10, 9]}),  # grow one row, crop 2 cols
    ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2], "pads": [0, 1, 0, 0, 1, 1]}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,attrs", CONV_T_CASES)
def test_conv_transpose(xs, ws, attrs, bias):
    m = ws[1] * attrs.get("group", 1)
    inputs = {"x": rand(*xs, seed=1), "w": rand(*ws, seed=2), "b": rand(m, seed=3) if bias else None}
    check_node("ConvTranspose", inputs, attrs, const_inputs=["w"], **CONV_TOL)


# onnxruntime departs from the ONNX spec when output_shape leaves an odd padding total or auto_pad
# is SAME without output_shape; onnx's reference evaluator (which generates the conformance
# suite's expected outputs) is the oracle for those.
CONV_T_SPEC_CASES = [
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [9, 10], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "output_shape": [8, 8], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 4, 5), (2, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 4, 5), (2, 3, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 4, 5), (2, 3, 4, 3), {"strides": [3, 2], "dilations": [1, 2], "auto_pad": "SAME_UPPER"}),
]


@pytest.mark.parametrize("xs,ws,attrs", CONV_T_SPEC_CASES)
def test_conv_transpose_output_shape_and_auto_pad_follow_the_spec(xs, ws, attrs):
    inputs = {"x": rand(*xs, seed=1), "w": rand(*ws, seed=2), "b": rand(ws[1], seed=3)}
    check_node("ConvTranspose", inputs, attrs, const_inputs=["w"], oracle="onnx", **CONV_TOL)


@pytest.mark.parametrize("output_shape,pads", [([8, 8], [1, 2, 0, 1]), ([7, 10], [1, 1, 1, 0])])
def test_conv_transpose_output_shape_means_spec_pads(output_shape, pads):
    # Without auto_pad an odd total puts the extra pad first (onnx's reference evaluator cannot run this
    # case, onnxruntime splits it the other way): the same node with those pads written out is the oracle.
    x, w = rand(1, 2, 4, 5, seed=1), rand(2, 3, 3, 3, seed=2)
    implicit = _model("ConvTranspose", {"x": x}, {"strides": [2, 2], "output_shape": output_shape}, consts={"w": w})
    explicit = _model("ConvTranspose", {"x": x}, {"strides": [2, 2], "pads": pads}, consts={"w": w})
    got = run_hetflow(implicit, {"x": x})[0]
    assert list(got.shape[2:]) == output_shape
    _close(got, _ort(explicit, {"x": x})[0], **CONV_TOL)


def test_conv_transpose_output_shape_beyond_the_full_result_adds_zeros():
    # onnx's test_convtranspose_output_shape: a 9x7 result asked for as 10x8 gains a zero last row and column.
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 2, 3, 3), np.float32)
    for attrs in ({"output_shape": [10, 8]}, {"output_padding": [1, 1]}, {"output_shape": [10, 8], "output_padding": [1, 1]}):
        model = _model("ConvTranspose", {"x": x}, {"strides": [3, 2], **attrs}, consts={"w": w})
        y = run_hetflow(model, {"x": x})[0]
        assert y.shape == (1, 2, 10, 8)
        np.testing.assert_array_equal(y[0, 0, 3], [3, 3, 7, 4, 9, 5, 5, 0])
        np.testing.assert_array_equal(y[0, 1, 9], np.zeros(8))


def test_conv_transpose_autopad_same_conformance_case():
    # The expected output of onnx's test_convtranspose_autopad_same, written out.
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 2, 3, 3), np.float32)
    model = _model("ConvTranspose", {"x": x}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, consts={"w": w})
    y = run_hetflow(model, {"x": x})[0]
    np.testing.assert_array_equal(y[0, 1, 0], [0, 0, 1, 1, 3, 2])
    np.testing.assert_array_equal(y[0, 0, :, 2], [1, 1, 8, 7, 20, 13])


# ------------------------------------------------------------------ pooling

POOL_CASES = [
    ((2, 3, 11), {"kernel_shape": [3]}),
    ((2, 3, 11), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    ((2, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2]}),
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 10, 11), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 1, 0]}),
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "strides": [3, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ((1, 2, 13, 13), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 5, 5), {"kernel_shape": [3, 3], "strides": [3, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1}),  # drop a
    # last window that would start inside the end padding
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 10, 10), {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER", "strides": [1, 1]}),
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 2, 6, 7, 8), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1], "pads": [1, 0, 1, 0, 1, 0]}),
]


@pytest.mark.parametrize("xs,attrs", POOL_CASES)
def test_max_pool(xs, attrs):
    check_node("MaxPool", {"x": rand(*xs)}, attrs)


@pytest.mark.parametrize("xs,attrs", [
    ((1, 3, 12, 12), {"kernel_shape": [3, 3], "dilations": [2, 2]}),
    ((1, 3, 12, 12), {"kernel_shape": [2, 3], "dilations": [2, 1], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 3, 12, 12), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 1, 2, 1]}),
])
def test_max_pool_dilated(xs, attrs):
    check_node("MaxPool", {"x": rand(*xs)}, attrs)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("xs,attrs", [
    ((2, 3, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1, "dilations": [1, 2]}),
    ((2, 2, 7), {"kernel_shape": [3], "strides": [2]}),
])
def test_max_pool_indices(xs, attrs, storage_order):
    check_node("MaxPool", {"x": rand(*xs)}, {**attrs, "storage_order": storage_order}, n_outputs=2)


def test_max_pool_indices_pick_the_first_of_ties():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 5
    check_node("MaxPool", {"x": x}, {"kernel_shape": [2, 2], "strides": [1, 1]}, n_outputs=2)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_max_pool_integer(dtype):
    x = np.random.default_rng(0).integers(0 if dtype == np.uint8 else -100, 100, (1, 2, 7, 7)).astype(dtype)
    check_node("MaxPool", {"x": x}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]})


def test_max_pool_opset_7_mapping():
    check_node("MaxPool", {"x": rand(1, 3, 8, 8)}, {"kernel_shape": [2, 2], "strides": [2, 2]}, opset=7)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("xs,attrs", POOL_CASES)
def test_average_pool(xs, attrs, count_include_pad):
    check_node("AveragePool", {"x": rand(*xs)}, {**attrs, "count_include_pad": count_include_pad})


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_dilated_opset_19(count_include_pad):
    attrs = {"kernel_shape": [3, 2], "dilations": [2, 2], "pads": [1, 1, 2, 0], "strides": [2, 1],
             "count_include_pad": count_include_pad}
    check_node("AveragePool", {"x": rand(1, 3, 11, 10)}, attrs, opset=19)


def test_average_pool_opset_7_mapping():
    check_node("AveragePool", {"x": rand(1, 3, 8, 8)}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, opset=7)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("xs,attrs", [
    ((1, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2]}),
    ((1, 3, 9, 10), {"kernel_shape": [2, 3], "pads": [1, 0, 0, 1]}),
    ((2, 3, 9), {"kernel_shape": [2], "auto_pad": "SAME_UPPER"}),
])
def test_lp_pool(xs, attrs, p):
    check_node("LpPool", {"x": rand(*xs)}, {**attrs, "p": p}, rtol=1e-5, atol=1e-5)


def test_lp_pool_opset_18_ceil_and_dilation():
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "dilations": [1, 2], "p": 2}
    check_node("LpPool", {"x": rand(1, 2, 9, 9)}, attrs, opset=18, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("xs", [(2, 3, 7), (1, 4, 5, 6), (1, 2, 3, 4, 5)])
def test_global_pools(op, xs):
    check_node(op, {"x": rand(*xs)}, rtol=1e-5, atol=1e-6)


def test_global_lp_pool_p3():
    check_node("GlobalLpPool", {"x": rand(1, 4, 5, 6)}, {"p": 3}, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ normalization


def _bn_inputs(c, xs, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rand(*xs, seed=seed), "scale": rng.uniform(0.5, 1.5, c).astype(np.float32),
            "bias": rng.standard_normal(c).astype(np.float32), "mean": rng.standard_normal(c).astype(np.float32),
            "var": rng.uniform(0.5, 2.0, c).astype(np.float32)}


@pytest.mark.parametrize("opset", [7, 9, 15])
@pytest.mark.parametrize("xs", [(2, 3), (2, 3, 5), (1, 3, 4, 5), (1, 3, 2, 3, 4)])
def test_batch_normalization(xs, opset):
    check_node("BatchNormalization", _bn_inputs(3, xs), {"epsilon": 1e-3}, opset=opset, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xs", [(4, 3, 5), (2, 3, 4, 5)])
def test_batch_normalization_training_mode(xs):
    # onnxruntime's CPU kernel has no training mode; onnx's reference evaluator is the oracle.
    check_node("BatchNormalization", _bn_inputs(3, xs), {"training_mode": 1, "momentum": 0.8, "epsilon": 1e-2},
               opset=15, n_outputs=3, oracle="onnx", rtol=1e-4, atol=1e-5)


def test_batch_normalization_training_outputs_before_opset_14_are_an_error():
    model = _model("BatchNormalization", _bn_inputs(3, (1, 3, 4, 4)), opset=9, outputs=("y", "mean"))
    with pytest.raises(HetflowError, match="training"):
        hf.load(model)


@pytest.mark.parametrize("xs", [(2, 3, 7), (2, 3, 5, 4), (1, 2, 3, 4, 5)])
def test_instance_normalization(xs):
    inputs = {"x": rand(*xs), "scale": rand(xs[1], seed=1), "bias": rand(xs[1], seed=2)}
    check_node("InstanceNormalization", inputs, {"epsilon": 1e-4}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, -2, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_normalization(axis, bias):
    xs = (2, 3, 4, 5)
    norm_shape = xs[axis:]
    inputs = {"x": rand(*xs), "scale": rand(*norm_shape, seed=1), "bias": rand(*norm_shape, seed=2) if bias else None}
    # onnxruntime 1.32 crashes on a LayerNormalization whose bias is omitted: onnx's reference decides then.
    oracle = "ort" if bias else "onnx"
    check_node("LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-3}, oracle=oracle, rtol=1e-4, atol=1e-5)


def test_layer_normalization_mean_and_inv_std_outputs():
    inputs = {"x": rand(3, 4, 6), "scale": rand(6, seed=1), "bias": rand(6, seed=2)}
    got = check_node("LayerNormalization", inputs, {"axis": -1}, n_outputs=3, rtol=1e-4, atol=1e-5)
    assert got[1].shape == (3, 4, 1)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_normalization_opset_21(groups):
    inputs = {"x": rand(2, 4, 5, 3), "scale": rand(4, seed=1), "bias": rand(4, seed=2)}
    check_node("GroupNormalization", inputs, {"num_groups": groups, "epsilon": 1e-4}, opset=21, rtol=1e-4, atol=1e-5)


def test_group_normalization_opset_18_per_group_scale():
    inputs = {"x": rand(2, 6, 5), "scale": rand(3, seed=1), "bias": rand(3, seed=2)}
    check_node("GroupNormalization", inputs, {"num_groups": 3}, opset=18, oracle="onnx", rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    check_node("LRN", {"x": rand(2, 7, 5, 4)}, {"size": size, "alpha": 1e-2, "beta": 0.75, "bias": 2.0},
               rtol=1e-5, atol=1e-6)


def test_lrn_even_size_against_the_spec_formula():
    # onnxruntime accepts odd sizes only, and onnx's reference LRN loops over the batch, not channels.
    x = rand(2, 7, 3, 3)
    size, alpha, beta, bias = 4, 1e-2, 0.75, 2.0
    model = _model("LRN", {"x": x}, {"size": size, "alpha": alpha, "beta": beta, "bias": bias})
    want = np.empty_like(x)
    for c in range(7):
        lo, hi = max(0, c - (size - 1) // 2), min(7, c + -(-(size - 1) // 2) + 1)
        square_sum = (x[:, lo:hi] ** 2).sum(axis=1)
        want[:, c] = x[:, c] / (bias + alpha / size * square_sum) ** beta
    _close(run_hetflow(model, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


def test_mean_variance_normalization():
    check_node("MeanVarianceNormalization", {"x": rand(2, 3, 4, 5)}, rtol=1e-4, atol=1e-5)
    check_node("MeanVarianceNormalization", {"x": rand(2, 3, 4)}, {"axes": [1, 2]}, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ softmax family


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, 0), (11, 1), (11, 2), (11, -1), (13, 0), (13, 1), (13, -1)])
def test_softmax_family(op, opset, axis):
    check_node(op, {"x": rand(2, 3, 4) * 3}, {"axis": axis}, opset=opset, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
def test_softmax_family_default_axis(op):
    check_node(op, {"x": rand(2, 3, 4)}, opset=11, rtol=1e-5, atol=1e-6)
    check_node(op, {"x": rand(2, 3, 4)}, opset=13, rtol=1e-5, atol=1e-6)


def test_hardmax_ties_pick_the_first():
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.float32)
    check_node("Hardmax", {"x": x}, {"axis": 1}, opset=13)


# ------------------------------------------------------------------ matmul, gemm, einsum, dropout


@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)),
                                 ((3, 4), (4,))])
def test_matmul(a, b):
    check_node("MatMul", {"a": rand(*a), "b": rand(*b, seed=1)}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs,cs", [
    ({}, (5,)),
    ({"transA": 1}, (3, 5)),
    ({"transB": 1, "alpha": 0.5, "beta": 2.0}, (1, 5)),
    ({"transA": 1, "transB": 1, "beta": 0.0}, (5,)),
    ({"alpha": 3.0}, ()),
])
def test_gemm(attrs, cs):
    a = rand(4, 3) if attrs.get("transA") else rand(3, 4)
    b = rand(5, 4, seed=1) if attrs.get("transB") else rand(4, 5, seed=1)
    check_node("Gemm", {"a": a, "b": b, "c": rand(*cs, seed=2)}, attrs, const_inputs=["b"], rtol=1e-5, atol=1e-5)


def test_gemm_without_c_and_old_opsets():
    check_node("Gemm", {"a": rand(3, 4), "b": rand(5, 4, seed=1)}, {"transB": 1}, rtol=1e-5, atol=1e-5)
    check_node("Gemm", {"a": rand(3, 4), "b": rand(4, 5, seed=1), "c": rand(5, seed=2)}, {"beta": 0.5}, opset=9,
               rtol=1e-5, atol=1e-5)
    check_node("Gemm", {"a": rand(3, 4), "b": rand(4, 5, seed=1), "c": rand(3, 5, seed=2)}, {"broadcast": 0},
               opset=6, oracle="onnx", rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("i,j", [(3,), (4,)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
])
def test_einsum(equation, shapes):
    inputs = {f"x{i}": rand(*s, seed=i) for i, s in enumerate(shapes)}
    check_node("Einsum", inputs, {"equation": equation}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset,mask_dtype", [(7, np.float32), (10, np.bool_)])
def test_dropout_is_identity_with_mask(opset, mask_dtype):
    # The spec types the mask as the input's type before opset 10; onnxruntime answers an all-zero
    # mask at these opsets, though in inference every element is kept.
    x = rand(3, 4)
    y, mask = run_hetflow(_model("Dropout", {"x": x}, {"ratio": 0.3}, opset=opset, outputs=("y", "mask")), {"x": x})
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == mask_dtype and mask.shape == x.shape and np.all(mask)


def test_dropout_opset_13_with_inputs():
    inputs = {"x": rand(3, 4), "ratio": np.array(0.5, np.float32), "training_mode": np.array(False)}
    check_node("Dropout", inputs, opset=13, n_outputs=2, const_inputs=["ratio", "training_mode"])


def test_dropout_training_mode_is_an_error():
    inputs = {"x": rand(3, 4), "ratio": np.array(0.5, np.float32), "training_mode": np.array(True)}
    model = _model("Dropout", inputs, opset=13, const=["ratio", "training_mode"])
    with pytest.raises(HetflowError, match="training"):
        hf.load(model)


def test_dropout_mask_with_symbolic_shape():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])
    model = _graph_model([helper.make_node("Dropout", ["x"], ["y", "mask"])], [x], {}, outputs=["y", "mask"])
    feeds = {"x": np.array([[1, np.nan, 2, 3]], np.float32)}
    got = run_hetflow(model, feeds)
    np.testing.assert_array_equal(got[1], np.ones((1, 4), bool))
    np.testing.assert_array_equal(got[0], feeds["x"])


# ------------------------------------------------------------------ helpers


def _model(op, inputs, attrs=None, *, opset=17, consts=None, const=(), outputs=("y",)):
    """A one-node model; ``consts`` are extra initializers appended as inputs after ``inputs``."""
    names = list(inputs) + list(consts or {})
    node = helper.make_node(op, names, list(outputs), **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for k, v in inputs.items() if k not in const]
    inits = {**(consts or {}), **{k: inputs[k] for k in const}}
    return _graph_model([node], graph_inputs, inits, opset=opset, outputs=outputs)


def _graph_model(nodes, inputs, inits, *, outputs=("y",), opset=17):
    graph = helper.make_graph(nodes, "t", inputs, [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
                              [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _ort(model, feeds):
    from onnx_check import run_oracle

    return run_oracle(model, feeds)


def _close(got, want, rtol, atol):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
