"""Control flow: ``if``, ``loop`` and ``scan``, ops whose attributes hold nested graphs (bodies).

A body is a closed ``Graph``: it reads only its own inputs and constants. A value of the enclosing graph
that a body reads (a *capture*) is passed explicitly: it is one of the node's trailing inputs, and the
body has a matching trailing input of the same name. So every pass that walks node inputs (dead-code
elimination, the partitioner's cut, subgraph extraction) sees a captured value as used, with no
special case. The leading inputs are the op's own:

========  ==============================================  ==================================================
op        node inputs                                     body inputs -> body outputs
========  ==============================================  ==================================================
``if``    cond, captures...                               captures... -> outputs... (both branches)
``loop``  trip_count?, cond?, carried... (num_carried),   iteration, cond, carried..., captures...
          captures...                                     -> cond, carried..., scan elements...
``scan``  states... (num_states), scan inputs...          states..., one slice per scan input, captures...
          (num_scan_inputs), captures...                  -> states..., scan elements...
========  ==============================================  ==================================================

The iteration semantics (``run_if``, ``run_loop``, ``run_scan``: trip count, condition, carried values,
scan slicing and stacking) are written once and take how to run a body as a parameter (``Prepare``): the
registered NumPy semantics run a body node by node with ``BodyProgram``, as the reference backend runs a
graph; a backend that compiles bodies (cpu_c) passes its compiled bodies to the same functions
(``run_control``). Loops stay loops: nothing here unrolls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.errors import HetflowError
from hetflow.ir.graph import Graph, Node, Value
from hetflow.ir.ops._util import in_type
from hetflow.ir.registry import REQUIRED, IRError, OpDef, defop, get_op
from hetflow.ir.types import Dim, TensorType

CONTROL_OPS = frozenset({"if", "loop", "scan"})
"""Ops with bodies. Loops are never evaluated at compile time (a constant trip count may still be large)."""


# ---------------------------------------------------------------- running a body
@dataclass
class _Step:
    node: Node
    opdef: OpDef
    args: list[int | None]
    outs: list[int]


class BodyProgram:
    """A body prepared once per execution of its op (slots assigned), then run once per iteration."""

    def __init__(self, body: Graph, owner: str) -> None:
        self.body, self.owner = body, owner
        slot_of: dict[int, int] = {}
        self._consts: dict[int, np.ndarray] = {}

        def slot(v: Value) -> int:
            if id(v) not in slot_of:
                slot_of[id(v)] = len(slot_of)
                if v.const is not None:
                    self._consts[slot_of[id(v)]] = v.const
            return slot_of[id(v)]

        self._inputs = [slot(v) for v in body.inputs]
        self._steps = [_Step(n, get_op(n.op), [None if v is None else slot(v) for v in n.inputs],
                             [slot(o) for o in n.outputs]) for n in body.nodes]
        self._outputs = [slot(v) for v in body.outputs]
        self._n = len(slot_of)

    def run(self, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        if len(args) != len(self._inputs):
            raise IRError(f"{self.owner}: body {self.body.name!r} takes {len(self._inputs)} inputs, got {len(args)}")
        env: list[np.ndarray | None] = [None] * self._n
        for s, array in self._consts.items():
            env[s] = array
        for s, array in zip(self._inputs, args):
            env[s] = array
        for step in self._steps:
            try:
                results = step.opdef.run(step.node, [None if s is None else env[s] for s in step.args])
            except HetflowError:
                raise
            except Exception as exc:
                raise HetflowError(f"{self.owner}: body node {step.node.name!r} ({step.node.op}) failed: "
                                   f"{type(exc).__name__}: {exc}") from exc
            for s, r in zip(step.outs, results):
                env[s] = r
        return [np.asarray(env[s]) for s in self._outputs]


BodyRun = Callable[[Sequence[np.ndarray | None]], list[np.ndarray]]
"""Runs a body once: its inputs in order in, its outputs in order out (fresh arrays the caller may keep)."""

Prepare = Callable[[Graph], BodyRun]
"""How to run a body: called once per execution of a control op for each body it runs, before iterating."""


def interpreted(owner: str) -> Prepare:
    """The reference way to run a body: node by node through each op's NumPy semantics (``BodyProgram``)."""
    return lambda body: BodyProgram(body, owner).run


def _truth(array: np.ndarray, what: str) -> bool:
    array = np.asarray(array)
    if array.size != 1:
        raise HetflowError(f"{what} must hold one element, got shape {list(array.shape)}")
    return bool(array.reshape(-1)[0])


def _stack(parts: list[np.ndarray], template: Value, inputs: Sequence[tuple[Value, tuple[int, ...]]]) -> np.ndarray:
    """Per-iteration arrays stacked on a new axis 0. With no iteration: [0, *shape] where ``template`` (the body's
    output) has a shape known from the body's inputs (``inputs``: each with the shape the first iteration would
    have given it), as the node's type declares; else [0] (the element shape was never computed; onnxruntime
    gives [0] where the body does not declare it)."""
    if parts:
        return np.stack(parts)
    symbols: dict[str, int] = {}
    for v, shape in inputs:
        if v.type.shape is not None and len(v.type.shape) == len(shape):
            for d, n in zip(v.type.shape, shape):
                if isinstance(d, str):
                    symbols.setdefault(d, n)
    dims = template.type.shape
    if dims is None or any(isinstance(d, str) and d not in symbols for d in dims):
        return np.zeros((0,), template.type.dtype.numpy)
    return np.zeros((0, *(symbols[d] if isinstance(d, str) else d for d in dims)), template.type.dtype.numpy)


# ---------------------------------------------------------------- types
def join_types(a: TensorType, b: TensorType, symbol: str) -> TensorType:
    """The least type both fit: equal dims stay, differing dims become ``symbol_<axis>``, differing ranks unknown."""
    if a == b or a.shape is None:
        return a
    if b.shape is None or len(a.shape) != len(b.shape):
        return TensorType(a.dtype, None)
    return TensorType(a.dtype, tuple(x if x == y else f"{symbol}_{i}" for i, (x, y) in enumerate(zip(a.shape, b.shape))))


def body_output_types(body: Graph, in_types: Sequence[TensorType]) -> list[TensorType]:
    """The body's output types when its inputs have ``in_types`` (re-inferred on a copy); its own types when
    some op's inference cannot take them."""
    if [v.type for v in body.inputs] == list(in_types):
        return [v.type for v in body.outputs]
    copy = body.copy()
    try:
        for v, t in zip(copy.inputs, in_types):
            v.type = t
        for node in copy.nodes:
            for out, t in zip(node.outputs, get_op(node.op).infer_types(node)):
                out.type = t
    except Exception:  # noqa: BLE001 - the body was valid for its own input types; keep them
        return [v.type for v in body.outputs]
    return [v.type for v in copy.outputs]


def _scalar_type(dtype: DType) -> TensorType:
    return TensorType(dtype, ())


def _if_infer(node: Node) -> list[TensorType]:
    then, other = node.attrs["then_branch"], node.attrs["else_branch"]
    captures = [in_type(node, i) for i in range(1, len(node.inputs))]
    for branch in (then, other):
        if len(branch.inputs) != len(captures):
            raise IRError(f"node {node.name!r} (if): branch {branch.name!r} takes {len(branch.inputs)} inputs, "
                          f"the node passes {len(captures)} captured values")
    if len(then.outputs) != len(other.outputs):
        raise IRError(f"node {node.name!r} (if): the branches yield {len(then.outputs)} and {len(other.outputs)} outputs")
    a, b = body_output_types(then, captures), body_output_types(other, captures)
    for i, (x, y) in enumerate(zip(a, b)):
        if x.dtype != y.dtype:
            raise IRError(f"node {node.name!r} (if): output {i} is {x.dtype} in one branch and {y.dtype} in the other")
    return [join_types(x, y, f"{node.name}_out{i}") for i, (x, y) in enumerate(zip(a, b))]


def loop_types(node: Node, body: Graph, first_body: list[TensorType], carried: list[TensorType],
               captures: list[TensorType]) -> tuple[list[TensorType], list[TensorType]]:
    """(carried types widened to a fixed point over iterations, the body's other outputs) for a loop-like body
    taking ``first_body + carried + captures`` and yielding ``[cond] + carried + rest`` (``first_body`` is the
    loop's iteration and condition, or nothing for a scan, whose slices then lead ``captures``)."""
    n_lead = 1 if first_body else 0
    state = list(carried)
    for _ in range(3):
        outs = body_output_types(body, [*first_body, *state, *captures])
        new = [join_types(s, o, f"{node.name}_c{i}") for i, (s, o) in enumerate(zip(state, outs[n_lead:]))]
        if new == state:
            return state, outs[n_lead + len(state):]
        state = new
    return [TensorType(t.dtype, None) for t in state], outs[n_lead + len(state):]


def _loop_infer(node: Node) -> list[TensorType]:
    body, n = node.attrs["body"], node.attrs["num_carried"]
    if len(node.inputs) < 2 + n:
        raise IRError(f"node {node.name!r} (loop): {len(node.inputs)} inputs, but {n} carried values need {2 + n}")
    if node.inputs[0] is None and node.inputs[1] is None:
        raise IRError(f"node {node.name!r} (loop): neither a trip count nor a condition: the loop would never end")
    if len(body.inputs) != len(node.inputs) or len(body.outputs) < 1 + n:
        raise IRError(f"node {node.name!r} (loop): body {body.name!r} takes {len(body.inputs)} inputs and yields "
                      f"{len(body.outputs)} outputs; the node passes {len(node.inputs)} and carries {n}")
    carried = [in_type(node, 2 + i) for i in range(n)]
    captures = [in_type(node, i) for i in range(2 + n, len(node.inputs))]
    first = [_scalar_type(DType.int64), _scalar_type(DType.bool)]
    state, scans = loop_types(node, body, first, carried, captures)
    trip = node.inputs[0]
    iters: Dim = f"{node.name}_iters"
    if node.inputs[1] is None and trip is not None and trip.const is not None and trip.const.size == 1:
        iters = max(int(trip.const.reshape(-1)[0]), 0)  # no condition: exactly the trip count
    return state + [TensorType(t.dtype, None if t.shape is None else (iters, *t.shape)) for t in scans]


def _body_flops(body: Graph) -> int:
    return sum(get_op(n.op).flop_count(n) for n in body.nodes)


def _repeated_flops(node: Node) -> int:
    """A loop's or scan's body FLOPs times its iteration count where that is static (a constant trip count and
    no condition; a scan input's static length); once where it is only known at run time (as a batch counts 1)."""
    steps: Dim = 1
    if node.op == "loop":
        trip = node.inputs[0]
        if node.inputs[1] is None and trip is not None and trip.const is not None and trip.const.size == 1:
            steps = max(int(trip.const.reshape(-1)[0]), 0)
    else:
        x = node.inputs[node.attrs["num_states"]]
        axes = node.attrs["scan_input_axes"]
        if x is not None and x.type.shape:
            steps = x.type.shape[(axes[0] if axes else 0) % len(x.type.shape)]
    return _body_flops(node.attrs["body"]) * (steps if isinstance(steps, int) else 1)


# ---------------------------------------------------------------- if
@defop("if", family="control", infer=_if_infer, attrs={"then_branch": REQUIRED, "else_branch": REQUIRED},
       outputs=lambda attrs, n: len(attrs["then_branch"].outputs),
       flops=lambda node: max(_body_flops(node.attrs["then_branch"]), _body_flops(node.attrs["else_branch"])))
def if_(cond: np.ndarray, *captures: np.ndarray, then_branch: Graph, else_branch: Graph) -> tuple[np.ndarray, ...]:
    """Run ``then_branch`` when ``cond`` (one element) is true, else ``else_branch``, on the captured values."""
    return run_if(cond, *captures, then_branch=then_branch, else_branch=else_branch, prepare=interpreted("if"))


def run_if(cond: np.ndarray, *captures: np.ndarray, then_branch: Graph, else_branch: Graph,
           prepare: Prepare) -> tuple[np.ndarray, ...]:
    """``if``'s semantics with its branch run by ``prepare``'s runner."""
    branch = then_branch if _truth(cond, "if: the condition") else else_branch
    return tuple(prepare(branch)(captures))


# ---------------------------------------------------------------- loop
def _loop_outputs(attrs: dict, n_inputs: int) -> int:
    return len(attrs["body"].outputs) - 1


@defop("loop", family="control", infer=_loop_infer, attrs={"body": REQUIRED, "num_carried": REQUIRED},
       outputs=_loop_outputs, flops=_repeated_flops)
def loop(trip_count: np.ndarray | None, cond: np.ndarray | None, *rest: np.ndarray, body: Graph,
         num_carried: int) -> tuple[np.ndarray, ...]:
    """ONNX Loop: run ``body`` while ``iteration < trip_count`` (when given) and ``cond`` (when given; the body
    yields the next one). Returns the final carried values, then each scan output stacked over iterations."""
    return run_loop(trip_count, cond, *rest, body=body, num_carried=num_carried, prepare=interpreted("loop"))


def run_loop(trip_count: np.ndarray | None, cond: np.ndarray | None, *rest: np.ndarray, body: Graph,
             num_carried: int, prepare: Prepare) -> tuple[np.ndarray, ...]:
    """``loop``'s semantics with its body run by ``prepare``'s runner."""
    if trip_count is None and cond is None:
        raise HetflowError("loop: neither a trip count nor a condition: the loop would never end")
    run_body = prepare(body)
    limit = None if trip_count is None else int(_one_int(trip_count, "loop: the trip count"))
    go = True if cond is None else _truth(cond, "loop: the condition")
    carried, captures = list(rest[:num_carried]), list(rest[num_carried:])
    scans: list[list[np.ndarray]] = [[] for _ in range(len(body.outputs) - 1 - num_carried)]
    i = 0
    while go and (limit is None or i < limit):
        outs = run_body([np.array(i, np.int64), np.array(go), *carried, *captures])
        if cond is not None:  # with no condition input, the body's condition output is ignored (ONNX)
            go = _truth(outs[0], "loop: the body's condition")
        carried = outs[1:1 + num_carried]
        for k, element in enumerate(outs[1 + num_carried:]):
            scans[k].append(element)
        i += 1
    templates = body.outputs[1 + num_carried:]
    first = list(zip(body.inputs[2:], [np.shape(a) for a in [*carried, *captures]]))  # used only with no iteration
    return (*carried, *(_stack(parts, t, first) for parts, t in zip(scans, templates)))


def _one_int(array: np.ndarray, what: str) -> int:
    array = np.asarray(array)
    if array.size != 1:
        raise HetflowError(f"{what} must hold one element, got shape {list(array.shape)}")
    return int(array.reshape(-1)[0])


# ---------------------------------------------------------------- scan
def _scan_axes(values: Sequence[int] | None, n: int, what: str) -> list[int]:
    axes = list(values) if values else [0] * n
    if len(axes) != n:
        raise IRError(f"scan: {what} lists {len(axes)} entries for {n} values")
    return axes


def _scan_infer(node: Node) -> list[TensorType]:
    body, n, m = node.attrs["body"], node.attrs["num_states"], node.attrs["num_scan_inputs"]
    if m < 1 or len(node.inputs) < n + m or len(body.inputs) != len(node.inputs) or len(body.outputs) < n:
        raise IRError(f"node {node.name!r} (scan): {len(node.inputs)} inputs for {n} states and {m} scan inputs; "
                      f"body {body.name!r} takes {len(body.inputs)} and yields {len(body.outputs)}")
    states = [in_type(node, i) for i in range(n)]
    axes = _scan_axes(node.attrs["scan_input_axes"], m, "scan_input_axes")
    slices, length = [], None
    for j in range(m):
        t = in_type(node, n + j)
        if t.shape is None:
            slices.append(t)
            continue
        axis = axes[j] % max(len(t.shape), 1)
        length = t.shape[axis] if length is None or isinstance(length, str) else length
        slices.append(TensorType(t.dtype, t.shape[:axis] + t.shape[axis + 1:]))
    captures = [in_type(node, i) for i in range(n + m, len(node.inputs))]
    state, elements = loop_types(node, body, [], states, [*slices, *captures])
    out_axes = _scan_axes(node.attrs["scan_output_axes"], len(elements), "scan_output_axes")
    outs = []
    for t, axis in zip(elements, out_axes):
        if t.shape is None:
            outs.append(t)
            continue
        dims = list(t.shape)
        dims.insert(axis % (len(dims) + 1), length if length is not None else f"{node.name}_len")
        outs.append(TensorType(t.dtype, tuple(dims)))
    return state + outs


@defop("scan", family="control", infer=_scan_infer,
       attrs={"body": REQUIRED, "num_states": REQUIRED, "num_scan_inputs": REQUIRED, "scan_input_axes": None,
              "scan_input_directions": None, "scan_output_axes": None, "scan_output_directions": None},
       outputs=lambda attrs, n: len(attrs["body"].outputs), flops=_repeated_flops)
def scan(*inputs: np.ndarray, body: Graph, num_states: int, num_scan_inputs: int,
         scan_input_axes: Sequence[int] | None, scan_input_directions: Sequence[int] | None,
         scan_output_axes: Sequence[int] | None, scan_output_directions: Sequence[int] | None) -> tuple[np.ndarray, ...]:
    """ONNX Scan (opset 9 on): step through the scan inputs along their scan axes (reversed where a direction is 1),
    carrying the states; each scan output stacks the body's per-step elements along its own axis."""
    return run_scan(*inputs, body=body, num_states=num_states, num_scan_inputs=num_scan_inputs,
                    scan_input_axes=scan_input_axes, scan_input_directions=scan_input_directions,
                    scan_output_axes=scan_output_axes, scan_output_directions=scan_output_directions,
                    prepare=interpreted("scan"))


def run_scan(*inputs: np.ndarray, body: Graph, num_states: int, num_scan_inputs: int,
             scan_input_axes: Sequence[int] | None, scan_input_directions: Sequence[int] | None,
             scan_output_axes: Sequence[int] | None, scan_output_directions: Sequence[int] | None,
             prepare: Prepare) -> tuple[np.ndarray, ...]:
    """``scan``'s semantics with its body run by ``prepare``'s runner."""
    n, m = num_states, num_scan_inputs
    states, captures = list(inputs[:n]), list(inputs[n + m:])
    seqs = []
    for x, axis, reverse in zip(inputs[n:n + m], _scan_axes(scan_input_axes, m, "scan_input_axes"),
                                _scan_axes(scan_input_directions, m, "scan_input_directions")):
        x = np.moveaxis(np.asarray(x), axis, 0)
        seqs.append(x[::-1] if reverse else x)
    length = seqs[0].shape[0]
    if any(s.shape[0] != length for s in seqs):
        raise HetflowError(f"scan: the scan inputs have different lengths {[s.shape[0] for s in seqs]}")
    run_body = prepare(body)
    k = len(body.outputs) - n
    parts: list[list[np.ndarray]] = [[] for _ in range(k)]
    for t in range(length):
        outs = run_body([*states, *(s[t] for s in seqs), *captures])
        states = outs[:n]
        for j in range(k):
            parts[j].append(outs[n + j])
    results = []
    first = list(zip(body.inputs, [np.shape(a) for a in states] + [s.shape[1:] for s in seqs] +
                     [np.shape(a) for a in captures]))  # used only with no step
    for j, (axis, reverse) in enumerate(zip(_scan_axes(scan_output_axes, k, "scan_output_axes"),
                                            _scan_axes(scan_output_directions, k, "scan_output_directions"))):
        stacked = _stack(parts[j][::-1] if reverse else parts[j], body.outputs[n + j], first)
        results.append(np.moveaxis(stacked, 0, axis % stacked.ndim))
    return (*states, *results)


CONTROL_SEMANTICS: dict[str, Callable[..., tuple[np.ndarray, ...]]] = {
    "if": run_if, "loop": run_loop, "scan": run_scan}
"""Per control op, its semantics taking a ``prepare`` (how to run its bodies)."""


def run_control(node: Node, inputs: Sequence[np.ndarray | None], prepare: Prepare) -> list[np.ndarray]:
    """Run control node ``node`` on ``inputs`` with its bodies run by ``prepare``'s runners (a backend's
    compiled bodies): the same iteration as the reference's."""
    return list(CONTROL_SEMANTICS[node.op](*inputs, prepare=prepare, **node.attrs))


# ---------------------------------------------------------------- a branch that cannot run
def _unreachable_infer(node: Node) -> list[TensorType]:
    return [TensorType(DType.of(dtype), None if shape is None else tuple(shape)) for dtype, shape in node.attrs["types"]]


@defop("unreachable", family="control", infer=_unreachable_infer, attrs={"message": REQUIRED, "types": REQUIRED},
       outputs=lambda attrs, n: len(attrs["types"]))
def unreachable(*inputs: np.ndarray, message: str, types: Sequence[tuple[str, Sequence[Dim] | None]]) -> np.ndarray:
    """Stands for a branch the frontend could not import (it does not fit the shapes this model is built for):
    raises ``message`` if the branch is ever taken. ``types`` are the (dtype, shape) it would have yielded."""
    raise HetflowError(message)


NEVER_FOLDED = CONTROL_OPS - {"if"} | {"unreachable"}
"""Ops the constant folder never evaluates: loops (their trip count may be large) and a branch that cannot run."""


# ---------------------------------------------------------------- captures and inlining
CAPTURE_START: dict[str, Callable[[Node], int]] = {
    "if": lambda node: 1,
    "loop": lambda node: 2 + node.attrs["num_carried"],
    "scan": lambda node: node.attrs["num_states"] + node.attrs["num_scan_inputs"],
}
"""Per control op, the index of its first captured input (node inputs and body inputs line up from there)."""


def body_offset(node: Node) -> int:
    """How many leading node inputs have no body input (the ``if``'s condition)."""
    return 1 if node.op == "if" else 0


def prune_captures(node: Node) -> None:
    """Drop captured inputs that no body reads any more (after dead-code elimination inside the bodies)."""
    start = CAPTURE_START[node.op](node)
    shift = body_offset(node)
    bodies = node.bodies
    used_by = [{id(v) for n in b.nodes for v in n.inputs if v is not None} | {id(v) for v in b.outputs}
               for b in bodies]
    for i in reversed(range(start, len(node.inputs))):
        j = i - shift
        if not any(id(b.inputs[j]) in used for b, used in zip(bodies, used_by)):
            del node.inputs[i]
            for b in bodies:
                del b.inputs[j]


def inline(graph: Graph, node: Node, body: Graph, args: Sequence[Value | None]) -> list[Node]:
    """The nodes of ``body`` rewritten to compute ``node``'s outputs in ``graph`` from ``args`` (the body's inputs).

    ``node``'s output values are kept (names, uses, graph outputs): the inlined node yielding a body output
    becomes their producer, or an ``identity`` does where the body passes an input or constant straight out.
    The caller puts the returned nodes where ``node`` was.
    """
    vmap: dict[int, Value] = {id(b): a for b, a in zip(body.inputs, args) if a is not None}
    claimed: dict[int, Value] = {}
    for b, out in zip(body.outputs, node.outputs):
        if b.producer is not None and id(b) not in claimed:
            claimed[id(b)] = out
    new: list[Node] = []

    def value(v: Value) -> Value:
        if id(v) not in vmap:
            vmap[id(v)] = graph.constant(v.const, name=v.name) if v.const is not None else Value(
                graph.fresh_name(v.name), v.type)
        return vmap[id(v)]

    for n in body.nodes:
        attrs = {k: a.copy() if isinstance(a, Graph) else a for k, a in n.attrs.items()}
        copy = Node(n.op, [None if v is None else value(v) for v in n.inputs], [], attrs,
                    graph.fresh_name(n.name, node=True), node.region)
        for o in n.outputs:
            out = claimed.get(id(o))
            if out is not None:
                out.type = o.type
                vmap[id(o)] = out
            out = value(o)
            out.producer = copy
            copy.outputs.append(out)
        new.append(copy)
    for b, out in zip(body.outputs, node.outputs):
        if claimed.get(id(b)) is not out:
            ident = Node("identity", [value(b)], [out], {}, graph.fresh_name(f"{node.name}.out", node=True), node.region)
            out.producer, out.type = ident, b.type
            new.append(ident)
    return new
