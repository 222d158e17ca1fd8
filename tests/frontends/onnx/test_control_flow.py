"""ONNX If / Loop / Scan imported into the IR's control-flow ops, each model checked against onnxruntime at two shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

import hetflow as hf
from hetflow.backends.cpu_c import CpuCExecutable
from hetflow.frontends.context import NeedsConstant
from hetflow.frontends.onnx import import_model
from hetflow.integrations.onnx_backend import HetflowBackend
from hetflow.ir import format_graph, verify
from hetflow.ir.errors import HetflowError, ModelError

F, I64, B = T.FLOAT, T.INT64, T.BOOL


def _vi(name: str, elem: int, shape: list | None = None) -> onnx.ValueInfoProto:
    return h.make_tensor_value_info(name, elem, shape)


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes: list, inputs: list, outputs: list, inits: list | None = None, opset: int = 17) -> onnx.ModelProto:
    graph = h.make_graph(nodes, "control", inputs, outputs, inits or [])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    return model


BACKENDS = ["reference", "cpu_c"]
"""cpu_c iterates on the host with each body compiled by cpu_c; the reference interprets the bodies."""


def _check(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], backend: str = "reference") -> hf.Plan:
    """Compile once and run every feed (different shapes included); outputs match onnxruntime's, and (for another
    backend) the reference backend's."""
    plan = hf.compile(import_model(model), backend=backend)
    reference = None if backend == "reference" else hf.compile(import_model(model), backend="reference")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    for feed in feeds:
        got = plan.run(feed)
        oracle = reference.run(feed) if reference is not None else got
        for name, want in zip(names, session.run(None, feed)):
            if want.shape == (0,) and got[name].shape[:1] == (0,) and got[name].size == 0:
                continue  # no iteration: onnxruntime gives [0] where the ONNX body declares no element shape; hetflow
                # gives [0, *element shape], the shape the node's type declares (test_loop_with_nested_if_and_captures)
            assert got[name].shape == want.shape, name
            np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=name)
            np.testing.assert_allclose(got[name], oracle[name], rtol=1e-5, atol=1e-5, err_msg=name)
    return plan


def _cpu_c(plan: hf.Plan) -> CpuCExecutable:
    """The cpu_c executable that ran last (a specialization's, when the plan compiles per input shape)."""
    (sub,) = plan.ran_subgraphs()
    assert isinstance(sub.executable, CpuCExecutable)
    return sub.executable


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- If
def _if_model() -> onnx.ModelProto:
    """y = c ? relu(x) * a : x + b - x0; the branches capture outer values (an input, a computed value, weights)."""
    then = h.make_graph([h.make_node("Mul", ["r", "a"], ["t"])], "then", [], [_vi("t", F)])
    other = h.make_graph([h.make_node("Add", ["x", "b"], ["s"]), h.make_node("Sub", ["s", "x"], ["e"])],
                         "else", [], [_vi("e", F)])
    nodes = [h.make_node("Relu", ["x"], ["r"]),
             h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
             h.make_node("Mul", ["y", "y"], ["z"])]
    return _model(nodes, [_vi("x", F, ["N", 3]), _vi("c", B, [])], [_vi("y", F, ["N", 3]), _vi("z", F, ["N", 3])],
                  [_const("a", np.float32([1, 2, 3])), _const("b", np.float32([5, -5, 0.5]))])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cond", [True, False])
def test_if_with_outer_captures(cond: bool, backend: str) -> None:
    model = _if_model()
    plan = _check(model, [{"x": _rand(n, 3), "c": np.array(cond)} for n in (2, 7)], backend)
    (node,) = [n for n in plan.graph.nodes if n.op == "if"]
    assert [v.name for v in node.inputs] == ["c", "r", "x"]  # the captured values are the node's inputs
    assert "if" in [n.op for n in plan.graph.nodes]


def test_if_with_constant_condition_is_inlined() -> None:
    model = _if_model()
    model.graph.initializer.append(_const("c", np.array(False)))
    del model.graph.input[1]
    graph = import_model(model)
    assert "if" not in [n.op for n in graph.nodes]
    x = _rand(3, 3)
    out = hf.compile(graph, backend="reference").run({"x": x})
    np.testing.assert_allclose(out["y"], x + np.float32([5, -5, 0.5]) - x, rtol=1e-6)


def _if_shapes_model(other_keepdims: int) -> onnx.ModelProto:
    """then: x [N, 3]; else: the row sums, [N, 1] (keepdims) or [N] (another rank)."""
    then = h.make_graph([h.make_node("Identity", ["x"], ["t"])], "then", [], [_vi("t", F)])
    other = h.make_graph([h.make_node("ReduceSum", ["x", "one"], ["e"], keepdims=other_keepdims)], "else", [],
                         [_vi("e", F)])
    return _model([h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                  [_vi("x", F, ["N", 3]), _vi("c", B, [])], [_vi("y", F)], [_const("one", np.int64([1]))])


@pytest.mark.parametrize("backend", BACKENDS)
def test_if_branches_of_different_shapes(backend: str) -> None:
    """The branches yield [N, 3] and [N, 1]: the node's type keeps what both agree on."""
    model = _if_shapes_model(1)
    (node,) = import_model(model).nodes
    assert node.outputs[0].type.shape == ("N", "If_0_out0_1")
    for c in (True, False):
        _check(model, [{"x": _rand(n, 3), "c": np.array(c)} for n in (1, 4)], backend)


def test_if_branches_of_different_ranks_need_the_condition() -> None:
    """A rank that depends on the condition is not kept as unknown: the condition must be known (the onnx backend
    then specializes on the inputs it comes from)."""
    with pytest.raises(NeedsConstant, match="different ranks"):
        import_model(_if_shapes_model(0))
    for c in (True, False):
        outputs = HetflowBackend.run_model(_if_shapes_model(0), [_rand(3, 3), np.array(c)], backend="reference")
        want = ort.InferenceSession(_if_shapes_model(0).SerializeToString()).run(None, {"x": _rand(3, 3),
                                                                                        "c": np.array(c)})
        np.testing.assert_allclose(outputs[0], want[0], rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_branch_that_does_not_fit_the_shapes_fails_only_if_taken(backend: str) -> None:
    """A model's branch for other inputs (silero-vad's 8 kHz path fed 16 kHz frames) may not import at these
    shapes: the If still compiles, and taking that branch is a one-line error naming it."""
    then = h.make_graph([h.make_node("Relu", ["x"], ["t"])], "then", [], [_vi("t", F)])
    other = h.make_graph([h.make_node("Reshape", ["x", "shape"], ["e"])], "else", [], [_vi("e", F)])
    model = _model([h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                   [_vi("x", F, [2, 3]), _vi("c", B, [])], [_vi("y", F, [2, 3])], [_const("shape", np.int64([4, 4]))])
    plan = _check(model, [{"x": _rand(2, 3), "c": np.array(True)}], backend)  # cpu_c compiles both branches
    with pytest.raises(HetflowError, match="else_branch of this If cannot run: .*Reshape") as err:
        plan.run({"x": _rand(2, 3), "c": np.array(False)})
    assert "\n" not in str(err.value)
    del model.graph.node[0].attribute[0]  # no then_branch at all: neither branch imports, an import error
    model.graph.node[0].attribute.append(h.make_attribute("then_branch", other))
    with pytest.raises(HetflowError, match="then_branch.*reshape"):
        import_model(model)


# ---------------------------------------------------------------- Loop
def _nested_if_loop_model() -> onnx.ModelProto:
    """for i < M: acc = (i even ? acc + x * w : acc - x); scan out acc * s (w, s captured from two scopes)."""
    then = h.make_graph([h.make_node("Mul", ["x", "w"], ["xw"]), h.make_node("Add", ["acc", "xw"], ["t"])],
                        "even", [], [_vi("t", F)])
    other = h.make_graph([h.make_node("Sub", ["acc", "x"], ["e"])], "odd", [], [_vi("e", F)])
    body = h.make_graph(
        [h.make_node("Mod", ["i", "two"], ["parity"]),
         h.make_node("Equal", ["parity", "zero"], ["even"]),
         h.make_node("If", ["even"], ["acc_next"], then_branch=then, else_branch=other),
         h.make_node("Mul", ["acc_next", "s"], ["scanned"]),
         h.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc", F, None)],
        [_vi("cond_out", B, []), _vi("acc_next", F, None), _vi("scanned", F, None)],
        [_const("two", np.int64(2)), _const("zero", np.int64(0))])
    nodes = [h.make_node("Mul", ["x", "half"], ["s"]),
             h.make_node("Loop", ["M", "", "acc0"], ["acc", "trace"], body=body)]
    return _model(nodes, [_vi("x", F, ["N", 4]), _vi("acc0", F, ["N", 4]), _vi("M", I64, [])],
                  [_vi("acc", F, ["N", 4]), _vi("trace", F)],
                  [_const("w", np.float32([1, -1, 2, 0.5])), _const("half", np.float32(0.5))])


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_with_nested_if_and_captures(backend: str) -> None:
    model = _nested_if_loop_model()
    feeds = [{"x": _rand(n, 4), "acc0": _rand(n, 4, seed=1), "M": np.array(m, np.int64)} for n, m in ((2, 5), (6, 3))]
    plan = _check(model, feeds, backend)
    # No iteration: the scan output is empty with the element shape the node's type declares, [0, N, 4] here
    # (onnxruntime gives [0], as the ONNX body does not declare that output's shape); the carried value is acc0.
    none = {"x": _rand(3, 4), "acc0": _rand(3, 4), "M": np.array(0, np.int64)}
    got = plan.run(none)
    assert str(plan.graph.outputs[1].type) == "float32[Loop_1_iters,N,4]" and got["trace"].shape == (0, 3, 4)
    np.testing.assert_array_equal(got["acc"], none["acc0"])
    (loop,) = [n for n in plan.graph.nodes if n.op == "loop"]
    (inner,) = [n for n in loop.attrs["body"].nodes if n.op == "if"]
    assert {v.name for v in inner.inputs[1:]} == {"acc", "x"}  # the constant w is copied in, not captured
    assert [v.name for v in loop.inputs[3:]] == ["x", "s"]  # captured from the top level
    verify(plan.graph)
    text = format_graph(plan.graph)
    assert "\n      graph body(" in text and "\n            graph even(" in text  # bodies indented by depth


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_with_early_exit_condition(backend: str) -> None:
    """while cond and i < M: x = x * 2; cond = sum(x) < limit (M large: the condition ends it)."""
    body = h.make_graph(
        [h.make_node("Mul", ["x", "two"], ["x2"]),
         h.make_node("ReduceSum", ["x2"], ["total"], keepdims=0),
         h.make_node("Less", ["total", "limit"], ["go"]),
         h.make_node("Identity", ["x2"], ["seen"])],
        "body", [_vi("i", I64, []), _vi("c", B, []), _vi("x", F, None)],
        [_vi("go", B, []), _vi("x2", F, None), _vi("seen", F, None)], [_const("two", np.float32(2))])
    model = _model([h.make_node("Loop", ["M", "c0", "x0"], ["x", "all"], body=body)],
                   [_vi("x0", F, ["N"]), _vi("limit", F, []), _vi("M", I64, []), _vi("c0", B, [])],
                   [_vi("x", F, ["N"]), _vi("all", F)])
    feeds = [{"x0": np.abs(_rand(n)) + 0.1, "limit": np.array(lim, np.float32), "M": np.array(1000, np.int64),
              "c0": np.array(True)} for n, lim in ((3, 50.0), (8, 400.0))]
    _check(model, feeds + [{**feeds[0], "c0": np.array(False)}, {**feeds[1], "M": np.array(2, np.int64)}], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loop_carried_value_that_grows(backend: str) -> None:
    """A carried value whose shape changes every iteration: its type widens to a symbolic dim."""
    body = h.make_graph([h.make_node("Concat", ["v", "x"], ["v2"], axis=0), h.make_node("Identity", ["c"], ["co"])],
                        "body", [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, None)],
                        [_vi("co", B, []), _vi("v2", F, None)])
    model = _model([h.make_node("Loop", ["M", "", "x"], ["v"], body=body)],
                   [_vi("x", F, [2, "K"]), _vi("M", I64, [])], [_vi("v", F)])
    graph = import_model(model)
    (loop,) = graph.nodes
    assert isinstance(loop.outputs[0].type.shape[0], str)
    plan = _check(model, [{"x": _rand(2, k), "M": np.array(m, np.int64)} for k, m in ((3, 4), (5, 1))], backend)
    if backend == "cpu_c":  # compiled for its first iteration, then interpreted: its shape changes every iteration
        plan.run({"x": _rand(2, 3), "M": np.array(4, np.int64)})  # its specialization (K=3) ran 4 iterations
        where = {p.node: p for p in _cpu_c(plan).placement()}
        assert "change from one iteration to the next" in (where["Loop_0/body/Concat_0"].reason or "")


def test_loop_bodies_run_as_generated_code_in_a_cpu_c_plan() -> None:
    """cpu_c iterates the loop in the host code and runs its body, and the If nested in it, as generated C: the
    body nodes are placed on cpu_c, and the compiled bodies count their calls (M per run, the If once per step)."""
    plan = _check(_nested_if_loop_model(),
                  [{"x": _rand(n, 4), "acc0": _rand(n, 4, seed=1), "M": np.array(4, np.int64)} for n in (2, 3)],
                  backend="cpu_c")
    exe = _cpu_c(plan)
    where = {p.node: p for p in exe.placement()}
    assert where["Loop_1"].backend == "cpu_c" and "iterated on the host" in where["Loop_1"].unit
    body_rows = [p for name, p in where.items() if name.startswith("Loop_1/body/")]
    assert {p.op for p in body_rows} >= {"mod", "equal", "if", "mul", "add", "sub"}  # the If's branches too
    assert all(p.backend == "cpu_c" for p in body_rows), [p for p in body_rows if p.backend != "cpu_c"]
    calls = exe.body_calls()
    assert calls["Loop_1/body"] == 4
    assert calls["Loop_1/body/If_2/then_branch"] == 2 and calls["Loop_1/body/If_2/else_branch"] == 2
    report = plan.report()
    assert "loop 'Loop_1' iterates in the host code" in report and "reference backend" not in report
    exe.run({"x": _rand(3, 4), "acc0": _rand(3, 4), "M": np.array(5, np.int64)})
    assert exe.body_calls()["Loop_1/body"] == 9  # the same compiled body, called again


@pytest.mark.parametrize("backend", BACKENDS)
def test_slice_with_bounds_from_the_iteration_number(backend: str) -> None:
    """ONNX's test_loop11 pattern: x[i:i+2] sliced in the body (bounds known only at run time), summed into a
    carried value; on cpu_c the slice runs on the reference backend inside the body, the rest as generated code."""
    body = h.make_graph(
        [h.make_node("Add", ["i", "two"], ["end"]), h.make_node("Unsqueeze", ["i", "zero"], ["lo"]),
         h.make_node("Unsqueeze", ["end", "zero"], ["hi"]), h.make_node("Slice", ["x", "lo", "hi"], ["part"]),
         h.make_node("ReduceSum", ["part"], ["total"], keepdims=1), h.make_node("Add", ["acc", "total"], ["acc2"]),
         h.make_node("Identity", ["c"], ["co"])],
        "body", [_vi("i", I64, []), _vi("c", B, []), _vi("acc", F, [1])], [_vi("co", B, []), _vi("acc2", F, [1])],
        [_const("two", np.int64(2)), _const("zero", np.int64([0]))])
    model = _model([h.make_node("Loop", ["M", "", "a0"], ["acc"], body=body)],
                   [_vi("x", F, ["K"]), _vi("a0", F, [1]), _vi("M", I64, [])], [_vi("acc", F, [1])])
    plan = _check(model, [{"x": _rand(k), "a0": _rand(1), "M": np.array(m, np.int64)} for k, m in ((6, 4), (9, 9))],
                  backend)
    if backend == "cpu_c":
        where = {p.node: p for p in _cpu_c(plan).placement()}
        assert where["Loop_0/body/Slice_3"].backend == "reference" and where["Loop_0/body/Add_0"].backend == "cpu_c"


def test_body_node_cpu_c_cannot_generate_falls_back_inside_the_body() -> None:
    """A CumSum (not in cpu_c's table) in a loop body runs on the reference backend between the body's generated
    code; the placement and the plan's report name it, under its loop and body."""
    body = h.make_graph(
        [h.make_node("Add", ["acc", "x"], ["s"]), h.make_node("CumSum", ["s", "axis"], ["cs"]),
         h.make_node("Tanh", ["cs"], ["acc2"]), h.make_node("Identity", ["c"], ["co"])],
        "body", [_vi("i", I64, []), _vi("c", B, []), _vi("acc", F, None)], [_vi("co", B, []), _vi("acc2", F, None)],
        [_const("axis", np.int64(1))])
    model = _model([h.make_node("Loop", ["M", "", "a0"], ["acc"], body=body)],
                   [_vi("x", F, [2, "K"]), _vi("a0", F, [2, "K"]), _vi("M", I64, [])], [_vi("acc", F, [2, "K"])])
    plan = _check(model, [{"x": _rand(2, k), "a0": _rand(2, k, seed=1), "M": np.array(3, np.int64)} for k in (3, 5)],
                  backend="cpu_c")
    where = {p.node: p for p in _cpu_c(plan).placement()}
    assert where["Loop_0/body/CumSum_1"].backend == "reference"
    assert "cumsum" in (where["Loop_0/body/CumSum_1"].reason or "")
    assert where["Loop_0/body/Add_0"].backend == "cpu_c" and where["Loop_0/body/Tanh_2"].backend == "cpu_c"
    assert _cpu_c(plan).body_calls()["Loop_0/body"] == 3
    assert "Loop_0/body/CumSum_1 (cumsum)" in plan.report()


def test_cpu_c_fallback_error_names_the_body_node() -> None:
    """fallback='error' refuses a body node cpu_c cannot generate, as it refuses any other node."""
    body = h.make_graph([h.make_node("CumSum", ["v", "axis"], ["v2"]), h.make_node("Identity", ["c"], ["co"])],
                        "body", [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, [3])], [_vi("co", B, []),
                                                                                        _vi("v2", F, [3])],
                        [_const("axis", np.int64(0))])
    model = _model([h.make_node("Loop", ["M", "", "v0"], ["v"], body=body)], [_vi("v0", F, [3]), _vi("M", I64, [])],
                   [_vi("v", F, [3])])
    with pytest.raises(HetflowError, match="cpu_c cannot generate 1 node.*cumsum"):
        hf.compile(import_model(model), backend="cpu_c", fallback="error")


# ---------------------------------------------------------------- Scan
def _scan_model(reverse_in: int, reverse_out: int, out_axis: int) -> onnx.ModelProto:
    """Running sum over the rows of x (axis 1), plus x_t * scale scanned out; scale is captured."""
    body = h.make_graph(
        [h.make_node("Add", ["s", "xt"], ["s2"]), h.make_node("Mul", ["xt", "scale"], ["y"])],
        "body", [_vi("s", F, None), _vi("xt", F, None)], [_vi("s2", F, None), _vi("y", F, None)])
    node = h.make_node("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1, scan_input_axes=[1],
                       scan_input_directions=[reverse_in], scan_output_axes=[out_axis],
                       scan_output_directions=[reverse_out])
    return _model([h.make_node("Relu", ["k"], ["scale"]), node],
                  [_vi("s0", F, [3]), _vi("x", F, [3, "T"]), _vi("k", F, [3])], [_vi("s", F, [3]), _vi("ys", F)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse_in,reverse_out,out_axis", [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 1, -1)])
def test_scan_forward_and_reverse(reverse_in: int, reverse_out: int, out_axis: int, backend: str) -> None:
    model = _scan_model(reverse_in, reverse_out, out_axis)
    _check(model, [{"s0": _rand(3), "x": _rand(3, t), "k": _rand(3, seed=2)} for t in (4, 9)], backend)


# ---------------------------------------------------------------- errors
def test_sequence_typed_body_is_refused_in_one_line() -> None:
    body = h.make_graph([h.make_node("Identity", ["c"], ["co"]), h.make_node("Identity", ["s"], ["s2"])], "body",
                        [_vi("i", I64, []), _vi("c", B, []), h.make_tensor_sequence_value_info("s", F, None)],
                        [_vi("co", B, []), h.make_tensor_sequence_value_info("s2", F, None)])
    graph = h.make_graph([h.make_node("Loop", ["M", "", "x"], ["out"], body=body)], "g",
                         [_vi("M", I64, []), _vi("x", F, [2])], [_vi("out", F)])
    with pytest.raises(ModelError, match="body input 's' is a sequence; sequence and optional types are not supported"):
        import_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    graph = h.make_graph([h.make_node("SequenceEmpty", [], ["seq"], dtype=F)], "g", [],
                         [h.make_tensor_sequence_value_info("seq", F, None)])
    with pytest.raises(ModelError, match="'SequenceEmpty'.*sequence types are not supported") as err:
        import_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))
    assert "\n" not in str(err.value)


def test_loop_without_trip_count_or_condition_is_refused() -> None:
    body = h.make_graph([h.make_node("Identity", ["c"], ["co"]), h.make_node("Identity", ["v"], ["v2"])], "body",
                        [_vi("i", I64, []), _vi("c", B, []), _vi("v", F, None)], [_vi("co", B, []), _vi("v2", F, None)])
    graph = h.make_graph([h.make_node("Loop", ["", "", "x"], ["y"], body=body)], "g", [_vi("x", F, [2])],
                         [_vi("y", F, [2])])
    with pytest.raises(ModelError, match="never end"):
        import_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))


def test_body_reading_an_undefined_name_is_a_model_error() -> None:
    then = h.make_graph([h.make_node("Relu", ["nowhere"], ["t"])], "then", [], [_vi("t", F)])
    other = h.make_graph([h.make_node("Relu", ["x"], ["e"])], "else", [], [_vi("e", F)])
    graph = h.make_graph([h.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                         [_vi("x", F, [2]), _vi("c", B, [])], [_vi("y", F)])
    with pytest.raises(ModelError, match="then_branch.*'nowhere' is not defined"):
        import_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]))


def test_bad_condition_at_run_time_is_one_line() -> None:
    model = _if_model()
    model.graph.input[1].type.tensor_type.shape.dim.add().dim_param = "K"  # c: bool[K], one element needed
    plan = hf.compile(import_model(model), backend="reference")
    with pytest.raises(HetflowError, match="one element"):
        plan.run({"x": _rand(2, 3), "c": np.array([True, False])})


# ---------------------------------------------------------------- recurrent layers over a dynamic sequence
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _recurrent_model(op: str, direction: str, *, states: bool, lens: bool) -> onnx.ModelProto:
    """One recurrent layer over X [T, B, 5] with T and B dynamic; weights are initializers."""
    d, h_size, gates = 2 if direction == "bidirectional" else 1, 6, GATES[op]
    rng = np.random.default_rng(7)
    inits = [_const("w", rng.standard_normal((d, gates * h_size, 5)).astype(np.float32) * 0.5),
             _const("r", rng.standard_normal((d, gates * h_size, h_size)).astype(np.float32) * 0.5),
             _const("b", rng.standard_normal((d, 2 * gates * h_size)).astype(np.float32))]
    inputs = [_vi("x", F, ["T", "B", 5])]
    names = ["x", "w", "r", "b", "lens" if lens else ""]
    if lens:
        inputs.append(_vi("lens", T.INT32, ["B"]))
    if states:
        inputs.append(_vi("h0", F, [d, "B", h_size]))
        names.append("h0")
        if op == "LSTM":
            inputs.append(_vi("c0", F, [d, "B", h_size]))
            inits.append(_const("p", rng.standard_normal((d, 3 * h_size)).astype(np.float32)))
            names += ["c0", "p"]
    outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    attrs = {"direction": direction, "hidden_size": h_size} | ({"linear_before_reset": 1} if op == "GRU" else {})
    return _model([h.make_node(op, names, outs, **attrs)], inputs, [_vi(o, F) for o in outs], inits, opset=14)


def _recurrent_feeds(model: onnx.ModelProto, steps: int, batch: int) -> dict[str, np.ndarray]:
    d = 2 if model.graph.node[0].attribute[0].s == b"bidirectional" else 1
    feeds = {"x": _rand(steps, batch, 5)}
    names = {vi.name for vi in model.graph.input}
    if "lens" in names:
        feeds["lens"] = np.random.default_rng(steps).integers(1, steps + 1, batch).astype(np.int32)
    for s in ("h0", "c0"):
        if s in names:
            feeds[s] = _rand(d, batch, 6, seed=3)
    return feeds


@pytest.mark.parametrize("op", list(GATES))
@pytest.mark.parametrize("direction,states,lens", [("forward", False, False), ("reverse", True, True),
                                                   ("bidirectional", True, True), ("bidirectional", False, False)])
def test_recurrent_layer_over_a_dynamic_sequence_is_one_loop(op: str, direction: str, states: bool, lens: bool) -> None:
    """Compiled once, run at two sequence lengths and batches, as a loop over time (not unrolled) per direction."""
    model = _recurrent_model(op, direction, states=states, lens=lens)
    plan = _check(model, [_recurrent_feeds(model, t, b) for t, b in ((3, 2), (11, 4))])
    loops = [n for n in plan.graph.nodes if n.op == "loop"]
    assert len(loops) == (2 if direction == "bidirectional" else 1)
    assert len(plan.graph.nodes) < 40  # one step's ops live in the body, whatever the length


def test_long_static_sequence_is_a_loop_and_short_one_unrolled(monkeypatch: pytest.MonkeyPatch) -> None:
    from hetflow.frontends.onnx.mappings import recurrent

    model = _recurrent_model("GRU", "forward", states=True, lens=False)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 6  # T = 6, known at import
    feeds = [_recurrent_feeds(model, 6, b) for b in (1, 3)]
    monkeypatch.setattr(recurrent, "MAX_UNROLLED_STEPS", 4)
    assert "loop" in [n.op for n in _check(model, feeds).graph.nodes]
    monkeypatch.setattr(recurrent, "MAX_UNROLLED_STEPS", 4096)
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 3  # B known too: unrolled, as before
    assert "loop" not in [n.op for n in _check(model, feeds[1:]).graph.nodes]


@pytest.mark.parametrize("op", list(GATES))
@pytest.mark.parametrize("direction,states,lens", [("forward", False, False), ("bidirectional", True, True)])
def test_recurrent_loop_on_cpu_c_runs_its_cell_as_generated_code(op: str, direction: str, states: bool,
                                                                 lens: bool) -> None:
    """The loop over time on cpu_c: one generated function per cell, called per step; equal to onnxruntime (and the
    reference) at two sequence lengths and two batches."""
    model = _recurrent_model(op, direction, states=states, lens=lens)
    feeds = [_recurrent_feeds(model, t, b) for t, b in ((3, 2), (11, 4))]
    plan = _check(model, feeds, backend="cpu_c")
    exe = _cpu_c(plan)
    calls = exe.body_calls()
    assert len(calls) == (2 if direction == "bidirectional" else 1) and all(n == 11 for n in calls.values())
    cell = [p for p in exe.placement() if "/body/" in p.node]
    assert cell and all(p.backend == "cpu_c" for p in cell), [p for p in cell if p.backend != "cpu_c"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_plan_with_bodies_saves_and_loads(tmp_path: Path, backend: str) -> None:
    plan = hf.compile(import_model(_nested_if_loop_model()), backend=backend)
    loaded = hf.Plan.load(plan.save(tmp_path / "plan"))
    feed = {"x": _rand(2, 4), "acc0": _rand(2, 4, seed=1), "M": np.array(5, np.int64)}
    got, want = loaded.run(feed), plan.run(feed)
    for name in ("acc", "trace"):
        np.testing.assert_array_equal(got[name], want[name])
