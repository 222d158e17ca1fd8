"""cpu_c and control flow: if / loop / scan iterated in the host code, each body compiled by cpu_c (bodies.py).

Every result is checked against the reference backend (which interprets the bodies); the ONNX-level cases,
checked against onnxruntime too, are in tests/frontends/onnx/test_control_flow.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from backends.cpu_c.helpers import compare

from hetflow.backends.cpu_c import CpuCBackend, bodies, compiler
from hetflow.ir import Graph, Value


def _branch(name: str, op: str, captures: list[Value], const: float) -> Graph:
    """A body computing op(captures[0], const) from inputs named like ``captures``."""
    body = Graph(name)
    ins = [body.add_input(v.name, v.type.dtype, v.type.shape) for v in captures]
    body.outputs.append(body.add_node(op, [ins[0], body.constant(np.float32(const), "k")], name=f"{name}_op").outputs[0])
    return body


def _if_graph(batch: int | str) -> Graph:
    g = Graph("ifg")
    x, c = g.add_input("x", "float32", (batch, 4)), g.add_input("c", "bool", ())
    r = g.add_node("relu", [x], name="relu").outputs[0]
    node = g.add_node("if", [c, r], {"then_branch": _branch("then", "mul", [r], 2.0),
                                     "else_branch": _branch("else", "add", [r], 1.0)}, name="choose")
    g.outputs.append(node.outputs[0])
    return g


def _counting_loop(n: int) -> Graph:
    """acc += x * i for i < M, while acc's sum < 100; scan out acc (the ONNX Loop shape, built in the IR)."""
    g = Graph("countg")
    x, m = g.add_input("x", "float32", (n,)), g.add_input("M", "int64", ())
    body = Graph("body")
    i, _, acc = body.add_input("i", "int64", ()), body.add_input("cond", "bool", ()), body.add_input("acc", "float32", (n,))
    bx = body.add_input("x", "float32", (n,))
    step = body.add_node("mul", [bx, body.add_node("cast", [i], {"to": "float32"}, name="fi").outputs[0]],
                         name="step").outputs[0]
    new = body.add_node("add", [acc, step], name="acc_next").outputs[0]
    total = body.add_node("reduce_sum", [new], {"axes": None, "keepdims": False}, name="total").outputs[0]
    go = body.add_node("less", [total, body.constant(np.float32(100))], name="go").outputs[0]
    body.outputs += [go, new, new]
    node = g.add_node("loop", [m, g.constant(np.array(True), "c0"), g.constant(np.zeros(n, np.float32), "zero"), x],
                      {"body": body, "num_carried": 1}, name="count")
    g.outputs += node.outputs
    return g


def test_loop_body_is_generated_code_called_once_per_iteration() -> None:
    g = _counting_loop(3)
    x = np.float32([1, 2, 3])
    exe = compare(g, {"x": x, "M": np.array(50, np.int64)})  # fallback="error": every body node generated
    assert exe.body_calls() == {"count/body": 7}  # sums 0, 6, 18, 36, 60, 90, 126: the condition ends it
    where = {p.node: p for p in exe.placement()}
    assert {where[f"count/body/{n}"].backend for n in ("fi", "step", "acc_next", "total", "go")} == {"cpu_c"}
    compare(g, {"x": x, "M": np.array(0, np.int64)})  # no iteration: the scan output is empty


def test_if_on_a_symbolic_batch_compiles_its_branches_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """One library for every batch around the If; its branches compile per input shape, up to MAX_SIGNATURES,
    then run on the interpreter (and the placement says why)."""
    monkeypatch.setattr(bodies, "MAX_SIGNATURES", 2)
    g = _if_graph("N")
    exe = CpuCBackend().compile(g)
    assert exe.takes_any_shape
    for n in (1, 3, 5):
        x = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
        compare(g, {"x": x, "c": np.array(True)}, fallback="reference")
        got = exe.run({"x": x, "c": np.array(True)})["choose"]
        np.testing.assert_allclose(got, np.maximum(x, 0) * 2, rtol=1e-6)
    where = {p.node: p for p in exe.placement()}
    assert "more than 2 input-shape signatures" in (where["choose/then_branch/then_op"].reason or "")
    assert where["choose/else_branch/else_op"].backend == "cpu_c"  # never taken, compiled with the graph


def test_saved_plan_with_bodies_loads_without_compiling(tmp_path: Path) -> None:
    g = _counting_loop(4)
    backend = CpuCBackend()
    exe = backend.compile(g)
    feeds = {"x": np.float32([0.5, 1, 1.5, 2]), "M": np.array(30, np.int64)}
    want = exe.run(feeds)
    backend.save_artifact(exe, tmp_path)
    assert any(p.name.startswith("graph0_body") for p in tmp_path.glob("*.so"))
    before = compiler.STATS.compiler_runs
    loaded = backend.load_artifact(tmp_path, g)
    got = loaded.run(feeds)
    assert compiler.STATS.compiler_runs == before, "loading a saved cpu_c graph with a loop body ran the compiler"
    for name, w in want.items():
        np.testing.assert_array_equal(got[name], w)
    assert loaded.body_calls()["count/body"] > 0


def test_fallback_error_refuses_a_body_node_cpu_c_cannot_generate() -> None:
    g = _counting_loop(3)
    body = g.nodes[0].attrs["body"]
    body.outputs[1] = body.add_node("cumsum", [body.outputs[1]], {"axis": 0}, name="cs").outputs[0]
    with pytest.raises(Exception, match="cpu_c cannot generate 1 node.*cs \\(cumsum\\)"):
        CpuCBackend().compile(g, fallback="error")
    exe = compare(g, {"x": np.float32([1, 2, 3]), "M": np.array(4, np.int64)}, fallback="reference")
    where = {p.node: p for p in exe.placement()}
    assert where["count/body/cs"].backend == "reference" and where["count/body/acc_next"].backend == "cpu_c"


def _growing_loop() -> Graph:
    """v = concat(v, x) for i < M: the carried value grows by a row every iteration."""
    g = Graph("growg")
    x, m = g.add_input("x", "float32", (1, 2)), g.add_input("M", "int64", ())
    body = Graph("body")
    body.add_input("i", "int64", ())
    cond = body.add_input("cond", "bool", ())
    v, bx = body.add_input("v", "float32", ("V", 2)), body.add_input("x", "float32", (1, 2))
    body.outputs += [cond, body.add_node("concat", [v, bx], {"axis": 0}, name="grow").outputs[0]]
    g.outputs += g.add_node("loop", [m, None, x, x], {"body": body, "num_carried": 1}, name="rows").outputs
    return g


def test_body_whose_shapes_change_every_iteration_is_interpreted_or_refused() -> None:
    g = _growing_loop()
    feeds = {"x": np.float32([[1, 2]]), "M": np.array(3, np.int64)}
    exe = compare(g, feeds, fallback="reference")
    assert exe.run(feeds)["rows"].shape == (4, 2)
    where = {p.node: p for p in exe.placement()}
    assert "change from one iteration to the next ([] [] [1,2] [1,2] then [] [] [2,2] [1,2])" in \
        (where["rows/body/grow"].reason or "")
    strict = CpuCBackend().compile(g, fallback="error")
    with pytest.raises(Exception, match="cannot run as generated code, as its input shapes change.*fallback='error'"):
        strict.run(feeds)
