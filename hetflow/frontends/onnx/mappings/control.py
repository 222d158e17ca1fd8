"""ONNX control flow (If, Loop, Scan) as the IR's ``if`` / ``loop`` / ``scan`` with nested bodies.

Each body is imported as its own graph (``import_body``); the enclosing values it reads become the
node's trailing inputs. An ``If`` whose condition is known at import is replaced by the branch it
takes, so that later mappings see that branch's values (shapes, constants). Loop-carried values may
change shape from one iteration to the next: a body is imported with the carried types widened until
they are a fixed point. Sequence-typed values (SequenceInsert, ...) are not supported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import onnx

from hetflow.frontends.context import Ctx, NeedsConstant
from hetflow.frontends.context import _fold_if_constant as fold_now  # the same eager folding ctx.emit does
from hetflow.frontends.onnx.importer import MalformedGraphError, OnnxCtx, import_body
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Graph, TensorType, Value
from hetflow.ir.errors import HetflowError, UnsupportedOpError
from hetflow.ir.ops.control import body_output_types, inline, join_types

_log = logging.getLogger("hetflow.frontends.onnx")

MAX_WIDENINGS = 3
"""Re-imports of a loop body while its carried types still change; after that their shapes are unknown."""


def _onnx(ctx: Ctx) -> OnnxCtx:
    if not isinstance(ctx, OnnxCtx):  # mappings are only called by the ONNX importer
        raise ctx.fail("a control-flow op is imported only by the ONNX importer")
    return ctx


def _check_tensors(ctx: Ctx, proto: onnx.GraphProto, what: str) -> None:
    """A body's declared inputs and outputs are tensors: sequence and optional values are not supported."""
    for kind, values in (("input", proto.input), ("output", proto.output)):
        for vi in values:
            declared = vi.type.WhichOneof("value")
            if declared not in (None, "tensor_type"):
                raise ctx.fail(f"{what} {kind} '{vi.name}' is a {declared.removesuffix('_type')}; sequence and "
                               f"optional types are not supported (hetflow imports tensor values only)")


def _body(ctx: Ctx, proto: onnx.GraphProto | None, formal: list[TensorType], what: str) -> tuple[Graph, list[Value]]:
    if proto is None:
        raise ctx.fail(f"attribute '{what}' (a graph) is missing")
    _check_tensors(ctx, proto, what)
    return import_body(_onnx(ctx), proto, formal, what)


def _align(body: Graph, own: list[Value], captured: list[Value]) -> None:
    """Make ``body``'s capture inputs follow ``captured`` (a union over branches), adding unused ones it lacks."""
    inputs = {id(outer): inner for outer, inner in zip(own, body.inputs)}
    body.inputs = [inputs.get(id(v)) or body.add_input(v.name, v.type.dtype, v.type.shape) for v in captured]


def _add(ctx: Ctx, op: str, inputs: list[Value | None], attrs: dict, count: int) -> list[Value]:
    """Add a control-flow node without evaluating it (``ctx.emit`` would run a loop on constant inputs now)."""
    node = ctx.graph.add_node(op, inputs, attrs, name=ctx.node_name or op, num_outputs=count, region=ctx.region)
    return list(node.outputs)


@onnx_op(since=1)
def If(ctx: Ctx, cond: Value, *, then_branch: onnx.GraphProto | None = None,
       else_branch: onnx.GraphProto | None = None) -> list[Value]:
    if cond.const is not None and cond.const.size == 1:  # known now: only the taken branch is imported, inline
        taken = then_branch if bool(cond.const.reshape(-1)[0]) else else_branch
        branch, captured = _body(ctx, taken, [], "then_branch" if taken is then_branch else "else_branch")
        other = branch.copy()
        outputs = _add(ctx, "if", [cond, *captured], {"then_branch": branch, "else_branch": other},
                       len(branch.outputs))
        node = outputs[0].producer
        assert node is not None
        ctx.graph.nodes.remove(node)
        for new in inline(ctx.graph, node, branch, captured):
            ctx.graph.nodes.append(new)
            fold_now(ctx.graph, new, ctx.where)  # later mappings may need these values (a Reshape's target)
        return outputs
    then, then_captured = _branch(ctx, then_branch, "then_branch")
    other, else_captured = _branch(ctx, else_branch, "else_branch")
    if isinstance(then, HetflowError) or isinstance(other, HetflowError):
        then, other = _stand_in(ctx, then, other, "then_branch"), _stand_in(ctx, other, then, "else_branch")
    captured = list({id(v): v for v in [*then_captured, *else_captured]}.values())
    _align(then, then_captured, captured)
    _align(other, else_captured, captured)
    if len(then.outputs) != len(other.outputs):
        raise ctx.fail(f"then_branch yields {len(then.outputs)} outputs, else_branch {len(other.outputs)}")
    if any(a.type.rank != b.type.rank for a, b in zip(then.outputs, other.outputs)):
        # An output of unknown rank stops the next shape-dependent mapping; knowing the branch keeps its rank.
        raise NeedsConstant(cond.name, ctx.where, "the condition (its branches yield outputs of different ranks)")
    return _add(ctx, "if", [cond, *captured], {"then_branch": then, "else_branch": other}, len(then.outputs))


def _branch(ctx: Ctx, proto: onnx.GraphProto | None, what: str) -> tuple[Graph | HetflowError, list[Value]]:
    """An If branch, or the error importing it: a branch may not fit shapes it is never taken with (a model's
    8 kHz branch fed 16 kHz frames). A missing constant is not caught: specializing on input values gives it."""
    try:
        return _body(ctx, proto, [], what)
    except (NeedsConstant, UnsupportedOpError, MalformedGraphError):  # no shape makes these import
        raise
    except HetflowError as exc:
        return exc, []


def _stand_in(ctx: Ctx, branch: Graph | HetflowError, other: Graph | HetflowError, what: str) -> Graph:
    """``branch`` itself, or for one that could not be imported, a body that raises that error if it is taken
    (typed like the other branch, so the node keeps its types). Both failing is the model's error."""
    if isinstance(branch, Graph):
        return branch
    if not isinstance(other, Graph):
        raise branch
    _log.warning("%s: %s is not imported and fails if taken: %s", ctx.where, what, branch)
    body = Graph(what)
    types = tuple((v.type.dtype.value, v.type.shape) for v in other.outputs)
    node = body.add_node("unreachable", [], {"message": f"{what} of this If cannot run: {branch}", "types": types},
                         name=f"{what}_unreachable")
    body.outputs += node.outputs
    return body


def _widened_body(ctx: Ctx, proto: onnx.GraphProto | None, lead: list[TensorType], carried: list[TensorType],
                  rest: list[TensorType], out_lead: int) -> tuple[Graph, list[Value]]:
    """Import a loop-like body until the carried types it yields fit the ones it was given."""
    for _ in range(MAX_WIDENINGS):
        body, captured = _body(ctx, proto, [*lead, *carried, *rest], "body")
        yielded = [v.type for v in body.outputs[out_lead:out_lead + len(carried)]]
        if len(yielded) < len(carried):
            raise ctx.fail(f"the body yields {len(body.outputs)} outputs; {out_lead + len(carried)} are needed")
        widened = [join_types(c, y, f"{ctx.node_name}_c{i}") for i, (c, y) in enumerate(zip(carried, yielded))]
        for i, (c, y) in enumerate(zip(carried, yielded)):
            if c.dtype != y.dtype:
                raise ctx.fail(f"loop-carried value {i} enters the body as {c.dtype} and leaves it as {y.dtype}")
        if widened == carried:
            return body, captured
        carried = widened
    return _body(ctx, proto, [*lead, *(TensorType(t.dtype, None) for t in carried), *rest], "body")


@onnx_op(since=1)
def Loop(ctx: Ctx, m: Value | None = None, cond: Value | None = None, *v_initial: Value | None,
         body: onnx.GraphProto | None = None) -> list[Value]:
    if m is None and cond is None:
        raise ctx.fail("neither a trip count M nor a condition is given: the loop would never end")
    if any(v is None for v in v_initial):
        raise ctx.fail("a loop-carried initial value is missing")
    carried: list[Value] = list(v_initial)  # type: ignore[arg-type]
    lead = [TensorType(DType.int64, ()), TensorType(DType.bool, ())]
    graph, captured = _widened_body(ctx, body, lead, [v.type for v in carried], [], 1)
    count = len(graph.outputs) - 1
    if count < len(carried):
        raise ctx.fail(f"the body yields {len(graph.outputs)} outputs; 1 + {len(carried)} carried are needed")
    return _add(ctx, "loop", [m, cond, *carried, *captured], {"body": graph, "num_carried": len(carried)}, count)


def _axes(ctx: Ctx, given: Sequence[int] | None, ranks: list[int | None], what: str) -> list[int]:
    """Per value, its axis (negative ones counted from its rank), checked against that rank."""
    axes = list(given) if given else [0] * len(ranks)
    if len(axes) != len(ranks):
        raise ctx.fail(f"{what} lists {len(axes)} axes for {len(ranks)} values")
    out = []
    for axis, rank in zip(axes, ranks):
        if rank is not None and not -rank <= axis < rank:
            raise ctx.fail(f"{what}: axis {axis} is out of range for rank {rank}")
        out.append(axis % rank if rank else axis)
    return out


def _directions(ctx: Ctx, given: Sequence[int] | None, n: int, what: str) -> list[int]:
    directions = list(given) if given else [0] * n
    if len(directions) != n or any(d not in (0, 1) for d in directions):
        raise ctx.fail(f"{what} must list 0 (forward) or 1 (reverse) for each of {n} values, got {directions}")
    return directions


@onnx_op(since=9)
def Scan_v9(ctx: Ctx, *inputs: Value | None, body: onnx.GraphProto | None = None, num_scan_inputs: int | None = None,
            scan_input_axes: Sequence[int] | None = None, scan_input_directions: Sequence[int] | None = None,
            scan_output_axes: Sequence[int] | None = None,
            scan_output_directions: Sequence[int] | None = None) -> list[Value]:
    m = num_scan_inputs
    if m is None or not 1 <= m <= len(inputs) or any(v is None for v in inputs):
        raise ctx.fail(f"num_scan_inputs {m} does not fit the {len(inputs)} inputs")
    values: list[Value] = list(inputs)  # type: ignore[arg-type]
    n = len(values) - m
    scanned = values[n:]
    in_axes = _axes(ctx, scan_input_axes, [v.type.rank for v in scanned], "scan_input_axes")
    slices = [v.type if v.type.shape is None else v.type.with_shape(v.type.shape[:a] + v.type.shape[a + 1:])
              for v, a in zip(scanned, in_axes)]
    graph, captured = _widened_body(ctx, body, [], [v.type for v in values[:n]], slices, 0)
    k = len(graph.outputs) - n
    if k < 0:
        raise ctx.fail(f"the body yields {len(graph.outputs)} outputs for {n} states")
    elements = body_output_types(graph, [v.type for v in graph.inputs])[n:]
    out_axes = _axes(ctx, scan_output_axes, [None if t.rank is None else t.rank + 1 for t in elements],
                     "scan_output_axes")
    attrs = {"body": graph, "num_states": n, "num_scan_inputs": m, "scan_input_axes": tuple(in_axes),
             "scan_input_directions": tuple(_directions(ctx, scan_input_directions, m, "scan_input_directions")),
             "scan_output_axes": tuple(out_axes),
             "scan_output_directions": tuple(_directions(ctx, scan_output_directions, k, "scan_output_directions"))}
    return _add(ctx, "scan", [*values, *captured], attrs, n + k)
