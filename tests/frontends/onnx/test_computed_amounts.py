"""Resize scales, Pad pads and Tile repeats that the graph computes: from the input's shape (folded into the
static op when a run specializes on its shapes) or from data (read by the op when it runs, never baked in).
Each model is imported with symbolic dims and compiled once, then run at two input shapes against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import run_oracle

import hetflow as hf
from hetflow.ir.errors import HetflowError

F, I64 = TensorProto.FLOAT, TensorProto.INT64
BACKENDS = ["reference", "cpu_c"]


def _const(name: str, values: object, dtype: type = np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype), name))


def _model(nodes: list[onnx.NodeProto], inputs: dict[str, tuple[int, list[int | str]]]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "computed_amounts",
                              [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
                              [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def _dims(x: str, out: str, start: int, end: int) -> list[onnx.NodeProto]:
    """``out`` = Shape(x)[start:end] (int64)."""
    return [helper.make_node("Shape", [x], [f"{out}_s"]), _const(f"{out}_a", [start]), _const(f"{out}_b", [end]),
            helper.make_node("Slice", [f"{out}_s", f"{out}_a", f"{out}_b"], [out])]


def _check(model: onnx.ModelProto, backend: str, runs: list[dict[str, np.ndarray]], rtol: float = 1e-5) -> hf.Plan:
    """One import and one compile with symbolic dims; every run matches onnxruntime."""
    graph = hf.load(model)
    assert not all(v.type.is_static for v in graph.inputs)
    plan = hf.compile(graph, backend=backend)
    for feeds in runs:
        want = run_oracle(model, feeds)[0]
        got = plan.run(feeds)["y"]
        assert got.shape == want.shape, {k: v.shape for k, v in feeds.items()}
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5)
    return plan


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _specialized_ops(plan: hf.Plan, op: str) -> list[int]:
    """Input counts of ``op`` nodes in the latest specialization's subgraphs (empty if nothing specialized)."""
    latest = plan.specializations.latest()
    if latest is None:
        return []
    return [len(n.inputs) for s in latest.subgraphs for n in s.graph.nodes if n.op == op]


# ---------------------------------------------------------------- from shapes
def _tile_by_batch() -> onnx.ModelProto:
    """x.repeat(2, N): repeats = Concat([2], Shape(x)[0:1])."""
    return _model([*_dims("x", "n", 0, 1), _const("two", [2]),
                   helper.make_node("Concat", ["two", "n"], ["reps"], axis=0),
                   helper.make_node("Tile", ["x", "reps"], ["y"])], {"x": (F, ["N", 3])})


def _pad_to_multiple(mode: str) -> onnx.ModelProto:
    """Pad H and W at the end up to a multiple of 4: (4 - d % 4) % 4, as detectors do before a strided backbone."""
    nodes = [*_dims("x", "hw", 2, 4), _const("four", [4]),
             helper.make_node("Mod", ["hw", "four"], ["rem"]), helper.make_node("Sub", ["four", "rem"], ["gap"]),
             helper.make_node("Mod", ["gap", "four"], ["tail"]), _const("zeros", [0, 0, 0, 0, 0, 0]),
             helper.make_node("Concat", ["zeros", "tail"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)]
    return _model(nodes, {"x": (F, ["N", 2, "H", "W"])})


def _resize_to_other(mode: str) -> onnx.ModelProto:
    """Resize x by the scales that take its H, W to ref's: Cast(Shape(ref)[2:]) / Cast(Shape(x)[2:])."""
    nodes = [*_dims("x", "xhw", 2, 4), *_dims("ref", "rhw", 2, 4),
             helper.make_node("Cast", ["xhw"], ["xf"], to=F), helper.make_node("Cast", ["rhw"], ["rf"], to=F),
             helper.make_node("Div", ["rf", "xf"], ["ratio"]), _const("ones", [1.0, 1.0], np.float32),
             helper.make_node("Concat", ["ones", "ratio"], ["scales"], axis=0),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode,
                              coordinate_transformation_mode="half_pixel")]
    return _model(nodes, {"x": (F, ["N", 2, "H", "W"]), "ref": (F, [1, 1, "RH", "RW"])})


@pytest.mark.parametrize("backend", BACKENDS)
def test_tile_repeats_from_a_shape(backend: str) -> None:
    plan = _check(_tile_by_batch(), backend, [{"x": _x(1, 3)}, {"x": _x(4, 3, seed=1)}])
    if backend == "cpu_c":  # specialized per shape: the repeats folded, the plain static tile compiled to C
        assert _specialized_ops(plan, "tile") == [1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_amounts_from_a_shape(backend: str, mode: str) -> None:
    plan = _check(_pad_to_multiple(mode), backend, [{"x": _x(1, 2, 5, 6)}, {"x": _x(2, 2, 7, 8, seed=1)}])
    if backend == "cpu_c":
        assert _specialized_ops(plan, "pad") == [1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_scales_from_shapes(backend: str, mode: str) -> None:
    runs = [{"x": _x(1, 2, 4, 6), "ref": _x(1, 1, 8, 9)}, {"x": _x(2, 2, 6, 5, seed=1), "ref": _x(1, 1, 3, 10)}]
    plan = _check(_resize_to_other(mode), backend, runs)
    if backend == "cpu_c":
        assert _specialized_ops(plan, "resize") == [1]


def test_a_symbolic_compile_keeps_the_amounts_as_inputs() -> None:
    """Imported with symbolic dims, each op reads its computed amounts as a second input (nothing was fixed)."""
    for model, op in [(_tile_by_batch(), "tile"), (_pad_to_multiple("constant"), "pad"),
                      (_resize_to_other("linear"), "resize")]:
        nodes = [n for n in hf.load(model).nodes if n.op == op]
        assert [len(n.inputs) for n in nodes] == [2], op


# ---------------------------------------------------------------- from data
def _from_data() -> onnx.ModelProto:
    """Repeats, pads and scales given as graph inputs (the data a model computes on, never constants)."""
    nodes = [helper.make_node("Tile", ["x", "reps"], ["t"]),
             helper.make_node("Pad", ["t", "pads"], ["p"], mode="constant"),
             helper.make_node("Resize", ["p", "", "scales"], ["y"], mode="nearest")]
    return _model(nodes, {"x": (F, ["N", 3]), "reps": (I64, [2]), "pads": (I64, [4]), "scales": (F, [2])})


@pytest.mark.parametrize("backend", BACKENDS)
def test_amounts_given_as_data_are_read_when_the_graph_runs(backend: str) -> None:
    """Same shapes, other values: other results, each matching onnxruntime, from one compile (and for cpu_c one
    specialization per input-shape signature, not per value)."""
    def feeds(n: int, reps: list[int], pads: list[int], scales: list[float], seed: int) -> dict[str, np.ndarray]:
        return {"x": _x(n, 3, seed=seed), "reps": np.array(reps, np.int64), "pads": np.array(pads, np.int64),
                "scales": np.array(scales, np.float32)}

    runs = [feeds(2, [1, 2], [0, 1, 1, 0], [2.0, 1.5], 0), feeds(2, [3, 1], [1, 0, 0, 2], [0.5, 1.0], 1),
            feeds(5, [2, 2], [0, 0, 0, 0], [1.0, 2.0], 2)]
    plan = _check(_from_data(), backend, runs)
    if backend == "cpu_c":
        assert plan.specializations.compiles <= 2  # two input-shape signatures (N = 2, 5), three runs


@pytest.mark.parametrize("feed, match", [
    ({"reps": [-1, 1]}, "must not be negative"),
    ({"pads": [0, -9, 0, 0]}, "crop more than the input"),
    ({"scales": [0.0, 1.0]}, "positive finite"),
    ({"scales": [float("nan"), 1.0]}, "positive finite"),
    ({"scales": [1e30, 1.0]}, "larger than any tensor"),
])
def test_bad_amounts_given_as_data_are_one_clear_error(feed: dict, match: str) -> None:
    base = {"x": _x(2, 3), "reps": [1, 1], "pads": [0, 0, 0, 0], "scales": [1.0, 1.0]}
    base.update(feed)
    feeds = {k: np.asarray(v, np.float32 if k in ("x", "scales") else np.int64) for k, v in base.items()}
    plan = hf.compile(hf.load(_from_data()), backend="reference")
    with pytest.raises(HetflowError, match=match) as info:
        plan.run(feeds)
    assert "\n" not in str(info.value)


def test_amounts_of_the_wrong_length_are_refused_at_import() -> None:
    model = _model([helper.make_node("Tile", ["x", "reps"], ["y"])], {"x": (F, ["N", 3]), "reps": (I64, [3])})
    with pytest.raises(HetflowError, match="1-D integer tensor of 2 entries"):
        hf.load(model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pad_and_resize_axes_with_computed_amounts(backend: str) -> None:
    """Opset 18's ``axes``: computed pads and scales for a subset of the dims, scattered into the full vector."""
    nodes = [*_dims("x", "w", 3, 4), _const("one", [1]), helper.make_node("Mod", ["w", "one"], ["zero"]),
             helper.make_node("Concat", ["one", "zero", "w", "one"], ["pads"], axis=0), _const("axes", [1, -1]),
             helper.make_node("Pad", ["x", "pads", "", "axes"], ["p"], mode="edge"),
             helper.make_node("Cast", ["w"], ["wf"], to=F), helper.make_node("Div", ["wf", "wf"], ["unit"]),
             _const("half", [0.5], np.float32), helper.make_node("Add", ["unit", "half"], ["s"]),
             helper.make_node("Concat", ["s", "half"], ["scales"], axis=0),
             helper.make_node("Resize", ["p", "", "scales"], ["y"], mode="linear", axes=[3, 2])]
    model = _model(nodes, {"x": (F, ["N", 2, "H", "W"])})
    _check(model, backend, [{"x": _x(1, 2, 4, 6)}, {"x": _x(2, 2, 6, 3, seed=1)}])
