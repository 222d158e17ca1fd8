"""constant_fold, dce, cse, the pass manager's IR dumps, and the default pipelines."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetflow as hf
from hetflow.config import set_config
from hetflow.frontends.onnx import importer
from hetflow.ir import Graph, verify
from hetflow.ir.errors import HetflowError
from hetflow.passes import PASSES, cse, fold, pipeline, run_passes

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _run(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return hf.compile(graph).run(feeds)


# ---------------------------------------------------------------------------- constant_fold
def test_fold_replaces_constant_subgraph_and_keeps_names():
    g = Graph("fold")
    x = g.add_input("x", "float32", ("N", 3))
    w = g.constant(np.arange(6, dtype=np.float32).reshape(3, 2), "w")
    wt = g.add_node("transpose", [w], {"perm": (1, 0)}, name="w_t").outputs[0]
    w2 = g.add_node("transpose", [wt], {"perm": (1, 0)}, name="w_back").outputs[0]
    y = g.add_node("matmul", [x, w2]).outputs[0]
    g.outputs = [y]
    feeds = {"x": np.random.default_rng(0).standard_normal((4, 3), dtype=np.float32)}
    want = _run(g.copy(), feeds)[y.name]

    run_passes(g, ["constant_fold"])
    assert [n.op for n in g.nodes] == ["matmul"]
    folded = g.nodes[0].inputs[1]
    assert folded is w2 and folded.is_const and folded.name.startswith("w_back") and folded.producer is None
    assert str(folded.type) == "float32[3,2]"
    np.testing.assert_array_equal(folded.const, w.const)
    np.testing.assert_allclose(_run(g, feeds)[y.name], want, rtol=1e-6)


def test_fold_a_graph_output_becomes_a_constant_output():
    g = Graph("const_out")
    g.add_input("x", "float32", (2,))
    a = g.constant(np.array([1.0, -2.0], np.float32), "a")
    y = g.add_node("relu", [a], name="y").outputs[0]
    g.outputs = [y]
    run_passes(g, ["constant_fold"])
    assert g.nodes == [] and y.is_const
    np.testing.assert_array_equal(_run(g, {"x": np.zeros(2, np.float32)})[y.name], [1.0, 0.0])


def test_fold_keeps_declared_dtype_and_sharpens_downstream_types():
    g = Graph("types")
    x = g.add_input("x", "int64", (1, "K"))
    nz = g.add_node("non_zero", [g.constant(np.array([0, 3, 5], np.int64), "c")], name="nz").outputs[0]
    assert not nz.type.is_static  # data-dependent until folded
    y = g.add_node("add", [x, nz], name="y").outputs[0]
    g.outputs = [y]
    run_passes(g, ["constant_fold"])
    assert nz.is_const and nz.const.dtype == np.int64 and str(nz.type) == "int64[1,2]"
    assert str(y.type) == "int64[1,2]"


def test_fold_skips_impure_ops(monkeypatch):
    monkeypatch.setattr(fold, "IMPURE_OPS", frozenset({"exp"}))
    g = Graph("impure")
    g.add_input("x", "float32", (1,))
    e = g.add_node("exp", [g.constant(np.ones(2, np.float32))], name="e").outputs[0]
    g.outputs = [g.add_node("neg", [e], name="y").outputs[0]]
    run_passes(g, ["constant_fold"])
    assert [n.op for n in g.nodes] == ["exp", "neg"]


def test_fold_leaves_a_failing_node_in_place_with_a_warning(caplog):
    g = Graph("bad_index")
    x = g.add_input("x", "float32", (1,))
    data = g.constant(np.arange(3, dtype=np.float32), "data")
    bad = g.add_node("gather", [data, g.constant(np.array([7], np.int64), "idx")], name="bad").outputs[0]
    g.outputs = [g.add_node("add", [x, bad], name="y").outputs[0]]
    with caplog.at_level(logging.WARNING, logger="hetflow.passes.fold"):
        run_passes(g, ["constant_fold"])
    assert [n.name for n in g.nodes] == ["bad", "y"]
    assert "left unfolded" in caplog.text and "'bad'" in caplog.text


def _constant_of_shape_model() -> onnx.ModelProto:
    """Weights built at run time by ConstantOfShape (as in the light model zoo) feeding MatMul + Add."""
    shape = numpy_helper.from_array(np.array([4, 3], np.int64), "w_shape")
    bshape = numpy_helper.from_array(np.array([3], np.int64), "b_shape")
    nodes = [
        helper.make_node("ConstantOfShape", ["w_shape"], ["fc_w_0"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25])),
        helper.make_node("ConstantOfShape", ["b_shape"], ["fc_b_0"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [-0.5])),
        helper.make_node("MatMul", ["x", "fc_w_0"], ["h"], name="fc"),
        helper.make_node("Add", ["h", "fc_b_0"], ["y"], name="fc_bias"),
    ]
    graph = helper.make_graph(nodes, "cos", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [shape, bshape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_constant_of_shape_weights_are_folded_at_import():
    model = _constant_of_shape_model()
    g = hf.load(model)
    assert [n.op for n in g.nodes] == ["matmul", "add"]
    w = g.nodes[0].inputs[1]
    assert w.is_const and w.name == "fc_w_0" and w.const.shape == (4, 3) and np.all(w.const == 0.25)
    import onnxruntime as ort

    x = np.random.default_rng(1).standard_normal((2, 4), dtype=np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(_run(g, {"x": x})["y"], want, rtol=1e-6)


def test_zoo_resnet50_weights_are_constants_after_import():
    onnx_model = onnx.load(LIGHT / "light_resnet50.onnx")
    n_cos = sum(n.op_type == "ConstantOfShape" for n in onnx_model.graph.node)
    g = hf.load(onnx_model)
    assert n_cos == 239
    assert "constant_of_shape" not in {n.op for n in g.nodes}
    assert not [n.name for n in g.nodes if all(v is None or v.is_const for v in n.inputs)]
    conv1 = next(n for n in g.nodes if n.op == "conv")
    assert conv1.inputs[1].name == "gpu_0/conv1_w_0" and conv1.inputs[1].const.shape == (64, 3, 7, 7)
    assert sum(n.op == "conv" for n in g.nodes) == 53


# ---------------------------------------------------------------------------- dce
def test_dce_drops_dead_chains_and_keeps_inputs():
    g = Graph("dce")
    x = g.add_input("x", "float32", (3,))
    unused = g.add_input("unused", "float32", (3,))
    dead = g.add_node("exp", [x], name="dead").outputs[0]
    g.add_node("neg", [dead], name="dead2")
    g.add_node("relu", [unused], name="dead3")
    parts = g.add_node("split", [x], {"axis": 0, "sizes": (1, 2)}, name="split").outputs
    g.outputs = [g.add_node("relu", [parts[1]], name="y").outputs[0]]
    run_passes(g, ["dce"])
    assert [n.name for n in g.nodes] == ["split", "y"]  # a node lives if any of its outputs is used
    assert [v.name for v in g.inputs] == ["x", "unused"]


# ---------------------------------------------------------------------------- cse
def _cse_graph() -> Graph:
    g = Graph("cse")
    a = g.add_input("a", "float32", (2, 3))
    b = g.add_input("b", "float32", (2, 3))
    r1 = g.add_node("relu", [a], name="r1").outputs[0]
    r2 = g.add_node("relu", [a], name="r2").outputs[0]
    s1 = g.add_node("add", [r1, b], name="s1").outputs[0]
    s2 = g.add_node("add", [b, r2], name="s2").outputs[0]  # commuted, and fed by the duplicate relu
    m1 = g.add_node("mul", [s1, g.constant(np.float32(2.0), "two")], name="m1").outputs[0]
    m2 = g.add_node("mul", [s2, g.constant(np.float32(2.0), "two_again")], name="m2").outputs[0]
    sm0 = g.add_node("softmax", [m1], {"axis": 0}, name="sm0").outputs[0]
    sm1 = g.add_node("softmax", [m2], {"axis": 1}, name="sm1").outputs[0]
    d1 = g.add_node("sub", [sm0, sm1], name="d1").outputs[0]
    d2 = g.add_node("sub", [sm1, sm0], name="d2").outputs[0]  # sub does not commute
    g.outputs = [d1, d2, m2]
    return g


def test_cse_merges_equal_expressions_only():
    g = _cse_graph()
    rng = np.random.default_rng(2)
    feeds = {k: rng.standard_normal((2, 3), dtype=np.float32) for k in "ab"}
    want = _run(g.copy(), feeds)
    run_passes(g, ["cse", "dce"])
    names = [n.name for n in g.nodes]
    assert "r2" not in names and "s2" not in names  # duplicate relu, commuted add
    assert {"sm0", "sm1", "d1", "d2"} <= set(names)  # different attrs; non-commutative sub
    assert "m2" in names  # yields a graph output, so it keeps its name
    assert g.node("m2").inputs[0] is g.node("s1").outputs[0]
    assert g.node("m2").inputs[1] is g.node("m1").inputs[1]  # equal scalar constants merged
    got = _run(g, feeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-6, err_msg=k)


def test_cse_keeps_impure_ops_apart(monkeypatch):
    monkeypatch.setattr(cse, "IMPURE_OPS", frozenset({"exp"}))
    g = Graph("impure")
    x = g.add_input("x", "float32", (2,))
    e1 = g.add_node("exp", [x], name="e1").outputs[0]
    e2 = g.add_node("exp", [x], name="e2").outputs[0]
    g.outputs = [g.add_node("add", [e1, e2], name="y").outputs[0]]
    run_passes(g, ["cse"])
    assert [n.name for n in g.nodes] == ["e1", "e2", "y"]


def test_cse_tells_float_attrs_from_int_attrs():
    g = Graph("attrs")
    x = g.add_input("x", "float32", (4,))
    c1 = g.add_node("clip", [x], {"min": 0, "max": 1}, name="c1").outputs[0]
    c2 = g.add_node("clip", [x], {"min": 0.0, "max": 1.0}, name="c2").outputs[0]
    c3 = g.add_node("clip", [x], {"min": 0.0, "max": 1.0}, name="c3").outputs[0]
    g.outputs = [g.add_node("add", [c1, g.add_node("add", [c2, c3]).outputs[0]], name="y").outputs[0]]
    run_passes(g, ["cse", "dce"])
    assert [n.name for n in g.nodes if n.op == "clip"] == ["c1", "c2"]


# ---------------------------------------------------------------------------- manager, dumps, pipeline
def test_dump_after_prints_the_ir_after_that_pass_only():
    g = _cse_graph()
    buf = io.StringIO()
    run_passes(g, ["constant_fold", "cse", "dce"], dump_after="cse", out=buf)
    text = buf.getvalue()
    assert text.count("// ---- IR after") == 1 and "// ---- IR after cse" in text
    assert "graph cse(" in text and "relu(%a)" in text and "= relu(" in text
    assert text.count("= relu(") == 1  # the duplicate relu is gone by then


def test_hetflow_dump_environment_variable(monkeypatch, capsys):
    monkeypatch.setenv("HETFLOW_DUMP", "after:cse,after:dce")
    set_config(None)
    try:
        run_passes(_cse_graph(), ["constant_fold", "cse", "dce"])
    finally:
        monkeypatch.delenv("HETFLOW_DUMP")
        set_config(None)
    err = capsys.readouterr().err
    assert "IR after cse" in err and "IR after dce" in err and "IR after constant_fold" not in err


def test_unknown_pass_is_named():
    with pytest.raises(HetflowError, match="unknown pass 'folding'.*constant_fold"):
        run_passes(Graph(), ["folding"])


def test_pipelines_name_registered_passes_and_match_the_importer():
    run_passes(Graph(), [])  # loads every pass module
    for phases in (pipeline.IMPORT_PIPELINE, pipeline.ANALYSIS_PIPELINE):
        for name in pipeline.pass_names(phases):
            assert name in PASSES
    assert pipeline.IMPORT_PASSES == tuple(importer.IMPORT_PASSES)


def test_run_pipeline_forms_regions_after_cleanup():
    g = _cse_graph()
    out = io.StringIO()
    pipeline.run_pipeline(g, dump_after=["form_regions"], out=out)
    verify(g)
    assert all(n.region for n in g.nodes) and "# cse/" in out.getvalue()


def test_a_shape_whose_input_a_fold_makes_static_folds_in_the_same_sweep():
    """``h`` is built by a ConstantOfShape from ``x``'s shape but typed with fresh symbols (as re-inference types
    it); ``x + h`` keeps one of them until h is a constant. The ``shape`` of that sum folds in one sweep only if
    types sharpen as the sweep reaches each node, not after it: then nothing computed from shapes is left."""
    g = Graph("late_static")
    x = g.add_input("x", "float32", (1, 4))
    n = g.add_node("slice", [g.add_node("shape", [x], {"start": 0, "end": None}).outputs[0]],
                   {"starts": (0,), "ends": (1,), "axes": (0,), "steps": (1,)}).outputs[0]
    h_shape = g.add_node("concat", [n, g.constant(np.array([4], np.int64), "width")], {"axis": 0}).outputs[0]
    h = g.add_node("constant_of_shape", [h_shape], {"value": 0.5, "dtype": "float32"}).outputs[0]
    h.type = h.type.with_shape(("h0", "h1"))
    xh = g.add_node("add", [x, h]).outputs[0]
    assert not xh.type.is_static
    ones = g.add_node("constant_of_shape", [g.add_node("shape", [xh], {"start": 0, "end": None}).outputs[0]],
                      {"value": 2.0, "dtype": "float32"}).outputs[0]
    g.outputs.append(g.add_node("mul", [xh, ones], name="y").outputs[0])
    run_passes(g, ("constant_fold", "dce"))
    assert [node.op for node in g.nodes] == ["add", "mul"] and g.outputs[0].type.shape == (1, 4)
    x1 = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_array_equal(_run(g, {"x": x1})[g.outputs[0].name], (x1 + 0.5) * 2)
