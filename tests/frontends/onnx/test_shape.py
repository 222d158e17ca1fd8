"""ONNX data-movement and misc ops against onnxruntime: one table of cases, several shapes, axes and opsets."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx_check import assert_close, check_node, run_hetflow, run_oracle

import hetflow as hf
from hetflow.ir.errors import HetflowError

R = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return R.standard_normal(shape).astype(np.float32)


def i64(*values: Any) -> np.ndarray:
    """i64(1, 2) is a vector; i64([[...]]) keeps the nesting given."""
    return np.array(values[0] if len(values) == 1 and isinstance(values[0], list) else values, dtype=np.int64)


def case(op: str, inputs: dict, attrs: dict | None = None, *, opset: int = 17, const: tuple = (), outs: int = 1,
         oracle: str = "ort", id: str) -> Any:  # noqa: A002
    return pytest.param(op, inputs, attrs or {}, opset, const, outs, oracle, id=id)


X3 = f32(2, 3, 4)
X4 = f32(2, 8, 4, 6)
IMG = f32(1, 2, 4, 5)
SMALL = f32(1, 1, 3, 4)

CASES = [
    # ---- concat / squeeze / unsqueeze / flatten / transpose
    case("Concat", {"a": X3, "b": X3[:, :1]}, {"axis": 1}, id="concat-axis1"),
    case("Concat", {"a": X3, "b": X3[..., :2], "c": X3}, {"axis": -1}, id="concat-3-inputs-neg-axis"),
    case("Concat", {"a": X3, "b": X3}, {"axis": 0}, opset=9, id="concat-opset9"),
    case("Concat", {"a": i64(1, 2), "b": i64(3)}, {"axis": 0}, id="concat-int64-1d"),
    case("Unsqueeze", {"x": X3}, {"axes": [0, 3]}, opset=9, id="unsqueeze-v1"),
    case("Unsqueeze", {"x": X3}, {"axes": [-1, 0]}, opset=11, id="unsqueeze-v11-negative"),
    case("Unsqueeze", {"x": X3, "axes": i64(1, 4)}, opset=13, const=("axes",), id="unsqueeze-v13"),
    case("Unsqueeze", {"x": np.array(3.0, np.float32), "axes": i64(0)}, opset=13, const=("axes",), id="unsqueeze-scalar"),
    case("Squeeze", {"x": f32(2, 1, 1, 4)}, {"axes": [1, -2]}, opset=11, id="squeeze-v11"),
    case("Squeeze", {"x": f32(1, 3, 1)}, opset=11, id="squeeze-all"),
    case("Squeeze", {"x": f32(1, 3, 1), "axes": i64(0)}, opset=13, const=("axes",), id="squeeze-v13"),
    case("Flatten", {"x": X4}, id="flatten-default"),
    case("Flatten", {"x": X4}, {"axis": 0}, id="flatten-axis0"),
    case("Flatten", {"x": X4}, {"axis": 3}, id="flatten-axis3"),
    case("Flatten", {"x": X4}, {"axis": -1}, id="flatten-neg-axis"),
    case("Flatten", {"x": X4}, {"axis": 4}, id="flatten-axis-rank"),
    case("Transpose", {"x": X4}, id="transpose-default"),
    case("Transpose", {"x": X4}, {"perm": [0, 2, 3, 1]}, opset=9, id="transpose-nhwc"),
    case("Reshape", {"x": X4, "s": i64(0, -1, 6)}, const=("s",), id="reshape-zero-minus-one"),
    # ---- split / slice
    case("Split", {"x": f32(2, 6)}, {"axis": 1}, opset=11, outs=3, id="split-equal-v11"),
    case("Split", {"x": f32(5, 2)}, {"split": [2, 3]}, opset=11, outs=2, id="split-attr-v11"),
    case("Split", {"x": f32(2, 5), "s": i64(1, 4)}, {"axis": -1}, opset=13, const=("s",), outs=2, id="split-v13"),
    case("Split", {"x": f32(7, 2)}, {"num_outputs": 3}, opset=18, outs=3, id="split-v18-uneven"),
    case("Slice", {"x": X4}, {"starts": [1, -3], "ends": [100, -1], "axes": [1, 3]}, opset=9, id="slice-v1"),
    case("Slice", {"x": X4, "s": i64(0, 1), "e": i64(2, 3)}, opset=13, const=("s", "e"), id="slice-default-axes"),
    case("Slice", {"x": X4, "s": i64(-1), "e": i64(-9), "a": i64(1), "t": i64(-2)}, opset=13,
         const=("s", "e", "a", "t"), id="slice-neg-step"),
    case("Slice", {"x": X4, "s": i64(2, 0), "e": i64(2**63 - 1, 5), "a": i64(-1, -2), "t": i64(1, 3)}, opset=13,
         const=("s", "e", "a", "t"), id="slice-int64max-neg-axes"),
    case("Slice", {"x": X3, "s": i64(10), "e": i64(20), "a": i64(2)}, opset=13, const=("s", "e", "a"),
         id="slice-empty"),
    # ---- gather / scatter
    case("Gather", {"x": X3, "i": i64(0, -1, 1)}, {"axis": 1}, id="gather-neg-indices"),
    case("Gather", {"x": X3, "i": i64([[0, 1], [-1, 2]])}, {"axis": -1}, id="gather-2d-indices"),
    case("Gather", {"x": X3, "i": np.array(1, np.int32)}, {"axis": 0}, id="gather-scalar-int32"),
    case("GatherElements", {"x": X3, "i": i64([[[0, -1, 2, 1]], [[2, 2, -3, 0]]])}, {"axis": 1}, id="gather-elements-axis1"),
    case("GatherElements", {"x": f32(3, 3), "i": i64([[1, 2, 0], [2, 0, 0]])}, id="gather-elements-axis0"),
    case("GatherND", {"x": X3, "i": i64([[0, 1], [1, -1]])}, id="gathernd"),
    case("GatherND", {"x": X3, "i": i64([[1], [0]])}, {"batch_dims": 1}, id="gathernd-batch"),
    case("GatherND", {"x": np.arange(24, dtype=np.int32).reshape(2, 3, 4), "i": i64([[[1, 2, 3]], [[0, 0, -1]]])},
         id="gathernd-full-int32"),
    case("ScatterElements", {"x": f32(3, 4), "i": i64([[1, 0, 2, -1]]), "u": f32(1, 4)}, id="scatter-elements"),
    case("ScatterElements", {"x": f32(3, 4), "i": i64([[1, 1], [3, -1]]), "u": f32(2, 2)},
         {"axis": 1, "reduction": "add"}, id="scatter-elements-add-dup"),
    case("ScatterElements", {"x": f32(3, 4), "i": i64([[2, 2, 0, 0]]), "u": f32(1, 4)},
         {"reduction": "max"}, opset=18, id="scatter-elements-max"),
    case("ScatterElements", {"x": f32(3, 4), "i": i64([[2, 1, 0, 0]]), "u": f32(1, 4)},
         {"reduction": "mul"}, opset=16, id="scatter-elements-mul"),
    case("Scatter", {"x": f32(3, 3), "i": i64([[1, 0, 2]]), "u": f32(1, 3)}, {"axis": 0}, opset=9, id="scatter-v9"),
    case("ScatterND", {"x": X3, "i": i64([[0, 1], [1, -1]]), "u": f32(2, 4)}, id="scatternd"),
    case("ScatterND", {"x": X3, "i": i64([[1], [1]]), "u": f32(2, 3, 4)}, {"reduction": "add"}, opset=16,
         id="scatternd-add-dup"),
    case("ScatterND", {"x": X3, "i": i64([[0, 0, 0], [1, 2, 3]]), "u": f32(2)}, {"reduction": "min"}, opset=18,
         id="scatternd-min"),
    # ---- pad / expand / tile / depth-space
    case("Pad", {"x": X3}, {"pads": [0, 1, 2, 1, 0, 0], "value": 1.5}, opset=9, id="pad-v2"),
    case("Pad", {"x": X3, "p": i64(0, 1, 2, 1, 0, 1), "v": np.array(-2, np.float32)}, opset=13, const=("p", "v"),
         id="pad-constant-value"),
    case("Pad", {"x": X3, "p": i64(0, 2, 3, 0, 1, 2)}, {"mode": "reflect"}, opset=13, const=("p",), id="pad-reflect"),
    case("Pad", {"x": X3, "p": i64(1, 2, 3, 0, 1, 2)}, {"mode": "edge"}, opset=13, const=("p",), id="pad-edge"),
    case("Pad", {"x": X3, "p": i64(0, 2, 3, 0, 1, 2)}, {"mode": "wrap"}, opset=19, const=("p",), id="pad-wrap"),
    case("Pad", {"x": X3, "p": i64(0, -1, 0, -2), "v": None, "a": i64(1, -1)}, opset=18, const=("p", "a"),
         id="pad-axes-crop"),
    case("Expand", {"x": f32(3, 1), "s": i64(2, 3, 4)}, const=("s",), id="expand-rank-up"),
    case("Expand", {"x": f32(2, 1, 4), "s": i64(3, 1)}, const=("s",), id="expand-keep-dims"),
    case("Tile", {"x": X3, "r": i64(2, 1, 3)}, const=("r",), id="tile"),
    case("DepthToSpace", {"x": X4}, {"blocksize": 2}, id="depth-to-space-dcr"),
    case("DepthToSpace", {"x": X4}, {"blocksize": 2, "mode": "CRD"}, id="depth-to-space-crd"),
    case("SpaceToDepth", {"x": X4}, {"blocksize": 2}, id="space-to-depth"),
    # ---- resize / upsample
    case("Upsample", {"x": IMG, "s": np.array([1, 1, 2, 3], np.float32)}, opset=9, const=("s",), id="upsample-nearest"),
    case("Upsample", {"x": IMG, "s": np.array([1, 1, 2, 1.5], np.float32)}, {"mode": "linear"}, opset=9, const=("s",),
         id="upsample-linear"),
    case("Resize", {"x": IMG, "s": np.array([1, 1, 1.5, 2], np.float32)}, opset=10, const=("s",), id="resize-v10-nearest"),
    case("Resize", {"x": IMG, "s": np.array([1, 1, 0.5, 0.6], np.float32)}, {"mode": "linear"}, opset=10, const=("s",),
         id="resize-v10-linear-down"),
    case("Resize", {"x": f32(1, 1, 6, 7), "s": np.array([1, 1, 0.7, 1.5], np.float32)}, opset=10, const=("s",),
         id="resize-v10-nearest-mixed"),
    case("Resize", {"x": f32(1, 1, 6, 7), "s": np.array([1, 1, 0.5, 0.6], np.float32)}, opset=10, const=("s",),
         id="resize-v10-nearest-down"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 2, 3], np.float32)}, opset=13, const=("s",),
         id="resize-nearest-up"),
    case("Resize", {"x": IMG, "r": None, "s": None, "z": i64(1, 2, 3, 3)}, opset=13, const=("z",),
         id="resize-nearest-sizes-down"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 1.7, 2.3], np.float32)},
         {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "round_prefer_ceil"}, opset=13, const=("s",),
         id="resize-nearest-asym-ceil"),
    case("Resize", {"x": IMG, "r": None, "s": None, "z": i64(1, 2, 7, 8)},
         {"coordinate_transformation_mode": "align_corners", "nearest_mode": "floor"}, opset=13, const=("z",),
         id="resize-nearest-align-floor"),
    case("Resize", {"x": IMG, "r": np.zeros(0, np.float32), "s": np.array([1, 1, 1.5, 0.7], np.float32)},
         {"coordinate_transformation_mode": "tf_half_pixel_for_nn"}, opset=11, const=("r", "s"),
         id="resize-v11-tf-half-pixel-nn"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 2, 2], np.float32)}, {"mode": "linear"}, opset=13,
         const=("s",), id="resize-linear-up"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 0.6, 0.8], np.float32)}, {"mode": "linear"}, opset=13,
         const=("s",), id="resize-linear-down"),
    case("Resize", {"x": IMG, "r": None, "s": None, "z": i64(1, 2, 7, 3)},
         {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, opset=13, const=("z",),
         id="resize-linear-align-corners"),
    case("Resize", {"x": IMG, "r": None, "s": None, "z": i64(1, 2, 1, 3)},
         {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, opset=13, const=("z",),
         id="resize-linear-pytorch-half-pixel"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 1.6, 2.2], np.float32)}, {"mode": "cubic"}, opset=13,
         const=("s",), id="resize-cubic"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([1, 1, 0.7, 0.6], np.float32)},
         {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, opset=13, const=("s",),
         id="resize-cubic-exclude-outside"),
    case("Resize", {"x": IMG, "r": np.array([0, 0, 0.2, 0.3, 1, 1, 0.9, 1.2], np.float32), "s": None,
                    "z": i64(1, 2, 3, 4)},
         {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 9.0},
         opset=13, const=("r", "z"), id="resize-tf-crop-extrapolate"),
    case("Resize", {"x": f32(1, 1, 8, 9), "r": None, "s": np.array([1, 1, 0.5, 0.4], np.float32)},
         {"mode": "linear", "antialias": 1}, opset=18, const=("s",), id="resize-linear-antialias"),
    case("Resize", {"x": f32(1, 1, 8, 9), "r": None, "s": None, "z": i64(5, 4)},
         {"mode": "cubic", "antialias": 1, "axes": [2, 3]}, opset=18, const=("z",), id="resize-cubic-antialias-axes"),
    case("Resize", {"x": IMG, "r": None, "s": None, "z": i64(8, 8)},
         {"axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}, opset=18, const=("z",), id="resize-not-larger"),
    case("Resize", {"x": IMG, "r": None, "s": np.array([3, 2], np.float32)},
         {"axes": [-1, 2], "mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}, opset=19,
         const=("s",), id="resize-half-pixel-symmetric-axes"),
    # ---- selection and misc
    case("TopK", {"x": X3, "k": i64(2)}, opset=11, const=("k",), outs=2, id="topk-largest"),
    case("TopK", {"x": X3, "k": i64(3)}, {"axis": 1, "largest": 0}, opset=11, const=("k",), outs=2, id="topk-smallest"),
    case("TopK", {"x": np.array([[3, 1, 3, 2, 3, 1]], np.int64), "k": i64(4)}, opset=11, const=("k",), outs=2,
         id="topk-ties"),
    case("TopK", {"x": np.array([[3, 1, 3, 2, 3, 1]], np.float32), "k": i64(4)}, {"largest": 0}, opset=11,
         const=("k",), outs=2, id="topk-ties-smallest"),
    case("TopK", {"x": X3}, {"k": 2, "axis": 0}, opset=9, outs=2, id="topk-v1"),
    case("OneHot", {"i": i64([0, 2], [-1, 5]), "d": np.array(4, np.int64), "v": np.array([0, 3], np.float32)},
         const=("d",), id="onehot-neg-and-out-of-range"),
    case("OneHot", {"i": np.array([1.7, 2, 0], np.float32), "d": np.array([3.0], np.float32),
                    "v": np.array([-1, 1], np.float32)}, {"axis": 0}, const=("d",), id="onehot-float-axis0"),
    case("Range", {"s": np.array(1.0, np.float32), "l": np.array(5.5, np.float32), "d": np.array(0.5, np.float32)},
         id="range-float-runtime"),
    case("Range", {"s": np.array(10, np.int64), "l": np.array(3, np.int64), "d": np.array(-3, np.int64)},
         const=("s", "l", "d"), id="range-int-negative-delta"),
    case("Range", {"s": np.array(5, np.int32), "l": np.array(3, np.int32), "d": np.array(1, np.int32)},
         id="range-empty"),
    case("Trilu", {"x": X4, "k": i64(1)}, const=("k",), id="triu-k1"),
    case("Trilu", {"x": f32(4, 3), "k": i64(-1)}, {"upper": 0}, const=("k",), id="tril-k-neg"),
    case("Trilu", {"x": f32(3, 5)}, {"upper": 0}, id="tril-default-k"),
    case("NonZero", {"x": np.where(f32(3, 4) > 0, f32(3, 4), 0).astype(np.float32)}, id="nonzero"),
    case("EyeLike", {"x": f32(3, 4)}, {"k": 1, "dtype": onnx.TensorProto.INT32}, id="eyelike-int32-k1"),
    case("EyeLike", {"x": f32(4, 3)}, {"k": -2}, id="eyelike-default-dtype"),
    case("Compress", {"x": X3, "c": np.array([1, 0, 1], bool)}, {"axis": 1}, id="compress-axis1"),
    case("Compress", {"x": X3, "c": np.array([0, 1, 1, 0, 1], bool)}, id="compress-flat"),
    case("Compress", {"x": X3, "c": np.array([0, 1], bool)}, {"axis": -1}, id="compress-short-cond"),
    case("ReverseSequence", {"x": f32(4, 3, 2), "l": i64(4, 1, 3)}, id="reverse-sequence-time0"),
    case("ReverseSequence", {"x": f32(3, 5), "l": i64(2, 5, 1)}, {"batch_axis": 0, "time_axis": 1},
         id="reverse-sequence-batch0"),
    case("Shape", {"x": X4}, id="shape"),
    case("Shape", {"x": X4}, {"start": 1, "end": -1}, opset=15, id="shape-start-end"),
    case("Size", {"x": X4}, id="size"),
    case("ConstantOfShape", {"s": i64(2, 3)}, {"value": numpy_helper.from_array(np.array([7], np.int32))},
         const=("s",), id="constant-of-shape-int32"),
    case("ConstantOfShape", {"s": i64(3, 1, 2)}, id="constant-of-shape-runtime-shape"),
    case("Unique", {"x": np.array([2, 1, 1, 3, 4, 3], np.float32)}, opset=11, outs=4, id="unique-sorted"),
    case("Unique", {"x": np.array([2, 1, 1, 3, 4, 3], np.float32)}, {"sorted": 0}, opset=11, outs=4,
         id="unique-unsorted"),
    case("Unique", {"x": np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.float32)}, {"axis": 0}, opset=11, outs=4,
         id="unique-axis0"),
]


@pytest.mark.parametrize("op,inputs,attrs,opset,const,outs,oracle", CASES)
def test_matches_onnxruntime(op, inputs, attrs, opset, const, outs, oracle):
    check_node(op, inputs, attrs, opset=opset, const_inputs=const, n_outputs=outs, oracle=oracle)


@pytest.mark.parametrize("attr,value", [
    ("value", numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "v")),
    ("value_float", 2.5), ("value_floats", [1.0, 2.0]), ("value_int", 3), ("value_ints", [4, 5, -6]),
    ("sparse_value", None),
])
def test_constant(attr, value):
    if attr == "sparse_value":
        value = helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0, -1.0], np.float32)),
                                          numpy_helper.from_array(i64(1, 6)), [2, 4])
    node = helper.make_node("Constant", [], ["y"], **{attr: value})
    graph = helper.make_graph([node], "c", [], [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (got,) = run_hetflow(model, {})
    if attr == "sparse_value":  # neither oracle densifies it (onnxruntime returns a 0-d tensor)
        assert got.tolist() == [[0, 5, 0, 0], [0, 0, -1, 0]]
        return
    (want,) = run_oracle(model, {})
    assert_close(got, want, what=f"Constant {attr}")


# ---------------------------------------------------------------- symbolic (dim_param) inputs
def symbolic_model(nodes: list[onnx.NodeProto], inputs: dict[str, tuple[int, list]], inits: dict[str, np.ndarray],
                   outputs: list[str], opset: int = 17) -> onnx.ModelProto:
    """``inputs``: name -> (ONNX element type, dims with strings for symbolic ones)."""
    graph = helper.make_graph(
        nodes, "sym", [helper.make_tensor_value_info(k, t, d) for k, (t, d) in inputs.items()],
        [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


FLOAT = onnx.TensorProto.FLOAT

SYMBOLIC = [
    pytest.param([helper.make_node("Unsqueeze", ["x", "a"], ["y"])], ["N", "S"], {"a": i64(0)}, (3, 5),
                 id="unsqueeze-front"),
    pytest.param([helper.make_node("Unsqueeze", ["x", "a"], ["y"])], ["N", "S"], {"a": i64(1, 2)}, (3, 5),
                 id="unsqueeze-middle"),
    pytest.param([helper.make_node("Squeeze", ["x", "a"], ["y"])], [1, "N", 1, "S"], {"a": i64(0, 2)}, (1, 3, 1, 5),
                 id="squeeze-two-symbols"),
    pytest.param([helper.make_node("Flatten", ["x"], ["y"], axis=1)], ["N", 3, "H"], {}, (2, 3, 5), id="flatten"),
    pytest.param([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Cast", ["s"], ["y"], to=FLOAT)],
                 ["N", 3, "H"], {}, (2, 3, 5), id="shape-symbolic"),
    pytest.param([helper.make_node("Shape", ["x"], ["y"], start=1)], ["N", 3, 4], {}, (2, 3, 4),
                 id="shape-static-tail"),
    pytest.param([helper.make_node("Size", ["x"], ["y"])], ["N", 3], {}, (4, 3), id="size-symbolic"),
    pytest.param([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["y"])],
                 ["N", 2], {}, (3, 2), id="constant-of-shape-from-shape"),
    pytest.param([helper.make_node("Concat", ["x", "c"], ["y"], axis=0)], ["N", 2], {"c": f32(1, 2)}, (3, 2),
                 id="concat-symbolic-axis"),
    pytest.param([helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])], ["N", 6],
                 {"s": i64(1), "e": i64(-1), "a": i64(0)}, (5, 6), id="slice-symbolic"),
    pytest.param([helper.make_node("Split", ["x"], ["y", "z"], axis=1)], ["N", 6], {}, (3, 6), id="split-symbolic-batch"),
    pytest.param([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2])], ["N", "S", 4], {}, (2, 3, 4),
                 id="transpose-symbolic"),
    pytest.param([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")], ["N", 2, 3, 4],
                 {"s": np.array([1, 1, 2, 2], np.float32)}, (2, 2, 3, 4), id="resize-symbolic-batch"),
]


@pytest.mark.parametrize("nodes,dims,inits,shape", SYMBOLIC)
def test_symbolic_dims(nodes, dims, inits, shape):
    outputs = [o for o in nodes[-1].output]
    model = symbolic_model(nodes, {"x": (FLOAT, dims)}, inits, outputs)
    feeds = {"x": R.standard_normal(shape).astype(np.float32)}
    want = run_oracle(model, feeds)
    got = run_hetflow(model, feeds)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, what=f"{nodes[-1].op_type} output {i}")


def test_shape_of_symbolic_input_stays_an_op():
    model = symbolic_model([helper.make_node("Shape", ["x"], ["y"])], {"x": (FLOAT, ["N", 3])}, {}, ["y"])
    graph = hf.load(model)
    assert [n.op for n in graph.nodes] == ["shape"]
    assert graph.outputs[0].type.shape == (2,)


def test_shape_chain_folds_at_import():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (as exporters write flatten) imports to one reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    model = symbolic_model(nodes, {"x": (FLOAT, [2, 3, 4])}, {"zero": np.array(0, np.int64), "minus1": i64(-1)},
                           ["y"], opset=11)
    graph = hf.load(model)
    assert [n.op for n in graph.nodes] == ["reshape"]
    assert graph.outputs[0].type.shape == (2, 12)
    x = f32(2, 3, 4)
    assert_close(run_hetflow(model, {"x": x})[0], x.reshape(2, 12))


@pytest.mark.parametrize("op,inputs,attrs,opset,const,message", [
    ("Squeeze", {"x": f32(2, 3)}, {"axes": [1]}, 11, (), "cannot squeeze axis 1 of size 3"),
    ("Concat", {"a": f32(2, 3), "b": f32(2, 4)}, {"axis": 0}, 13, (), "differ in dim 1"),
    ("Transpose", {"x": f32(2, 3)}, {"perm": [0, 0]}, 13, (), "not a permutation"),
    ("Split", {"x": f32(5, 2)}, {"axis": 0}, 13, (), "does not split into 2 equal parts"),
    ("Pad", {"x": f32(2, 3), "p": i64(1, 1)}, {"mode": "mirror"}, 13, ("p",), "pad mode 'mirror'"),
    ("Resize", {"x": IMG, "r": None, "s": np.array([1, 2], np.float32)}, {}, 13, ("s",), "2 scales for 4 axes"),
    ("Slice", {"x": f32(2, 3), "s": i64(0), "e": i64(1), "a": i64(0), "t": i64(0)}, {}, 13, ("s", "e", "a", "t"),
     "a step is 0"),
    ("Gather", {"x": f32(2, 3), "i": i64(5)}, {}, 13, ("x", "i"), "evaluating gather on constant inputs failed"),
])
def test_bad_nodes_fail_with_one_line(op, inputs, attrs, opset, const, message):
    from onnx_check import node_model

    outs = 2 if op == "Split" else 1
    model = node_model(op, inputs, attrs, opset=opset, const_inputs=const, n_outputs=outs)
    with pytest.raises(HetflowError, match=message) as info:
        hf.load(model)
    text = str(info.value)
    assert "\n" not in text and op in text


CTMS = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


@pytest.mark.parametrize("shape,scales", [((5, 7), (1.6, 0.6)), ((1, 2, 6, 5), (1, 1, 0.5, 2.4))], ids=["2d", "4d"])
@pytest.mark.parametrize("mode,nearest_mode", [("nearest", m) for m in NEAREST] + [("linear", None), ("cubic", None)])
@pytest.mark.parametrize("ctm", CTMS)
def test_resize_mode_sweep(shape, scales, mode, nearest_mode, ctm):
    oracle = "ort"
    if ctm == "align_corners":
        # float32 scales make scale * length fractional (1.6 * 5 = 8.0000001): hetflow follows the ONNX reference
        # and conformance data (divide by scale * length - 1) where onnxruntime divides by output length - 1.
        oracle = "reference"
    if (ctm, nearest_mode, len(shape)) == ("half_pixel_symmetric", "round_prefer_floor", 2):
        # Output column 0 maps to source 0.5 in real arithmetic; rounding lands it just above (hetflow and the
        # ONNX reference round up) while onnxruntime lands on the tie and rounds down.
        oracle = "reference"
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
    if nearest_mode:
        attrs["nearest_mode"] = nearest_mode
    inputs = {"x": f32(*shape), "r": None, "s": np.array(scales, np.float32)}
    check_node("Resize", inputs, attrs, opset=19, const_inputs=("s",), atol=1e-5, oracle=oracle)
