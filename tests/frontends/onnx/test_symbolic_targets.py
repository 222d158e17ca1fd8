"""Regressions from real exported models: Resize / Range / ConstantOfShape / Expand targets computed from symbolic
dims, and input dims declared as -1, 0, ``?`` or not at all. Each graph is built by hand as its exporter writes it,
compiled once, and run at two input shapes against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import run_oracle

import hetflow as hf
from hetflow.frontends.onnx.symbolic import input_dim

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _const(name: str, values: object, dtype: type = np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype), name))


def _model(nodes: list[onnx.NodeProto], inputs: dict[str, list[int | str]], opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "symbolic", [helper.make_tensor_value_info(n, F, s) for n, s in inputs.items()],
                              [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _run_both(model: onnx.ModelProto, shapes: list[dict[str, tuple[int, ...]]], rtol: float = 1e-6) -> hf.Graph:
    """Compile once (no specialization: the symbolic graph), run at each set of shapes, compare with onnxruntime."""
    graph = hf.load(model)
    plan = hf.compile(graph, backend="reference")
    for i, shape in enumerate(shapes):
        rng = np.random.default_rng(i)
        feeds = {name: rng.standard_normal(s).astype(np.float32) for name, s in shape.items()}
        want = run_oracle(model, feeds)[0]
        got = plan.run(feeds)["y"]
        assert got.shape == want.shape, shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)
    return graph


# ---------------------------------------------------------------- Resize on symbolic dims
@pytest.mark.parametrize("scale, mode, ctm, expect", [
    (2.0, "nearest", "asymmetric", "H*2"),            # PaddleOCR's DB neck, YOLO's upsample
    (2.0, "linear", "half_pixel", "H*2"),
    (0.5, "linear", "half_pixel", "H//2"),
    (1.5, "nearest", "half_pixel", "(H*3)//2"),
])
def test_resize_scales_a_symbolic_dim(scale: float, mode: str, ctm: str, expect: str) -> None:
    """Resize with constant scales on [N, C, H, W]: the output dim is the expression floor(H * scale)."""
    scales = numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")
    model = _model([helper.make_node("Constant", [], ["scales"], value=scales),
                    helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                                     coordinate_transformation_mode=ctm, nearest_mode="floor")],
                   {"x": ["N", 2, "H", "W"]})
    graph = _run_both(model, [{"x": (1, 2, 6, 8)}, {"x": (3, 2, 5, 9)}], rtol=1e-5)
    assert str(graph.outputs[0].type).split(",")[2] == expect


def test_resize_by_an_odd_scale_gets_a_fresh_symbol() -> None:
    """A scale that is no small fraction cannot be written as a dim expression; the size is still computed at
    run time as onnxruntime computes it."""
    scales = numpy_helper.from_array(np.array([1, 1, 1.37, 1], np.float32), "scales")
    model = _model([helper.make_node("Constant", [], ["scales"], value=scales),
                    helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")], {"x": ["N", 1, "H", 4]})
    graph = _run_both(model, [{"x": (1, 1, 7, 4)}, {"x": (2, 1, 10, 4)}])
    assert isinstance(graph.outputs[0].type.shape[2], str) and graph.outputs[0].type.shape[3] == 4


def _resize_to_skip_size(mode: str) -> onnx.ModelProto:
    """torch's ``interpolate(y, size=x.shape[2:])`` as its TorchScript exporter writes it: the sizes are
    Concat(Shape(c)[:2], Cast(Concat(H, W))) where c is a strided conv's output (its own fresh dims)."""
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    return _model([
        helper.make_node("Constant", [], ["w"], value=weight),
        helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["x"], ["sx"]), _const("i2", 2), _const("i3", 3), _const("ax", [0]),
        helper.make_node("Gather", ["sx", "i2"], ["h"], axis=0), helper.make_node("Gather", ["sx", "i3"], ["w_"], axis=0),
        helper.make_node("Unsqueeze", ["h", "ax"], ["h1"]), helper.make_node("Unsqueeze", ["w_", "ax"], ["w1"]),
        helper.make_node("Concat", ["h1", "w1"], ["hw"], axis=0),
        helper.make_node("Shape", ["c"], ["sc"]), _const("z", [0]), _const("two", [2]),
        helper.make_node("Slice", ["sc", "z", "two", "z"], ["nc"]),
        helper.make_node("Cast", ["hw"], ["hw64"], to=I64),
        helper.make_node("Concat", ["nc", "hw64"], ["sizes"], axis=0),
        helper.make_node("Resize", ["c", "", "", "sizes"], ["y"], mode=mode, nearest_mode="floor",
                         coordinate_transformation_mode="pytorch_half_pixel" if mode == "linear" else "asymmetric"),
    ], {"x": ["N", 3, "H", "W"]})


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_to_sizes_computed_at_run_time(mode: str) -> None:
    """The target H, W is no expression of the conv's output dims: the sizes tensor is read when the graph runs,
    and the output is typed by the target's names."""
    graph = _run_both(_resize_to_skip_size(mode), [{"x": (1, 3, 9, 12)}, {"x": (2, 3, 16, 7)}], rtol=1e-5)
    assert str(graph.outputs[0].type) == "float32[N,4,H,W]"


# ---------------------------------------------------------------- Range / Expand / ConstantOfShape
def _yolo_anchors() -> onnx.ModelProto:
    """YOLOv8's make_anchors as torch.onnx writes it for a [N, C, H, W] feature map: sx = Range(0, float(W)) + 0.5,
    sy likewise, a meshgrid by Reshape + Expand to Concat(Shape(sy), Shape(sx)), stacked, and a stride column
    ConstantOfShape([H*W, 1]) -- every size a symbol."""
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    zero_f = numpy_helper.from_array(np.array(0.0, np.float32), "z")
    one_f = numpy_helper.from_array(np.array(1.0, np.float32), "o")
    return _model([
        helper.make_node("Shape", ["x"], ["s"]), _const("i2", 2), _const("i3", 3), _const("ax0", [0]),
        helper.make_node("Constant", [], ["half"], value=half), helper.make_node("Constant", [], ["z"], value=zero_f),
        helper.make_node("Constant", [], ["o"], value=one_f),
        helper.make_node("Gather", ["s", "i2"], ["h"], axis=0), helper.make_node("Gather", ["s", "i3"], ["w"], axis=0),
        helper.make_node("Cast", ["h"], ["hf"], to=F), helper.make_node("Cast", ["w"], ["wf"], to=F),
        helper.make_node("Range", ["z", "wf", "o"], ["rx"]), helper.make_node("Range", ["z", "hf", "o"], ["ry"]),
        helper.make_node("Add", ["rx", "half"], ["sx"]), helper.make_node("Add", ["ry", "half"], ["sy"]),
        _const("col", [-1, 1]), _const("row", [1, -1]),
        helper.make_node("Reshape", ["sy", "col"], ["sy2"]), helper.make_node("Reshape", ["sx", "row"], ["sx2"]),
        helper.make_node("Shape", ["sy"], ["shy"]), helper.make_node("Shape", ["sx"], ["shx"]),
        helper.make_node("Concat", ["shy", "shx"], ["grid"], axis=0),
        helper.make_node("Expand", ["sy2", "grid"], ["gy"]), helper.make_node("Expand", ["sx2", "grid"], ["gx"]),
        helper.make_node("Unsqueeze", ["gx", "ax_last"], ["gx1"]), helper.make_node("Unsqueeze", ["gy", "ax_last"], ["gy1"]),
        _const("ax_last", [-1]),
        helper.make_node("Concat", ["gx1", "gy1"], ["xy"], axis=-1),
        _const("flat", [-1, 2]), helper.make_node("Reshape", ["xy", "flat"], ["anchors"]),
        helper.make_node("Mul", ["h", "w"], ["hw"]), helper.make_node("Unsqueeze", ["hw", "ax0"], ["hw1"]),
        _const("one", [1]), helper.make_node("Concat", ["hw1", "one"], ["stride_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["stride_shape"], ["stride"],
                         value=numpy_helper.from_array(np.array([8.0], np.float32), "v")),
        helper.make_node("Mul", ["anchors", "stride"], ["y"]),
    ], {"x": ["N", 4, "H", "W"]})


def _sorted_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constants first, as an exporter orders them (the builder above lists them where they read best)."""
    nodes = sorted(model.graph.node, key=lambda n: n.op_type != "Constant")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def test_yolo_anchor_grid_from_symbolic_feature_size() -> None:
    graph = _run_both(_sorted_nodes(_yolo_anchors()), [{"x": (1, 4, 5, 7)}, {"x": (2, 4, 3, 4)}])
    assert str(graph.outputs[0].type) == "float32[H*W,2]"


def test_range_with_a_step_names_its_length() -> None:
    """Range(0, W, 2) over an int64 dim: the length is (W+1)//2."""
    model = _model([helper.make_node("Shape", ["x"], ["s"]), _const("i1", 1), _const("zero", 0), _const("two", 2),
                    helper.make_node("Gather", ["s", "i1"], ["w"], axis=0),
                    helper.make_node("Range", ["zero", "w", "two"], ["r"]),
                    helper.make_node("Cast", ["r"], ["rf"], to=F),
                    helper.make_node("Gather", ["x", "r"], ["g"], axis=1),
                    helper.make_node("Add", ["g", "rf"], ["y"])], {"x": ["N", "W"]})
    graph = _run_both(model, [{"x": (2, 7)}, {"x": (3, 4)}])
    assert str(graph.outputs[0].type) == "float32[N,(W+1)//2]"


def test_expand_adds_a_symbolic_dim_from_another_input() -> None:
    """x [N, 1] expanded to [N, M] where M is z's dim: the target holds a symbol x does not have."""
    model = _model([helper.make_node("Shape", ["z"], ["s"]), helper.make_node("Expand", ["x", "s"], ["e"]),
                    helper.make_node("Mul", ["e", "z"], ["y"])], {"x": ["N", 1], "z": ["N", "M"]})
    graph = _run_both(model, [{"x": (2, 1), "z": (2, 3)}, {"x": (4, 1), "z": (4, 6)}])
    assert str(graph.outputs[0].type) == "float32[N,M]"


def test_expand_to_a_shape_given_as_data() -> None:
    """The target comes in as an input tensor: nothing is known about it at import, and the run still matches."""
    graph = helper.make_graph([helper.make_node("Expand", ["x", "shape"], ["y"])], "expand",
                              [helper.make_tensor_value_info("x", F, [3, 1]),
                               helper.make_tensor_value_info("shape", I64, [3])],
                              [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    plan = hf.compile(hf.load(model), backend="reference")
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    for shape in ([2, 1, 4], [1, 3, 5]):
        feeds = {"x": x, "shape": np.array(shape, np.int64)}
        np.testing.assert_array_equal(plan.run(feeds)["y"], run_oracle(model, feeds)[0])


def test_constant_of_shape_from_a_product_of_dims() -> None:
    """ConstantOfShape([N*W]) (flattened count from Shape -> Gather -> Mul): filled tensor typed [N*W]."""
    model = _model([helper.make_node("Shape", ["x"], ["s"]), _const("i0", [0]), _const("i1", [1]),
                    helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
                    helper.make_node("Gather", ["s", "i1"], ["w"], axis=0),
                    helper.make_node("Mul", ["n", "w"], ["nw"]),
                    helper.make_node("ConstantOfShape", ["nw"], ["c"],
                                     value=numpy_helper.from_array(np.array([2.0], np.float32), "v")),
                    _const("flat", [-1]), helper.make_node("Reshape", ["x", "flat"], ["xf"]),
                    helper.make_node("Mul", ["xf", "c"], ["y"])], {"x": ["N", "W"]})
    graph = _run_both(model, [{"x": (2, 3)}, {"x": (5, 1)}])
    assert str(graph.outputs[0].type) == "float32[N*W]"


def test_reshape_target_with_minus_one_beside_a_symbol() -> None:
    """PaddleOCR's recogniser: Reshape(x, Concat(Shape(x)[0], [120], [-1])); the -1 is inferred, never a dim."""
    model = _model([helper.make_node("Shape", ["x"], ["s"]), _const("z", [0]), _const("one", [1]),
                    _const("c", [120, -1]), helper.make_node("Slice", ["s", "z", "one"], ["n"]),
                    helper.make_node("Concat", ["n", "c"], ["t"], axis=0),
                    helper.make_node("Reshape", ["x", "t"], ["y"])], {"x": ["N", 120, "W"]})
    graph = _run_both(model, [{"x": (1, 120, 4)}, {"x": (2, 120, 9)}])
    shape = graph.outputs[0].type.shape
    assert shape[:2] == ("N", 120) and isinstance(shape[2], str)


def _unflatten_tokens() -> onnx.ModelProto:
    """torch's ``y.reshape(b, h, w, c)`` of a token tensor [B, H*W, C] (TorchScript exporter, dynamic H and W):
    the target Concat(B, H, W, C) reads C through Shape (a static dim that is no constant) and moves two
    symbols out of place, which no 0 / -1 target expresses."""
    nodes = [helper.make_node("Shape", ["x"], ["s"])]
    for i, name in enumerate("bchw"):
        nodes += [_const(f"i{i}", i), helper.make_node("Gather", ["s", f"i{i}"], [name], axis=0),
                  _const(f"a{i}", [0]), helper.make_node("Unsqueeze", [name, f"a{i}"], [f"{name}1"])]
    nodes += [helper.make_node("Mul", ["h", "w"], ["hw"]), _const("ahw", [0]),
              helper.make_node("Unsqueeze", ["hw", "ahw"], ["hw1"]),
              helper.make_node("Concat", ["b1", "c1", "hw1"], ["flat"], axis=0),
              helper.make_node("Reshape", ["x", "flat"], ["t0"]),
              helper.make_node("Transpose", ["t0"], ["tokens"], perm=[0, 2, 1]),
              helper.make_node("Concat", ["b1", "h1", "w1", "c1"], ["grid"], axis=0),
              helper.make_node("Reshape", ["tokens", "grid"], ["y"])]
    return _model(nodes, {"x": ["N", 3, "H", "W"]})


def test_reshape_to_a_target_known_only_at_run_time() -> None:
    graph = _run_both(_unflatten_tokens(), [{"x": (1, 3, 4, 5)}, {"x": (2, 3, 6, 2)}])
    assert str(graph.outputs[0].type) == "float32[N,H,W,3]"
    assert any(n.op == "reshape" and len(n.inputs) == 2 for n in graph.nodes)


@pytest.mark.parametrize("build, op, shape, out", [
    (_unflatten_tokens, "reshape", (2, 3, 6, 2), (2, 6, 2, 3)),
    (lambda: _resize_to_skip_size("nearest"), "resize", (2, 3, 9, 12), (2, 4, 9, 12)),
], ids=["reshape", "resize"])
def test_a_run_time_target_becomes_static_once_known(build, op: str, shape: tuple, out: tuple) -> None:
    """Specialized to concrete shapes and folded, the target is a constant: the node is the plain one-input form
    every backend knows, and the shape computation is gone."""
    from hetflow.ir.subgraph import specialize
    from hetflow.passes import run_passes

    graph = run_passes(specialize(hf.load(build()), [shape]), ("constant_fold", "dce"))
    nodes = [n for n in graph.nodes if n.op == op]
    assert nodes and all(len(n.inputs) == 1 for n in nodes)
    assert graph.outputs[0].type.shape == out


# ---------------------------------------------------------------- input dims
@pytest.mark.parametrize("dims", [[-1, 3, "?", "?"], ["?", 3, "?", "?"], [None, 3, None, None]],
                         ids=["minus-one", "question-marks", "missing"])
def test_unknown_input_dims_are_each_their_own_symbol(dims: list) -> None:
    """PaddleOCR writes [-1, 3, ?, ?]: H and W differ at run time, so two '?' are two symbols, not one."""
    model = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["y"])],
                   {"x": [4, 3, 4, 4]})
    shape = model.graph.input[0].type.tensor_type.shape
    for d, want in zip(shape.dim, dims):
        d.Clear()
        if isinstance(want, str):
            d.dim_param = want
        elif want is not None:
            d.dim_value = want
    graph = _run_both(model, [{"x": (1, 3, 48, 192)}, {"x": (2, 3, 32, 20)}])
    assert len(set(graph.inputs[0].type.shape)) == 4


def test_input_dim_rules() -> None:
    assert input_dim("x", 0, 0, "") == "x_0" and input_dim("x", 1, -1, "") == "x_1"
    assert input_dim("x", 2, None, "?") == "x_2" and input_dim("x", 3, None, "batch") == "batch"
    assert input_dim("x", 0, 7, "") == 7


def _conformance_cases(word: str) -> list:
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # generating the cases trips NumPy warnings in onnx's own code
        cases = load_model_tests(kind="node")
    return [pytest.param(c, id=c.name) for c in cases if c.name.startswith("test_resize") and word in c.name
            and "axes" not in c.name and "not_" not in c.name]


@pytest.mark.parametrize("case", _conformance_cases("sizes"))
def test_resize_sizes_given_as_data_match_onnx_conformance(case) -> None:
    """ONNX's own Resize cases whose sizes arrive as a graph input: imported without binding the sizes, the
    resize reads them when it runs and matches the expected outputs."""
    graph = hf.load(case.model)
    assert any(len(n.inputs) == 2 for n in graph.nodes if n.op == "resize")
    inputs, outputs = case.data_sets[0]
    got = hf.compile(graph, backend="reference").run(dict(zip([i.name for i in case.model.graph.input], inputs)))
    np.testing.assert_allclose(next(iter(got.values())), outputs[0], rtol=1e-4, atol=1e-5)
