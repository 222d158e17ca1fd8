"""Constant folding: evaluate nodes whose inputs are all constants, at compile time."""

from __future__ import annotations

import logging

import numpy as np

from hetflow.ir import DType, Graph, Node, Value, get_op
from hetflow.ir.ops.control import NEVER_FOLDED, inline
from hetflow.ir.types import TensorType
from hetflow.passes.manager import graph_pass

MAX_FOLD_BYTES = 1 << 31
"""Results larger than this stay as nodes (weights built by ConstantOfShape are far smaller)."""

IMPURE_OPS = frozenset({
    "random_normal", "random_uniform", "random_normal_like", "random_uniform_like", "bernoulli", "multinomial",
})
"""Ops whose result is not a function of their inputs: never folded, and never merged by CSE."""

SHAPE_OPS = frozenset({"shape", "size"})
"""Ops that read only their input's shape: folded once that shape is static (after run-time specialization binds
the symbolic dims), so the shape computations behind a Reshape or an Expand fold with them."""

_log = logging.getLogger("hetflow.passes.fold")


def _shape_only(node: Node) -> bool:
    x = node.inputs[0] if node.inputs else None
    return node.op in SHAPE_OPS and x is not None and not x.is_const and x.type.is_static


def _foldable(node: Node) -> bool:
    if _shape_only(node):
        return True
    if node.op in IMPURE_OPS or node.op in NEVER_FOLDED or not all(v is None or v.is_const for v in node.inputs):
        return False
    return all(o.type.nbytes is None or o.type.nbytes <= MAX_FOLD_BYTES for o in node.outputs)


def _operand(v: Value | None, shape_only: bool) -> np.ndarray | None:
    """What the node is evaluated on: the constant, or for a shape-reading op a zero-stride stand-in of the shape."""
    if v is None:
        return None
    if shape_only:
        return np.broadcast_to(np.zeros((), v.type.dtype.numpy), tuple(v.type.shape or ()))  # type: ignore[arg-type]
    return v.const


def _evaluate(node: Node) -> list[np.ndarray] | None:
    """The node's results, or None when it cannot (or should not) be evaluated now."""
    shape_only = _shape_only(node)
    try:
        results = [np.asarray(r) for r in get_op(node.op).run(node, [_operand(v, shape_only) for v in node.inputs])]
    except Exception as exc:  # noqa: BLE001 - the node fails the same way at run time; keep it there
        _log.warning("constant_fold: node %r (%s) left unfolded: %s: %s", node.name, node.op, type(exc).__name__, exc)
        return None
    if len(results) != len(node.outputs) or any(r.nbytes > MAX_FOLD_BYTES for r in results):
        return None
    return results


def _become_constant(value: Value, array: np.ndarray) -> None:
    """Turn a node output into a constant, keeping its name and declared element type."""
    declared = value.type.dtype
    if declared is not DType.string and array.dtype != declared.numpy:
        array = array.astype(declared.numpy)
    value.const = array
    value.producer = None
    value.type = TensorType(declared, array.shape)


def _sharpen(node: Node, changed: set[int]) -> None:
    """Sharpen the output types of a node fed by a folded (or sharpened) value: a constant knows its exact shape.

    Done as the sweep reaches the node, not after it: a ``shape`` downstream of a value that only becomes static
    here (a loop whose carried state a folded ConstantOfShape sized; at batch 1 broadcasting keeps the symbol until
    then) must see the static type when it is visited, or it stays a run-time node with everything it feeds."""
    if not any(v is not None and id(v) in changed for v in node.inputs):
        return
    try:
        types = get_op(node.op).infer_types(node)
    except Exception:  # noqa: BLE001 - keep the types the graph was built with
        return
    for out, new in zip(node.outputs, types):
        if (new.is_static and not out.type.is_static) or (out.type.shape is None and new.shape is not None):
            out.type = new
            changed.add(id(out))


def _taken_branch(node: Node) -> Graph | None:
    """The branch an ``if`` with a constant one-element condition takes; None when it is not known now."""
    if node.op != "if":
        return None
    cond = node.inputs[0]
    if cond is None or cond.const is None or cond.const.size != 1:
        return None
    return node.attrs["then_branch"] if bool(cond.const.reshape(-1)[0]) else node.attrs["else_branch"]


@graph_pass("constant_fold")
def constant_fold(graph: Graph) -> Graph:
    """Replace every node whose inputs are all constant (and whose op is pure) by its results; an ``if`` whose
    condition is constant by the branch it takes. Loops stay loops (their bodies are folded)."""
    kept: list[Node] = []
    changed: set[int] = set()
    pending = graph.nodes[::-1]  # a stack: an inlined branch's nodes are visited next, in order
    while pending:
        node = pending.pop()
        branch = _taken_branch(node)
        if branch is not None:
            pending += inline(graph, node, branch, node.inputs[1:])[::-1]
            changed.update(id(o) for o in node.outputs)
            continue
        for body in node.bodies:
            constant_fold(body)
        _sharpen(node, changed)
        results = _evaluate(node) if _foldable(node) else None
        if results is None:
            kept.append(node)
            continue
        for out, array in zip(node.outputs, results):
            _become_constant(out, array)
            # Even with its type unchanged, a constant tells its consumers more: a reshape or resize whose target
            # was computed at run time takes its static form once the target is known.
            changed.add(id(out))
    graph.nodes = kept
    return graph

