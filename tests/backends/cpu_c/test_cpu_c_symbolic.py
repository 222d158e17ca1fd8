"""A symbolic batch in cpu_c: one compiled library serves every batch size, equal to the reference at each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hetflow as hf
from hetflow.backends.cpu_c import CpuCBackend, CpuCExecutable, Toolchain, compiler
from hetflow.backends.cpu_c.table import supports
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, Value
from hetflow.ir.errors import HetflowError, InputError

RNG = np.random.default_rng(9)
BATCHES = (1, 7, 32)


def rand(*shape: int) -> np.ndarray:
    return RNG.uniform(-1.0, 1.0, shape).astype(np.float32)


def check(exe: CpuCExecutable, graph: Graph, feeds: dict[str, np.ndarray], rtol: float = 1e-4) -> None:
    got = exe.run(feeds)
    want = ReferenceBackend().compile(graph).run(feeds)
    for name, w in want.items():
        assert got[name].shape == w.shape, name
        np.testing.assert_allclose(got[name], w, rtol=rtol, atol=1e-5, err_msg=name)


def cnn(name: str = "symcnn") -> Graph:
    """conv + bias + relu, max pool, flatten, dense, softmax over a symbolic batch N."""
    g = Graph(name)
    x = g.add_input("x", "float32", ("N", 3, 12, 12))
    h = g.add_node("conv", [x, g.constant(rand(8, 3, 3, 3)), g.constant(rand(8))],
                   {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}).outputs[0]
    h = g.add_node("relu", [h]).outputs[0]
    h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}).outputs[0]
    h = g.add_node("reshape", [h], {"shape": (0, -1)}).outputs[0]
    h = g.add_node("matmul", [h, g.constant(rand(8 * 36, 10))]).outputs[0]
    g.outputs = [g.add_node("softmax", [h], {"axis": -1}).outputs[0]]
    return g


def test_one_compile_serves_batch_1_7_32(tmp_path: Path) -> None:
    g = cnn()
    before = compiler.STATS.compiler_runs
    exe = CpuCExecutable(g, threads=None, toolchain=Toolchain(cache_dir=tmp_path))
    compiled = compiler.STATS.compiler_runs - before
    assert compiled == 2  # the runtime library and the graph's, both new in this cache
    for n in BATCHES:
        check(exe, g, {"x": rand(n, 3, 12, 12)})
    assert compiler.STATS.compiler_runs - before == compiled  # no compile after the first
    assert exe.specializations == 1
    assert "hf_b < hf_s0" in exe.source and "symbolic: N" in exe.report()
    assert all(p.backend == "cpu_c" for p in exe.placement())


def test_an_empty_batch_gives_an_empty_output() -> None:
    exe = CpuCBackend().compile(cnn("empty"))
    out = exe.run({"x": np.zeros((0, 3, 12, 12), np.float32)})
    assert next(iter(out.values())).shape == (0, 10)


def test_hf_compile_places_the_symbolic_graph_on_cpu_c_and_compiles_once() -> None:
    g = cnn("symplan")
    plan = hf.compile(g)
    assert "cpu_c" in plan.report() and "reference" not in plan.report()
    before = compiler.STATS.compiler_runs
    for n in BATCHES:
        feeds = {"x": rand(n, 3, 12, 12)}
        want = ReferenceBackend().compile(g).run(feeds)
        got = plan.run(feeds)
        for name, w in want.items():
            np.testing.assert_allclose(got[name], w, rtol=1e-4, atol=1e-5)
    assert compiler.STATS.compiler_runs == before


def _chain(g: Graph, x: Value) -> Value:
    """Ops that each treat samples independently, over a [N, 4, 6] input."""
    h = g.add_node("transpose", [x], {"perm": (0, 2, 1)}).outputs[0]  # [N, 6, 4]
    h = g.add_node("layer_norm", [h, g.constant(rand(4)), g.constant(rand(4))], {"axis": -1}, num_outputs=1).outputs[0]
    a, b = g.add_node("split", [h], {"axis": 1, "sizes": (2, 4)}, num_outputs=2).outputs
    h = g.add_node("concat", [b, a, g.add_node("sigmoid", [a]).outputs[0]], {"axis": 1}).outputs[0]  # [N, 8, 4]
    h = g.add_node("slice", [h], {"starts": (1,), "ends": (7,), "axes": (1,), "steps": (2,)}).outputs[0]  # [N, 3, 4]
    h = g.add_node("pad", [h], {"pads": (0, 1, 0, 0, 0, 2), "mode": "constant", "value": 0.5}).outputs[0]  # [N, 4, 6]
    h = g.add_node("reduce_sum", [h], {"axes": (2,), "keepdims": True}).outputs[0]  # [N, 4, 1]
    h = g.add_node("expand", [h], {"shape": (1, 4, 3)}).outputs[0]  # [N, 4, 3]
    return g.add_node("add", [h, g.add_node("expand", [g.constant(rand(1, 4, 3))], {"shape": (1, 4, 3)}).outputs[0]]
                      ).outputs[0]


def test_data_movement_norms_and_reductions_over_a_symbolic_batch() -> None:
    g = Graph("symmove")
    x = g.add_input("x", "float32", ("N", 4, 6))
    g.outputs = [_chain(g, x)]
    exe = CpuCBackend().compile(g, fallback="error")
    for n in BATCHES:
        check(exe, g, {"x": rand(n, 4, 6)})
    assert exe.specializations == 1


def test_a_generic_epilogue_reads_the_sample_it_runs_on() -> None:
    """matmul + residual + sigmoid: the per-tile post function must find its sample's residual."""
    g = Graph("symepi")
    x = g.add_input("x", "float32", ("N", 5, 16))
    r = g.add_input("r", "float32", ("N", 5, 24))
    h = g.add_node("matmul", [x, g.constant(rand(16, 24))]).outputs[0]
    h = g.add_node("add", [h, r]).outputs[0]
    g.outputs = [g.add_node("sigmoid", [g.add_node("mul", [h, h]).outputs[0]]).outputs[0]]
    exe = CpuCBackend().compile(g, fallback="error")
    for n in BATCHES:
        check(exe, g, {"x": rand(n, 5, 16), "r": rand(n, 5, 24)})
    assert "hf_matmul(1, 5L * hf_s0," in exe.source  # the batch runs as more rows of one product


def test_a_residual_broadcast_within_each_sample_loops_over_the_samples() -> None:
    g = Graph("symepi2")
    x = g.add_input("x", "float32", ("N", 5, 16))
    r = g.add_input("r", "float32", ("N", 1, 24))
    h = g.add_node("matmul", [x, g.constant(rand(16, 24))]).outputs[0]
    h = g.add_node("add", [h, r]).outputs[0]
    g.outputs = [g.add_node("tanh", [g.add_node("mul", [h, h]).outputs[0]]).outputs[0]]
    exe = CpuCBackend().compile(g, fallback="error")
    for n in BATCHES:
        check(exe, g, {"x": rand(n, 5, 16), "r": rand(n, 1, 24)})
    assert "hf_b < hf_s0" in exe.source and "fr->b" in exe.source


def test_a_leading_dim_with_a_multiplier() -> None:
    g = Graph("symmul")
    x = g.add_input("x", "float32", ("N*2", 3))
    y = g.add_input("y", "float32", ("N", 3))
    h = g.add_node("relu", [x]).outputs[0]
    g.outputs = [h, g.add_node("sigmoid", [y]).outputs[0]]
    exe = CpuCBackend().compile(g, fallback="error")
    for n in BATCHES:
        check(exe, g, {"x": rand(2 * n, 3), "y": rand(n, 3)})
    with pytest.raises(InputError, match="not a multiple of 2"):
        exe.run({"x": rand(5, 3), "y": rand(2, 3)})


def test_a_node_acting_along_the_batch_stays_on_the_reference_with_its_reason() -> None:
    g = Graph("symreduce")
    x = g.add_input("x", "float32", ("N", 4))
    h = g.add_node("relu", [x]).outputs[0]
    s = g.add_node("reduce_sum", [h], {"axes": (0,), "keepdims": True}).outputs[0]
    g.outputs = [g.add_node("softmax", [x], {"axis": 0}).outputs[0], s]
    exe = CpuCBackend().compile(g)
    for n in BATCHES:
        check(exe, g, {"x": rand(n, 4)})
    report = exe.report()
    assert "reduces over it" in report and "softmax along axis 0" in report
    assert exe.specializations == 1


def test_a_symbolic_spatial_dim_is_refused_with_a_reason() -> None:
    g = Graph("symhw")
    x = g.add_input("x", "float32", ("N", 3, "H", "W"))
    g.outputs = [g.add_node("conv", [x, g.constant(rand(4, 3, 3, 3))],
                            {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)}).outputs[0]]
    reason = supports(g.nodes[0])
    assert reason is not None and "only the leading dim" in reason
    exe = CpuCBackend().compile(g)  # compiled per input shape instead
    for hw in (5, 9):
        check(exe, g, {"x": rand(2, 3, hw, hw)})
    assert exe.specializations == 2 and "compiled per input shape" in exe.report()


def test_inputs_that_disagree_on_the_batch_are_one_clear_error() -> None:
    g = Graph("symtwo")
    a = g.add_input("a", "float32", ("N", 3))
    b = g.add_input("b", "float32", ("N", 3))
    g.outputs = [g.add_node("add", [a, b]).outputs[0]]
    exe = CpuCBackend().compile(g, fallback="error")
    with pytest.raises(InputError, match="N = 4"):
        exe.run({"a": rand(2, 3), "b": rand(4, 3)})
    check(exe, g, {"a": rand(4, 3), "b": rand(4, 3)})


def test_a_symbolic_library_is_saved_and_loaded_without_compiling(tmp_path: Path) -> None:
    g = cnn("symsave")
    backend = CpuCBackend()
    exe = backend.compile(g)
    backend.save_artifact(exe, tmp_path)
    before = compiler.STATS.compiler_runs
    loaded = backend.load_artifact(tmp_path, g)
    assert compiler.STATS.compiler_runs == before and loaded.specializations == 1
    for n in (3, 11):
        check(loaded, g, {"x": rand(n, 3, 12, 12)})


def test_fallback_error_names_the_symbolic_reason() -> None:
    g = Graph("symerr")
    x = g.add_input("x", "float32", ("N", 4))
    g.outputs = [g.add_node("reduce_max", [x], {"axes": None, "keepdims": False}).outputs[0]]
    with pytest.raises(HetflowError, match="reduce_max"):
        CpuCBackend().compile(g, fallback="error")


def test_a_shape_known_only_at_run_time_stays_on_the_reference() -> None:
    """A Range whose length is data: the values after it have a symbol no input binds (refused, not crashed)."""
    g = Graph("symrange")
    n = g.add_input("n", "int64", ())
    r = g.add_node("range", [g.constant(np.array(0, np.int64)), n, g.constant(np.array(1, np.int64))]).outputs[0]
    h = g.add_node("cast", [r], {"to": "float32"}).outputs[0]
    g.outputs = [g.add_node("mul", [h, g.constant(np.array(2.0, np.float32))]).outputs[0]]
    assert not r.type.is_static
    exe = CpuCBackend().compile(g)
    for k in (3, 9):
        check(exe, g, {"n": np.array(k, np.int64)})
    assert "known only at run time" in exe.report()


def test_an_onnx_model_with_a_dynamic_batch_runs_on_cpu_c_and_matches_onnxruntime() -> None:
    """Conv, ReLU, Resize, GlobalAveragePool, Flatten, Gemm with dim_param 'batch': compiled once, every node in C."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Resize", ["r", "", "scales"], ["u"], mode="linear"),
             helper.make_node("GlobalAveragePool", ["u"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "G"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(rand(8, 3, 3, 3), "W"), numpy_helper.from_array(rand(10, 8), "G"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    graph = helper.make_graph(nodes, "dynbatch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    plan = hf.compile(hf.load(model))
    assert "reference" not in plan.report()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    before = compiler.STATS.compiler_runs
    for n in BATCHES:
        x = rand(n, 3, 16, 16)
        np.testing.assert_allclose(plan.run({"x": x})["y"], session.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)
    assert compiler.STATS.compiler_runs == before
