"""ONNX reductions, ArgMax/ArgMin and CumSum through hetflow, checked against onnxruntime on seeded inputs.

Reductions are checked in both forms: axes as an attribute (ReduceSum before opset 13, the others
before 18) and axes as a constant input (with ``noop_with_empty_axes``).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_check import check_node, node_model, run_hetflow

from hetflow.frontends.context import NeedsConstant

F32, F64, I32, I64 = np.float32, np.float64, np.int32, np.int64


def rand(shape, dtype=F32, seed=0, lo=-3.0, hi=3.0):
    rng = np.random.default_rng(seed)
    values = np.asarray(rng.uniform(lo, hi, shape))
    return np.asarray(np.round(values).astype(dtype)) if np.dtype(dtype).kind in "iu" else values.astype(dtype)


# op -> (the opset where axes became an input, dtypes, input range)
REDUCTIONS = {
    "ReduceSum": (13, (F32, I32, I64), (-3, 3)),
    "ReduceMean": (18, (F32, F64, I32), (-3, 3)),
    "ReduceMax": (18, (F32, I32, I64, np.int8, np.uint8), (-3, 3)),
    "ReduceMin": (18, (F32, I64, np.uint8), (-3, 3)),
    "ReduceProd": (18, (F32, I32, I64), (0.5, 1.5)),
    "ReduceL1": (18, (F32, I64), (-3, 3)),
    "ReduceL2": (18, (F32, F64), (-3, 3)),
    "ReduceSumSquare": (18, (F32, I32), (-3, 3)),
    "ReduceLogSum": (18, (F32,), (0.1, 3)),
    "ReduceLogSumExp": (18, (F32, F64), (-30, 60)),
}
AXES = [None, [1], [-1], [0, 2], [2, -3], [0, 1, 2]]


@pytest.mark.parametrize("op", REDUCTIONS)
def test_reduction(op):
    since, dtypes, (lo, hi) = REDUCTIONS[op]
    for i, dtype in enumerate(dtypes):
        x = rand((2, 3, 4), dtype, seed=i, lo=0 if np.dtype(dtype).kind == "u" else lo, hi=hi)
        tol = {"rtol": 1e-5, "atol": 1e-5}
        for j, axes in enumerate(AXES):
            keepdims = (i + j) % 2
            attrs = {"keepdims": keepdims} if j % 3 else {}  # sometimes the spec default (1)
            # attribute form
            check_node(op, {"x": x}, {**attrs, **({"axes": axes} if axes is not None else {})}, opset=since - 2, **tol)
            # input form: axes a constant input, or absent
            inputs = {"x": x, "axes": None if axes is None else np.array(axes, I64)}
            check_node(op, inputs, attrs, opset=since, const_inputs=["axes"], **tol)
        # empty axes: reduce everything, or (noop_with_empty_axes) nothing
        for noop in (0, 1):
            inputs = {"x": x, "axes": np.array([], I64)}
            check_node(op, inputs, {"noop_with_empty_axes": noop, "keepdims": 0}, opset=since, const_inputs=["axes"],
                       **tol)
            check_node(op, {"x": x}, {"noop_with_empty_axes": noop}, opset=since, **tol)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered in divide")
@pytest.mark.parametrize("op", REDUCTIONS)
def test_reduction_rank0_and_empty_set(op):
    since = REDUCTIONS[op][0]
    check_node(op, {"x": np.array(1.5, F32)}, {"keepdims": 0}, opset=since)
    # reducing a zero-size axis gives the reduction's identity (-inf for max, +inf for min, ...)
    empty = np.zeros((2, 0, 4), F32)
    for axes, keepdims in [([1], 1), ([1], 0), ([0, 1], 1)]:
        check_node(op, {"x": empty, "axes": np.array(axes, I64)}, {"keepdims": keepdims}, opset=since,
                   const_inputs=["axes"], oracle="reference")
    # reducing a non-empty axis of a zero-size tensor gives a zero-size result
    check_node(op, {"x": empty, "axes": np.array([2], I64)}, opset=since, const_inputs=["axes"], oracle="reference")


def test_reduce_max_min_bool_and_large_logsumexp():
    b = np.random.default_rng(0).random((3, 4)) < 0.3
    for op in ("ReduceMax", "ReduceMin"):
        check_node(op, {"x": b, "axes": np.array([1], I64)}, opset=20, const_inputs=["axes"], oracle="reference")
    big = np.array([[1000.0, 1000.0, -np.inf], [-np.inf, -np.inf, -np.inf]], F32)
    got = check_node("ReduceLogSumExp", {"x": big}, {"axes": [1], "keepdims": 0}, opset=13)[0]
    np.testing.assert_allclose(got, [1000.0 + np.log(2.0), -np.inf], rtol=1e-6)


def test_runtime_axes_need_a_constant():
    x = rand((2, 3))
    model = node_model("ReduceMean", {"x": x, "axes": np.array([1], I64)}, opset=18)
    with pytest.raises(NeedsConstant, match=r"node 'ReduceMean_0' \(ReduceMean\): the reduction axes must be a constant"):
        run_hetflow(model, {"x": x, "axes": np.array([1], I64)})


# ------------------------------------------------------------------ ArgMax / ArgMin
def test_argmax_argmin():
    ties = rand((3, 4, 5), I32, lo=-2, hi=2)  # few distinct values: many ties
    floats = rand((3, 4, 5), F32, seed=1)
    for op in ("ArgMax", "ArgMin"):
        for x in (ties, floats, ties.astype(I64)):
            for axis, keepdims in [(0, 1), (1, 0), (-1, 1), (-3, 0), (2, 0)]:
                attrs = {"axis": axis, "keepdims": keepdims}
                check_node(op, {"x": x}, attrs, opset=11)
                for last in (0, 1):
                    check_node(op, {"x": x}, {**attrs, "select_last_index": last}, opset=13)
        check_node(op, {"x": floats}, opset=13)  # default axis 0, keepdims 1


# ------------------------------------------------------------------ CumSum
def test_cumsum():
    for dtype in (F32, F64, I32, I64):
        x = rand((3, 4, 5), dtype, lo=-10, hi=10)
        for axis in (0, 1, -1, 2):
            for exclusive in (0, 1):
                for reverse in (0, 1):
                    axis_array = np.array(axis, I32 if axis % 2 else I64)
                    check_node("CumSum", {"x": x, "axis": axis_array}, {"exclusive": exclusive, "reverse": reverse},
                               opset=14 if reverse else 11, const_inputs=["axis"], rtol=1e-5, atol=1e-5)
    check_node("CumSum", {"x": rand((6,)), "axis": np.array([0], I64)}, opset=14, const_inputs=["axis"])
