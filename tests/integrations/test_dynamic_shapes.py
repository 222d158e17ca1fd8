"""Dynamic shapes through the framework-facing doors: ``hetflow.onnx_backend`` prepares once and recompiles only
on new shapes, never baking data inputs in; ``hetflow run`` runs models with -1 / named dims at the --input
shapes. Every result is checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from runtime.dynamic_models import batch_mlp, resolution_cnn, tile_by_batch, upsample_by_shape
from typer.testing import CliRunner

import hetflow.onnx_backend as backend
from hetflow.cli import app
from hetflow.errors import HetflowError
from hetflow.runtime.specialize import SpecializationCache

ort = pytest.importorskip("onnxruntime")


def oracle(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def sample(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def plan_cache(rep: backend.HetflowBackendRep) -> SpecializationCache:
    (plan,) = rep._plans.values()  # one plan: the model was imported once
    assert isinstance(plan.specializations, SpecializationCache)
    return plan.specializations


# ---------------------------------------------------------------- onnx.backend
def test_same_shape_different_values_compiles_once_and_is_right_both_times() -> None:
    model = resolution_cnn()
    rep = backend.prepare(model, "CPU")  # cpu_c
    for seed in (1, 2):
        x = sample((1, 3, 12, 10), seed)
        np.testing.assert_allclose(rep.run([x])[0], oracle(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    assert rep.compiles == 1 and rep.bound_inputs == () and not rep.imports_per_shape
    cache = plan_cache(rep)
    # cpu_c specializes the plan for the image size once (its loops take only a symbolic batch); then a hit
    assert (cache.compiles, cache.hits) == (1, 1)


def test_a_dynamic_batch_on_cpu_c_compiles_nothing_after_prepare() -> None:
    model = batch_mlp()
    rep = backend.prepare(model, "CPU")  # cpu_c, whose generated loops take the batch at run time
    for n in (1, 4, 4):
        x = sample((n, 3, 8, 8), n)
        np.testing.assert_allclose(rep.run([x])[0], oracle(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    cache = plan_cache(rep)
    assert rep.compiles == 1 and not cache.needed and cache.compiles == 0


def test_a_new_shape_is_specialized_by_the_plan_not_reprepared() -> None:
    model = batch_mlp()
    rep = backend.prepare(model, "CPU", backend="reference")
    for n in (1, 5, 1):
        x = sample((n, 3, 8, 8), n)
        np.testing.assert_allclose(rep.run({"x": x}).y, oracle(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
    assert rep.compiles == 1 and plan_cache(rep).compiles == 0  # the interpreter takes every batch as compiled


def test_repeats_computed_from_a_shape_prepare_once_and_specialize_per_shape() -> None:
    model = tile_by_batch()
    rep = backend.prepare(model, "CPU")
    for seed, shape in enumerate([(2, 3), (2, 3), (4, 5), (2, 3)]):
        x = sample(shape, seed)
        np.testing.assert_allclose(rep.run([x])[0], oracle(model, {"x": x})[0], rtol=1e-6)
    assert rep.compiles == 1 and not rep.imports_per_shape and rep.bound_inputs == ()  # x's data never compiled in
    cache = plan_cache(rep)
    assert (cache.compiles, cache.hits) == (2, 2)  # two shapes, two specializations; new values reuse them


def test_a_shape_computation_the_ir_cannot_keep_symbolic_imports_per_shape_not_per_value() -> None:
    model = upsample_by_shape()
    rep = backend.prepare(model, "CPU")
    for seed, shape in enumerate([(1, 1, 2, 3), (1, 1, 2, 3), (1, 1, 2, 4), (1, 1, 2, 3)]):
        x = sample(shape, seed)
        np.testing.assert_allclose(rep.run([x])[0], oracle(model, {"x": x})[0], rtol=1e-6)
    assert rep.imports_per_shape and rep.bound_inputs == ()  # x's data is never compiled in
    assert rep.compiles == 2 and rep.specializations == 2  # two shapes, two compiles; new values reuse them


def test_resize_of_symbolic_dims_prepares_once() -> None:
    """Resize scaling symbolic dims imports symbolically: one prepare serves every input size, nothing bound."""
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    graph = helper.make_graph(nodes, "upsample", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rep = backend.prepare(model, "CPU", backend="reference")
    for shape in [(1, 2, 3, 4), (1, 2, 5, 2)]:
        x = sample(shape, 0)
        np.testing.assert_array_equal(rep.run([x])[0], oracle(model, {"x": x})[0])
    assert not rep.imports_per_shape and rep.compiles == 1 and rep.bound_inputs == ()


def test_a_runtime_reshape_target_is_an_input_not_a_constant() -> None:
    """A Reshape whose target is a graph input: neither it nor x is compiled in; one prepare serves every value."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Relu", ["r"], ["y"])]
    graph = helper.make_graph(nodes, "reshape_param",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6]),
                               helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rep = backend.prepare(model, "CPU", backend="reference")
    for seed, (x_shape, target) in enumerate([((2, 6), [3, 4]), ((2, 6), [3, 4]), ((2, 6), [4, 3])]):
        feeds = {"x": sample(x_shape, seed), "shape": np.array(target, np.int64)}
        np.testing.assert_array_equal(rep.run(feeds)[0], oracle(model, feeds)[0])
    assert rep.bound_inputs == () and rep.compiles == 1


def test_prepare_still_refuses_a_broken_model_with_symbolic_inputs() -> None:
    nodes = [helper.make_node("NoSuchOp", ["x"], ["y"])]
    graph = helper.make_graph(nodes, "broken", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(HetflowError, match="NoSuchOp"):
        backend.prepare(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "CPU")


# ---------------------------------------------------------------- hetflow run
def with_input_dims(model: onnx.ModelProto, dims: list[int | str]) -> onnx.ModelProto:
    """``model`` with its input ``x`` declared with ``dims`` (-1 written as a dim_value, as some exporters do)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    shape = copy.graph.input[0].type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d
    return copy


@pytest.mark.parametrize(("name", "model", "dims", "shape"), [
    ("minus_one_batch", batch_mlp(), [-1, 3, 8, 8], (6, 3, 8, 8)),
    ("named_batch", batch_mlp(), ["batch", 3, 8, 8], (3, 3, 8, 8)),
    ("named_resolution", resolution_cnn(), [1, 3, "H", "W"], (1, 3, 13, 21)),
    ("shape_computation", tile_by_batch(), ["N", "L"], (3, 4)),
])
def test_cli_runs_dynamic_dims_at_the_input_shapes(tmp_path: Path, name: str, model: onnx.ModelProto,
                                                   dims: list[int | str], shape: tuple[int, ...]) -> None:
    model = with_input_dims(model, dims)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    x = sample(shape, 3)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(app, ["run", str(path), "--input", f"x={tmp_path / 'x.npy'}", "--backend", "cpu_c",
                                      "--output", str(tmp_path / "out.npz")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["y"], oracle(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_cli_input_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    onnx.save(with_input_dims(batch_mlp(), [-1, 3, 8, 8]), path)
    np.save(tmp_path / "x.npy", sample((2, 4, 8, 8), 0))
    result = CliRunner().invoke(app, ["run", str(path), "--input", f"x={tmp_path / 'x.npy'}"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "input 'x'" in result.output and "[2, 4, 8, 8]" in result.output
