"""Graph surgery every layer needs: cutting out a standalone subgraph, and specializing symbolic input shapes."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence

from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.graph import Graph, Node, Value
from hetflow.ir.registry import get_op
from hetflow.ir.types import Dim, TensorType


def extract(graph: Graph, nodes: list[Node], escaping: set[int], name: str) -> Graph:
    """A standalone graph of ``nodes``: values made elsewhere become inputs, ``escaping`` values (by id) outputs."""
    sub = Graph(name)
    inside = {id(n) for n in nodes}
    vmap: dict[int, Value] = {}

    def value(v: Value) -> Value:
        if id(v) not in vmap:
            vmap[id(v)] = Value(v.name, v.type, None, v.const)
            if not v.is_const and (v.producer is None or id(v.producer) not in inside):
                sub.inputs.append(vmap[id(v)])
        return vmap[id(v)]

    for node in nodes:
        copy = Node(node.op, [None if v is None else value(v) for v in node.inputs], [], dict(node.attrs), node.name,
                    node.region)
        for o in node.outputs:
            out = value(o)
            out.producer = copy
            copy.outputs.append(out)
            if id(o) in escaping:
                sub.outputs.append(out)
        sub.nodes.append(copy)
    sub.regions = dict(graph.regions)
    sub._names = {v.name for v in vmap.values()} | {n.name for n in sub.nodes}
    return sub


def escaping_values(graph: Graph, nodes: list[Node]) -> set[int]:
    """The ids of values made by ``nodes`` that the graph outputs or a node outside ``nodes`` reads."""
    inside = {id(n) for n in nodes}
    users = graph.users()
    finals = {id(v) for v in graph.outputs}
    return {id(o) for n in nodes for o in n.outputs
            if id(o) in finals or any(id(u) not in inside for u in users.get(id(o), []))}


_ARITH: dict[type, Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
}
"""The operators of a symbolic dim's expression (``types.dim_add`` ... ``dim_floordiv`` write them)."""


def _evaluate(expr: ast.expr, binding: dict[str, int]) -> int:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
        return expr.value
    if isinstance(expr, ast.Name):
        return binding[expr.id]
    if isinstance(expr, ast.BinOp) and type(expr.op) in _ARITH:
        return _ARITH[type(expr.op)](_evaluate(expr.left, binding), _evaluate(expr.right, binding))
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        return -_evaluate(expr.operand, binding)
    raise ValueError("not a dim expression")


def bound_dim(d: Dim, binding: dict[str, int]) -> Dim:
    """``d`` with the symbols of ``binding`` substituted: a size once every symbol it names is bound, else ``d``."""
    if isinstance(d, int):
        return d
    try:
        size = _evaluate(ast.parse(d, mode="eval").body, binding)
    except (SyntaxError, KeyError, ValueError, ZeroDivisionError, RecursionError):
        return d
    return size if size >= 0 else d


def _sharpened(inferred: TensorType, declared: TensorType, binding: dict[str, int]) -> TensorType:
    """The re-inferred type, with each dim it cannot size taken from the type the graph was built with, its
    symbols bound. Inference from concrete shapes alone loses what the importer knew from shape values: a
    ConstantOfShape of ``Shape(x)[0:1] ++ [64]`` was typed ``[N,64]``, but re-inferred it is two fresh symbols,
    and with it everything downstream (the batch-1 plan of an RNN's zero state kept a symbol this way)."""
    if declared.shape is None or (inferred.shape is not None and len(inferred.shape) != len(declared.shape)):
        return inferred
    bound = tuple(bound_dim(d, binding) for d in declared.shape)
    if inferred.shape is None:
        return inferred.with_shape(bound)
    return inferred.with_shape(tuple(d if isinstance(d, int) or not isinstance(b, int) else b
                                     for d, b in zip(inferred.shape, bound)))


def _binding(inputs: Sequence[Value], shapes: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Input symbol -> the size it takes in ``shapes`` (the first input naming it decides; ``check_feeds`` has
    refused feeds that bind one symbol to two sizes)."""
    binding: dict[str, int] = {}
    for v, shape in zip(inputs, shapes):
        if v.type.shape is not None and len(v.type.shape) == len(shape):
            for d, n in zip(v.type.shape, shape):
                if isinstance(d, str) and d.isidentifier():
                    binding.setdefault(d, int(n))
    return binding


def specialize(graph: Graph, shapes: Sequence[tuple[int, ...]]) -> Graph:
    """A copy of ``graph`` with concrete input shapes (in input order) and every node's output type re-inferred
    (a dim inference cannot size keeps the graph's own, with the input symbols bound).

    Shapes an op cannot take are the caller's input error, named by node.
    """
    g = graph.copy()
    binding = _binding(g.inputs, shapes)
    for v, shape in zip(g.inputs, shapes):
        v.type = TensorType(v.type.dtype, tuple(shape))
    for node in g.nodes:
        try:
            types = get_op(node.op).infer_types(node)
        except HetflowError:
            raise
        except Exception as exc:  # noqa: BLE001 - an op's inference failing on these shapes is the user's error
            raise InputError(f"node {node.name!r} ({node.op}): shapes do not fit: {exc}") from None
        for out, t in zip(node.outputs, types):
            out.type = _sharpened(t, out.type, binding)
    return g
