"""The IR's control-flow ops (if / loop / scan): bodies, captures, the verifier, the printer and the passes on them."""

from __future__ import annotations

import numpy as np
import pytest

from hetflow.backends.reference import ReferenceExecutable
from hetflow.ir import Graph, IRError, Value, format_graph, get_op, verify
from hetflow.passes import run_passes


def _branch(name: str, op: str, captures: list[Value], const: float) -> Graph:
    """A body computing op(captures[0], const) from inputs named like ``captures``."""
    body = Graph(name)
    ins = [body.add_input(v.name, v.type.dtype, v.type.shape) for v in captures]
    body.outputs.append(body.add_node(op, [ins[0], body.constant(np.float32(const), "k")], name=f"{name}_op").outputs[0])
    return body


def _if_graph() -> tuple[Graph, Value]:
    g = Graph("g")
    x, c = g.add_input("x", "float32", ("N", 4)), g.add_input("c", "bool", ())
    r = g.add_node("relu", [x]).outputs[0]
    node = g.add_node("if", [c, r], {"then_branch": _branch("then", "mul", [r], 2.0),
                                     "else_branch": _branch("else", "add", [r], 1.0)})
    g.outputs.append(node.outputs[0])
    return g, r


def test_if_types_run_and_print() -> None:
    g, _ = _if_graph()
    verify(g)
    assert str(g.outputs[0].type) == "float32[N,4]"
    x = np.arange(-4, 4, dtype=np.float32).reshape(2, 4)
    run = ReferenceExecutable(g).run
    np.testing.assert_array_equal(run({"x": x, "c": np.array(True)})["if"], np.maximum(x, 0) * 2)
    np.testing.assert_array_equal(run({"x": x, "c": np.array(False)})["if"], np.maximum(x, 0) + 1)
    text = format_graph(g)
    assert "    then_branch:\n      graph then(\n          %relu: float32[N,4]," in text
    assert "        %then_op: float32[N,4] = mul(%relu, 2.0:float32)" in text


def test_verifier_checks_bodies_and_their_arity() -> None:
    g, _ = _if_graph()
    node = g.nodes[-1]
    node.attrs["else_branch"].nodes[0].inputs[0] = Value("stray", node.attrs["else_branch"].inputs[0].type)
    with pytest.raises(IRError, match="body 'else'.*used before it is defined"):
        verify(g)
    g, r = _if_graph()
    with pytest.raises(IRError, match="branch 'then' takes 1 inputs, the node passes 0"):
        g.add_node("if", [g.inputs[1]], {"then_branch": _branch("then", "mul", [r], 2.0),
                                         "else_branch": _branch("else", "add", [r], 1.0)})


def test_dce_keeps_values_read_only_inside_a_body_and_drops_unread_captures() -> None:
    g, r = _if_graph()
    node = g.nodes[-1]
    dead = g.add_node("exp", [g.inputs[0]]).outputs[0]  # a second capture that no body reads
    node.inputs.append(dead)
    for body in node.bodies:
        body.add_input("exp", "float32", ("N", 4))
        body.add_node("neg", [body.inputs[1]])  # dead inside the body
    g.nodes = [g.nodes[0], g.nodes[2], g.nodes[1]]  # relu, exp, if
    verify(g)
    run_passes(g, ["dce"])
    assert [n.op for n in g.nodes] == ["relu", "if"]  # relu is read only inside the branches: live
    assert node.inputs[1:] == [r] and all(len(b.inputs) == 1 and len(b.nodes) == 1 for b in node.bodies)


def test_fold_inlines_an_if_with_a_constant_condition_keeping_output_names() -> None:
    g, _ = _if_graph()
    node = g.nodes[-1]
    node.inputs[0] = g.constant(np.array(False), "c_const")
    run_passes(g, ["constant_fold", "dce"])
    assert [n.op for n in g.nodes] == ["relu", "add"]
    assert g.outputs[0].name == "if" and g.outputs[0].producer is g.nodes[-1]
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(ReferenceExecutable(g).run({"x": x, "c": np.array(True)})["if"], x + 1)


def _counting_loop(with_cond: bool) -> Graph:
    """acc += x * i for i < M (while acc's sum < 100 when ``with_cond``); scan out acc."""
    g = Graph("g")
    x, m = g.add_input("x", "float32", ("N",)), g.add_input("M", "int64", ())
    body = Graph("body")
    i, _, acc = body.add_input("i", "int64", ()), body.add_input("cond", "bool", ()), body.add_input("acc", "float32", ("N",))
    bx = body.add_input("x", "float32", ("N",))
    step = body.add_node("mul", [bx, body.add_node("cast", [i], {"to": "float32"}).outputs[0]]).outputs[0]
    new = body.add_node("add", [acc, step]).outputs[0]
    total = body.add_node("reduce_sum", [new], {"axes": None, "keepdims": False}).outputs[0]
    go = body.add_node("less", [total, body.constant(np.float32(100))]).outputs[0]
    body.outputs += [go, new, new]
    cond = g.constant(np.array(True), "c0") if with_cond else None
    node = g.add_node("loop", [m, cond, g.constant(np.zeros(1, np.float32), "zero"), x],
                      {"body": body, "num_carried": 1})
    g.outputs += node.outputs
    return g


def test_loop_runs_and_is_not_folded() -> None:
    g = _counting_loop(with_cond=False)
    g.nodes[-1].inputs[2] = g.add_input("acc0", "float32", ("N",))
    final, trace = g.nodes[-1].outputs
    assert str(trace.type) == "float32[loop_iters,N]"
    x = np.array([1, 2], np.float32)
    out = ReferenceExecutable(g).run({"x": x, "M": np.array(4, np.int64), "acc0": np.zeros(2, np.float32)})
    np.testing.assert_array_equal(out[final.name], x * 6)
    assert out[trace.name].shape == (4, 2)
    m = g.constant(np.array(3, np.int64), "m")
    g.nodes[-1].inputs[0] = m
    run_passes(g, ["constant_fold", "cse", "dce"])
    assert [n.op for n in g.nodes] == ["loop"]  # a constant trip count does not unroll the loop
    body = g.nodes[0].attrs["body"]
    per_step = sum(get_op(n.op).flop_count(n) for n in body.nodes)
    assert per_step > 0 and get_op("loop").flop_count(g.nodes[0]) == 3 * per_step  # the cost model sees 3 steps


def test_loop_condition_ends_it_early() -> None:
    g = _counting_loop(with_cond=True)
    x = np.array([10, 20], np.float32)
    out = ReferenceExecutable(g).run({"x": x, "M": np.array(1000, np.int64)})
    assert out[g.outputs[1].name].shape == (4, 2)  # sums 0, 30, 90, 180: the body that says stop still yields


def test_copy_owns_its_bodies() -> None:
    g, _ = _if_graph()
    c = g.copy()
    assert c.nodes[-1].attrs["then_branch"] is not g.nodes[-1].attrs["then_branch"]
    run_passes(c, ["constant_fold"])
    assert format_graph(c) == format_graph(g)
