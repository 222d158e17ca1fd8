"""Run-time shape specialization (issue 9 item 2): a plan compiled once with symbolic dims runs at new shapes,
recompiling only what cannot take them as compiled, cached by shape signature (bounded, LRU), checked against
onnxruntime. Compile counts come from counting the backends' own ``compile`` calls, not only from the cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from runtime.dynamic_models import batch_mlp, resolution_cnn, torch_exported

import hetflow as hf
from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.reference import ReferenceBackend
from hetflow.config import get_config, set_config
from hetflow.ir import Graph
from hetflow.runtime.specialize import SpecializationCache

ort = pytest.importorskip("onnxruntime")


class CompileCounter:
    """Counts ``compile`` calls of the backends it wraps."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *classes: type) -> None:
        self.calls: dict[str, int] = {}
        for cls in classes:
            original = cls.compile

            def counted(backend, graph, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
                self.calls[backend.name] = self.calls.get(backend.name, 0) + 1
                return _original(backend, graph, *args, **kwargs)

            monkeypatch.setattr(cls, "compile", counted)

    def reset(self) -> None:
        self.calls.clear()

    def __getitem__(self, name: str) -> int:
        return self.calls.get(name, 0)


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> CompileCounter:
    return CompileCounter(monkeypatch, ReferenceBackend, CpuCBackend)


@pytest.fixture
def cache_size() -> Iterator[None]:
    """Restore the process config after a test that bounds the cache."""
    saved = get_config()
    yield
    set_config(saved)


def oracle(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def sample(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def cache_of(plan: hf.Plan) -> SpecializationCache:
    assert isinstance(plan.specializations, SpecializationCache)
    return plan.specializations


def run_batches(model: onnx.ModelProto, plan: hf.Plan, batches: tuple[int, ...]) -> None:
    for i, n in enumerate(batches):
        x = sample((n, 3, 8, 8), seed=i)
        np.testing.assert_allclose(plan.run({"x": x})["y"], oracle(model, x), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- dynamic batch
def test_reference_plan_runs_every_batch_without_recompiling(counter: CompileCounter) -> None:
    model = batch_mlp()
    plan = hf.compile(hf.load(model), backend="reference")
    assert counter["reference"] == 1
    counter.reset()
    run_batches(model, plan, (1, 7, 32, 7))
    assert counter.calls == {}  # the interpreter takes every batch as compiled
    cache = cache_of(plan)
    assert not cache.needed and cache.compiles == 0 and cache.specializations == []
    assert "nothing specialized (4 run(s) over 3 input-shape signature(s))" in plan.report()


def test_cpu_c_plan_runs_every_batch_without_recompiling(counter: CompileCounter) -> None:
    model = batch_mlp()
    plan = hf.compile(hf.load(model), backend="cpu_c")
    assert counter["cpu_c"] == 1
    counter.reset()
    run_batches(model, plan, (1, 7, 32, 7, 1))
    # cpu_c's generated loops take a symbolic batch at run time (CpuCBackend.shape_polymorphic): nothing compiles
    assert CpuCBackend().shape_polymorphic(plan.subgraphs[0].executable)
    assert counter.calls == {}
    cache = cache_of(plan)
    assert not cache.needed and cache.compiles == 0 and cache.specializations == []
    assert "nothing specialized (5 run(s) over 3 input-shape signature(s))" in plan.report()


def test_cpu_c_plan_specializes_per_resolution_and_reports_it(counter: CompileCounter) -> None:
    model = resolution_cnn()
    plan = hf.compile(hf.load(model), backend="cpu_c")
    counter.reset()
    for i, (h, w) in enumerate([(8, 8), (12, 10), (16, 6), (12, 10), (8, 8)]):
        x = sample((1, 3, h, w), seed=i)
        np.testing.assert_allclose(plan.run({"x": x})["y"], oracle(model, x), rtol=1e-4, atol=1e-4)
    # H and W are not leading dims: cpu_c compiles per image size, and the plan caches each
    assert not CpuCBackend().shape_polymorphic(plan.subgraphs[0].executable)
    assert counter["cpu_c"] == 3
    cache = cache_of(plan)
    assert (cache.compiles, cache.hits, cache.evicted) == (3, 2, 0)
    assert [s.signature for s in cache.specializations] == [(("x", (1, 3, 16, 6)),), (("x", (1, 3, 12, 10)),),
                                                            (("x", (1, 3, 8, 8)),)]
    report = plan.report()
    assert "3 kept (at most 8), 3 compile(s), 2 hit(s), 0 eviction(s)" in report
    assert "x=[1,3,12,10]: sub0 compiled in" in report and "(measured), 1 hit(s)" in report


def test_torch_exported_dynamic_batch_compiles_once_on_reference(counter: CompileCounter) -> None:
    pytest.importorskip("torch")
    model = torch_exported("batch")
    assert any(n.op_type == "Shape" for n in model.graph.node)  # the exporter wrote the flatten as a shape computation
    plan = hf.compile(hf.load(model), backend="reference")
    counter.reset()
    run_batches(model, plan, (1, 7, 32))
    assert counter.calls == {} and cache_of(plan).compiles == 0


def test_torch_exported_dynamic_batch_on_cpu_c(counter: CompileCounter) -> None:
    pytest.importorskip("torch")
    model = torch_exported("batch")
    plan = hf.compile(hf.load(model), backend="cpu_c")
    counter.reset()
    run_batches(model, plan, (1, 7, 32, 32))
    assert counter.calls == {} and cache_of(plan).compiles == 0  # the batch is a run-time parameter of the C


# ---------------------------------------------------------------- dynamic resolution
@pytest.mark.parametrize("exporter", ["onnx.helper", "torch.onnx"])
def test_dynamic_resolution_cnn_specializes_per_resolution(exporter: str, counter: CompileCounter) -> None:
    if exporter == "torch.onnx":
        pytest.importorskip("torch")
    model = resolution_cnn() if exporter == "onnx.helper" else torch_exported("resolution")
    batch = 1 if exporter == "onnx.helper" else 2
    plan = hf.compile(hf.load(model), backend="cpu_c")
    counter.reset()
    for i, (h, w) in enumerate([(16, 20), (9, 33), (16, 20), (9, 33), (16, 20)]):
        x = sample((batch, 3, h, w), seed=i)
        np.testing.assert_allclose(plan.run({"x": x})["y"], oracle(model, x), rtol=1e-4, atol=1e-4)
    assert counter["cpu_c"] == 2  # two resolutions, two compiles
    cache = cache_of(plan)
    assert (cache.compiles, cache.hits) == (2, 3)
    reference = hf.compile(hf.load(model), backend="reference")
    counter.reset()
    for h, w in [(16, 20), (9, 33)]:
        reference.run({"x": sample((batch, 3, h, w))})
    assert counter.calls == {}


# ---------------------------------------------------------------- the cache's bound
# The tests from here on specialize on image sizes (H, W), which stay rigid for cpu_c when it takes a symbolic batch.
def run_resolutions(model: onnx.ModelProto, plan: hf.Plan, sizes: tuple[tuple[int, int], ...]) -> None:
    for i, (h, w) in enumerate(sizes):
        x = sample((1, 3, h, w), seed=i)
        np.testing.assert_allclose(plan.run({"x": x})["y"], oracle(model, x), rtol=1e-4, atol=1e-4)


def test_least_recently_used_specialization_is_evicted_at_the_bound(counter: CompileCounter, cache_size: None) -> None:
    set_config(dataclasses.replace(get_config(), specialize_cache_size=2))
    model = resolution_cnn()
    plan = hf.compile(hf.load(model), backend="cpu_c")
    counter.reset()
    run_resolutions(model, plan, ((8, 8), (9, 9), (8, 8), (10, 10)))  # 9x9 is least recently used when 10x10 arrives
    cache = cache_of(plan)
    assert cache.capacity == 2 and cache.evicted == 1
    assert [s.signature[0][1][2] for s in cache.specializations] == [8, 10]
    assert counter["cpu_c"] == 3
    run_resolutions(model, plan, ((9, 9),))  # evicted: compiled again, and now 8x8 goes
    assert counter["cpu_c"] == 4 and cache.evicted == 2
    assert [s.signature[0][1][2] for s in cache.specializations] == [10, 9]
    assert "evicted (least recently used, latest last): x=[1,3,9,9]; x=[1,3,8,8]" in plan.report()


def test_a_cache_bound_below_one_is_refused(cache_size: None) -> None:
    set_config(dataclasses.replace(get_config(), specialize_cache_size=0))
    plan = hf.compile(hf.load(batch_mlp()), backend="cpu_c")
    with pytest.raises(hf.HetflowError, match="at least 1"):
        plan.run({"x": sample((1, 3, 8, 8))})


# ---------------------------------------------------------------- bad bindings
def two_inputs() -> Graph:
    g = Graph("two_inputs")
    a = g.add_input("a", "float32", ("batch", 4))
    b = g.add_input("b", "float32", ("batch", 4))
    g.outputs.append(g.add_node("add", [a, b], name="sum").outputs[0])
    return g


def test_one_symbol_bound_to_two_sizes_is_one_line_naming_input_and_dim() -> None:
    plan = hf.compile(two_inputs(), backend="cpu_c")
    with pytest.raises(hf.InputError) as caught:
        plan.run({"a": np.ones((2, 4), np.float32), "b": np.ones((3, 4), np.float32)})
    message = str(caught.value)
    assert "\n" not in message and "input 'b'" in message and "dim 0" in message and "'batch'=2" in message
    out = plan.run({"a": np.ones((3, 4), np.float32), "b": np.ones((3, 4), np.float32)})
    np.testing.assert_array_equal(out[plan.graph.outputs[0].name], np.full((3, 4), 2, np.float32))


def test_shapes_an_op_cannot_take_are_one_line_naming_the_node() -> None:
    g = Graph("mm")
    x = g.add_input("x", "float32", ("n", "k"))
    w = g.constant(np.ones((4, 2), np.float32), "w")
    g.outputs.append(g.add_node("matmul", [x, w], name="mm").outputs[0])
    plan = hf.compile(g, backend="cpu_c")
    with pytest.raises(hf.InputError, match="node 'mm'"):
        plan.run({"x": np.ones((3, 5), np.float32)})


# ---------------------------------------------------------------- what a specialization compiles
def test_shape_computations_fold_in_a_specialization() -> None:
    """A ``shape`` node left in the graph (here: a dim used as data) is a constant once shapes are bound: the
    specialized subgraph cpu_c compiles has no shape node left."""
    g = Graph("scale_by_width")
    x = g.add_input("x", "float32", (4, "k"))
    k = g.add_node("shape", [x], {"start": 1, "end": 2}, name="dims").outputs[0]
    scale = g.add_node("cast", [k], {"to": "float32"}, name="as_float").outputs[0]
    g.outputs.append(g.add_node("mul", [x, scale], name="scaled").outputs[0])
    plan = hf.compile(g, backend="cpu_c")
    x5 = np.ones((4, 5), np.float32)
    np.testing.assert_array_equal(plan.run({"x": x5})[plan.graph.outputs[0].name], x5 * 5)
    (entry,) = cache_of(plan).specializations
    compiled = entry.plan.subgraphs[0].graph
    assert compiled is not None and [node.op for node in compiled.nodes] == ["mul"]


def test_stream_of_mixed_shapes_keeps_item_order() -> None:
    model = resolution_cnn()
    plan = hf.compile(hf.load(model), backend="cpu_c")
    xs = [sample((1, 3, h, w), seed=h) for h, w in ((8, 8), (8, 8), (12, 6), (8, 8))]
    outs = plan.run_stream([{"x": x} for x in xs])
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(out["y"], oracle(model, x), rtol=1e-4, atol=1e-4)
    assert (cache_of(plan).compiles, cache_of(plan).hits) == (2, 1)


def test_cluster_plan_keeps_placement_and_respecializes_each_subgraph(counter: CompileCounter) -> None:
    """Three subgraphs on two devices, each computed by cpu_c: a new size compiles the two whose inputs have
    symbolic dims, for the same devices; the last (after the global pool, static inputs) keeps its artifact."""
    model = resolution_cnn()
    graph = hf.load(model)
    names = [node.name for node in graph.nodes]
    pins = {names[0]: "node0/cpu:0", names[1]: "node0/h200:0", names[-1]: "node0/cpu:0"}
    plan = hf.compile(graph, "datacenter-node", pins=pins, emulate_with="cpu_c")
    assert len(plan.subgraphs) == 3
    counter.reset()
    run_resolutions(model, plan, ((8, 8), (12, 10), (8, 8)))
    assert counter["cpu_c"] == 2 * 2
    (first, second) = cache_of(plan).specializations
    for entry in (first, second):
        assert entry.compiled == ["sub0", "sub1"]
        assert [(s.name, s.device, s.backend) for s in entry.plan.subgraphs] == \
            [(s.name, s.device, s.backend) for s in plan.subgraphs]
        assert entry.plan.subgraphs[2].executable is plan.subgraphs[2].executable
    assert plan.last_run is not None and plan.last_run.items == 1


def test_a_saved_symbolic_plan_specializes_after_loading(tmp_path: Path) -> None:
    model = resolution_cnn()
    hf.compile(hf.load(model), backend="cpu_c").save(tmp_path / "plan")
    loaded = hf.Plan.load(tmp_path / "plan")
    run_resolutions(model, loaded, ((8, 8), (10, 6), (8, 8)))
    assert (cache_of(loaded).compiles, cache_of(loaded).hits) == (2, 1)


def zero_state_model() -> onnx.ModelProto:
    """The chain tf2onnx writes for an RNN's zero initial state, then the same again on a value derived from it
    (as hey_mycroft's second bidirectional layer does): x is ``[N,3,4]``, made time-major (so that the batch is
    not the leading dim and cpu_c compiles per input shape); ``Shape(x)[0:1] ++ [4] -> ConstantOfShape`` is the
    state h ``[N,4]``, added to every step; ``Shape`` of that sum ``-> ConstantOfShape`` scales it. Specialized
    at batch 1, re-inference alone types h as two fresh symbols and ``[3,1,4] + h`` keeps one (1 broadcasts), so
    the second chain survives unless the specialization keeps what the importer knew and folding sharpens types
    as it goes."""
    value = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("Transpose", ["x"], ["steps"], perm=[1, 0, 2]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Slice", ["x_shape", "start", "stop"], ["n"]),
        helper.make_node("Concat", ["n", "width"], ["h_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["h_shape"], ["h"], value=value),
        helper.make_node("Add", ["steps", "h"], ["sh"]),
        helper.make_node("Shape", ["sh"], ["sh_shape"]),
        helper.make_node("ConstantOfShape", ["sh_shape"], ["ones"], value=one),
        helper.make_node("Mul", ["sh", "ones"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["y"]),
    ]
    consts = [numpy_helper.from_array(np.array(v, np.int64), name)
              for name, v in (("start", [0]), ("stop", [1]), ("width", [4]))]
    graph = helper.make_graph(nodes, "zero_state", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, "N", 4])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("batch", [1, 4])
def test_shape_chains_fold_at_every_batch_and_cpu_c_generates_the_rest(batch: int) -> None:
    """After specialization nothing computed only from shapes is left (no shape or constant_of_shape node), and
    cpu_c generates every node that consumed them: at batch 1 too, where broadcasting keeps a symbol until the
    first chain has folded."""
    model = zero_state_model()
    plan = hf.compile(hf.load(model), backend="cpu_c")
    x = sample((batch, 3, 4), seed=batch)
    np.testing.assert_allclose(plan.run({"x": x})["y"], oracle(model, x), rtol=1e-5, atol=1e-6)
    (sub,) = plan.ran_subgraphs()
    assert sub.graph is not None and not {"shape", "constant_of_shape"} & {n.op for n in sub.graph.nodes}
    on_reference = [(p.node, p.reason) for p in sub.executable.placement() if p.backend != "cpu_c"]
    assert on_reference == [], f"batch {batch}: {on_reference}"
