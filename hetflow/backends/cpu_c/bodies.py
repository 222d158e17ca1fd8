"""Control flow in cpu_c: an ``if`` / ``loop`` / ``scan`` node iterates in the host code, its bodies compiled by cpu_c.

The iteration itself is the IR's (``hetflow.ir.ops.control.run_control``: trip count, condition, carried values,
scan slicing and stacking); what cpu_c adds is how a body runs. Each body is compiled like any graph, once per
input-shape signature (a body's inputs take the shapes of the values fed to it, which may differ from one run
of the plan to the next, e.g. another batch size), and each iteration calls the compiled body positionally
(``_Compiled.call``: no feed dict, no checks; the outputs are copied once, as a loop must keep them past the
next call). A body node cpu_c cannot generate runs on the reference backend inside the body, as in any graph.

A body whose input shapes change from one iteration to the next (a carried value that grows) would compile
once per iteration: it runs on the reference interpreter instead, from the iteration where that is seen, and
so does a body that has met more than ``MAX_SIGNATURES`` shape signatures; ``interpreted`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from hetflow.ir import DType, Graph, Node, TensorType
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.ops.control import BodyProgram, BodyRun, run_control
from hetflow.ir.subgraph import specialize

MAX_SIGNATURES = 8
"""Input-shape signatures a body is compiled for; it is interpreted for any further one."""


class CompiledGraph(Protocol):
    """What a body compiles to (cpu_c's ``_Compiled``): called with its inputs in order, returns its outputs."""

    def call(self, args: list[np.ndarray]) -> list[np.ndarray]: ...


Build = Callable[[Graph, str], CompiledGraph]
"""Compiles a body specialized to static shapes (cpu_c's own compile), given its path ``<node>/<attribute>``
(under which a saved plan keeps its library)."""

Shapes = tuple[tuple[int, ...], ...]


def _contiguous(args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """The arrays as the generated code reads them (C order); no copy for those already so (all but scan slices)."""
    return [a if type(a) is np.ndarray and a.flags.c_contiguous else np.ascontiguousarray(a) for a in args]


class CompiledBody:
    """One body of one control node: its compiled specializations by input shapes, or the interpreter."""

    def __init__(self, body: Graph, owner: str, path: str, build: Build, strict: bool = False) -> None:
        """``strict``: raise rather than interpret the body (cpu_c's ``fallback="error"``)."""
        self.body, self.owner, self.path, self.strict = body, owner, path, strict
        self._build = build
        self.compiled: dict[Shapes, CompiledGraph] = {}
        self.interpreted: str | None = None
        """Why this body runs on the reference interpreter (None: it runs compiled)."""
        self._program: BodyProgram | None = None
        self.calls = 0
        """Iterations run compiled (a test reads it to see the generated code ran)."""

    def runner(self) -> BodyRun:
        """How to run the body for one execution of its node (``control.Prepare``): compiled per signature until
        the shapes change within the execution."""
        if self.interpreted is not None and not self.strict:
            return self._interpret
        first: list[tuple[tuple[int, ...], ...]] = []

        def run(args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            arrays = _contiguous(args)
            key = tuple(a.shape for a in arrays)
            compiled = self.compiled.get(key)
            if compiled is None and self.interpreted is None:
                if first and first[0] != key:
                    self.interpreted = (f"its input shapes change from one iteration to the next "
                                        f"({_signature(first[0])} then {_signature(key)})")
                elif len(self.compiled) >= MAX_SIGNATURES:
                    self.interpreted = f"it met more than {MAX_SIGNATURES} input-shape signatures"
            if compiled is None:  # the shapes changed in this execution, or too many signatures: interpreted
                if self.interpreted is not None:
                    if self.strict:
                        raise HetflowError(f"{self.owner}: body {self.path!r} cannot run as generated code, as "
                                           f"{self.interpreted}, and fallback='error'")
                    return self._interpret(arrays)
                compiled = self._compile(key, arrays)
            if not first:
                first.append(key)
            self.calls += 1
            return compiled.call(arrays)

        return run

    def warm(self, shapes: list[tuple[int, ...]]) -> None:
        """Compile for ``shapes`` now (the first iteration's, known at the node's compile); a body these shapes do
        not fit is left to compile when it runs (an ``if`` branch that is never taken must not fail the graph)."""
        if tuple(shapes) in self.compiled:
            return
        try:
            self._compile(tuple(shapes), [np.empty(s, v.type.dtype.numpy) for s, v in zip(shapes, self.body.inputs)])
        except InputError:  # specialize: the body's ops cannot take these shapes
            self.compiled.pop(tuple(shapes), None)

    def _compile(self, key: tuple[tuple[int, ...], ...], arrays: list[np.ndarray]) -> CompiledGraph:
        for v, a in zip(self.body.inputs, arrays):
            if a.dtype != v.type.dtype.numpy:
                raise HetflowError(f"{self.owner}: body {self.body.name!r} input '{v.name}' is {v.type.dtype}, "
                                   f"but the node passes {a.dtype}")
        if len(arrays) != len(self.body.inputs):
            raise HetflowError(f"{self.owner}: body {self.body.name!r} takes {len(self.body.inputs)} inputs, "
                               f"got {len(arrays)}")
        self.compiled[key] = self._build(specialize(self.body, list(key)), self.path)
        return self.compiled[key]

    def _interpret(self, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        if self._program is None:
            self._program = BodyProgram(self.body, self.owner)
        return self._program.run(args)

    def latest(self) -> CompiledGraph | None:
        """The specialization compiled last (None: the body never ran compiled)."""
        return next(reversed(self.compiled.values()), None)


def _signature(shapes: tuple[tuple[int, ...], ...]) -> str:
    return " ".join("[" + ",".join(map(str, s)) + "]" for s in shapes)


def _first_inputs(node: Node) -> list[TensorType | None]:
    """The types of a control node's body inputs at its first iteration (None where the node does not say)."""
    ins = [None if v is None else v.type for v in node.inputs]
    if node.op == "if":
        return ins[1:]
    if node.op == "loop":
        return [TensorType(DType.int64, ()), TensorType(DType.bool, ()), *ins[2:]]
    n, m = node.attrs["num_states"], node.attrs["num_scan_inputs"]
    axes = list(node.attrs["scan_input_axes"] or [0] * m)
    slices: list[TensorType | None] = []
    for t, axis in zip(ins[n:n + m], axes):
        slices.append(None if t is None or t.shape is None or not t.shape else
                      t.with_shape(t.shape[:axis % len(t.shape)] + t.shape[axis % len(t.shape) + 1:]))
    return [*ins[:n], *slices, *ins[n + m:]]


class HostControl:
    """A control node of a cpu_c graph: its iteration on the host, each body a ``CompiledBody``, compiled with the
    graph where the node's input shapes are static (else when first run)."""

    def __init__(self, node: Node, build: Build, prefix: str = "", saved: Mapping[str, list[Shapes]] | None = None,
                 strict: bool = False) -> None:
        """``prefix``: the path of the graph holding ``node`` (nested bodies); ``saved``: body path -> the shapes a
        saved plan holds a library for (compiled now, from those libraries); ``strict``: see ``CompiledBody``."""
        self.node = node
        owner = f"node {node.name!r} ({node.op})"
        self.bodies = {id(g): CompiledBody(g, owner, f"{prefix}{node.name}/{k}", build, strict)
                       for k, g in node.attrs.items() if isinstance(g, Graph)}
        first = _first_inputs(node)
        for body in self.bodies.values():
            for shapes in (saved or {}).get(body.path, []):
                body.warm([tuple(s) for s in shapes])
            if all(t is not None and t.is_static for t in first):
                body.warm([tuple(t.shape) for t in first])  # type: ignore[union-attr, arg-type]

    def _prepare(self, body: Graph) -> BodyRun:
        return self.bodies[id(body)].runner()

    def run(self, inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """The node's outputs, by the IR's iteration semantics with the compiled bodies."""
        return run_control(self.node, inputs, self._prepare)

    def body_names(self) -> list[tuple[str, CompiledBody]]:
        """(attribute holding the body, its runner) in the node's attribute order."""
        return [(k, self.bodies[id(g)]) for k, g in self.node.attrs.items() if isinstance(g, Graph)]


def compiled_bodies(hosts: Sequence[HostControl]) -> list[tuple[str, Shapes, CompiledGraph]]:
    """(body path, input shapes, compiled body) for every body specialization under ``hosts`` (not nested ones)."""
    return [(body.path, shapes, compiled) for host in hosts for _, body in host.body_names()
            for shapes, compiled in body.compiled.items()]
