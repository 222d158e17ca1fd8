"""Run-time shape specialization: a plan compiled with symbolic input dims, run at shapes it cannot take as compiled.

A compiled plan keeps its (symbolic) graph. Its first run asks every subgraph's backend whether the artifact
runs any binding of the symbolic dims as compiled (``Backend.shape_polymorphic``: the reference interpreter
does; cpu_c's generated C takes a symbolic batch once it does). When all do, nothing is ever specialized. When
some do not, each new input-shape signature (the shapes of the inputs with symbolic dims) gets a specialized
plan: the symbolic dims are bound from the feeds (``check_feeds`` has already refused one symbol bound to two
sizes, naming the input and the dim), shapes are inferred through the whole graph, and each subgraph that cannot
take them is re-specialized on its own input shapes, its shape computations folded (``constant_fold`` folds a
``shape`` of a static value, ``dce`` drops what that leaves dead), and compiled again by the same backend, for
the same chip description, with the same options. Subgraphs that can take the shapes keep their artifact.

Placement is kept: a specialized plan has the same subgraphs on the same devices as the plan it came from.
Re-placing per shape would need the cost model and partitioner again on every new signature (and a session
on new devices); the symbolic plan was placed with a stated nominal size for each symbolic dim, which is what
the report shows. The cache is bounded (``Config.specialize_cache_size``, ``HETFLOW_SPECIALIZE_CACHE``) with
least-recently-used eviction; ``Plan.report`` lists each specialization (its signature, compile time measured,
hits) and the evictions.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from hetflow.backends import get_backend
from hetflow.config import get_config
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.subgraph import specialize
from hetflow.partition.plan import Plan, Subgraph
from hetflow.passes import run_passes
from hetflow.targets.units import format_seconds

Signature = tuple[tuple[str, tuple[int, ...]], ...]
"""(input name, concrete shape) for every graph input with a symbolic dim, in input order."""

SHAPE_FOLD_PASSES = ("constant_fold", "dce")
"""What a specialized subgraph runs before it is compiled: shapes are static now, so ``shape`` nodes and the
arithmetic on them fold to constants, and dce drops the nodes that leaves dead. One sweep folds every value
computed only from shapes: ``specialize`` binds the input symbols in the types the importer derived from shape
values (a ConstantOfShape of ``Shape(x)[0:1]`` is ``[1,64]`` at batch 1, not fresh symbols), and
``constant_fold`` sharpens each node's types as it reaches it, so a ``shape`` downstream of a folded chain sees a
static input."""

EVICTIONS_LISTED = 8
"""How many of the latest evicted signatures the report names (all are counted)."""


@dataclass
class Specialization:
    """One input-shape signature's plan: subgraphs compiled for it, and how it has been used."""

    signature: Signature
    plan: Plan
    compile_s: float  # wall clock of shape inference, folding and compiling (measured)
    compiled: list[str]  # the subgraphs compiled for it (the others kept their artifact)
    hits: int = 0  # later runs that found it compiled


def signature(graph: Graph, feeds: dict[str, np.ndarray]) -> Signature:
    """The shapes of the graph's symbolically shaped inputs in ``feeds`` (checked feeds: every input present)."""
    return tuple((v.name, tuple(np.shape(feeds[v.name]))) for v in graph.inputs if not v.type.is_static)


def format_signature(sig: Signature) -> str:
    return ", ".join(f"{name}=[{','.join(str(d) for d in shape)}]" for name, shape in sig) or "(static)"


class SpecializationCache:
    """A plan's specializations by input-shape signature: bounded, least recently used evicted first.

    It keeps no reference to the plan it serves (the plan holds it), so that a plan is freed as before.
    """

    def __init__(self, plan: Plan, *, capacity: int | None = None,
                 on_evict: Callable[[Plan], None] | None = None) -> None:
        self.capacity = capacity if capacity is not None else get_config().specialize_cache_size
        if self.capacity < 1:
            raise HetflowError(f"the specialization cache must hold at least 1 plan, got {self.capacity} "
                               f"(HETFLOW_SPECIALIZE_CACHE)")
        self.symbolic = not all(v.type.is_static for v in plan.graph.inputs)
        self.takes_any_shape = [get_backend(s.backend).shape_polymorphic(s.executable) for s in plan.subgraphs]
        self.needed = self.symbolic and not all(self.takes_any_shape)
        self._rigid = [f"{s.name} ({s.backend})" for s, ok in zip(plan.subgraphs, self.takes_any_shape) if not ok]
        self._on_evict = on_evict
        self._entries: OrderedDict[Signature, Specialization] = OrderedDict()
        self._lock = threading.Lock()
        self.compiles = 0  # backend compiles done for specializations (one per subgraph compiled)
        self.hits = 0
        self.runs = 0  # runs (a stream counts once per run of consecutive items of one signature)
        self.evicted = 0
        self._evicted: list[Signature] = []
        self._signatures: set[Signature] = set()  # seen while nothing needed specializing (bounded, for the report)

    @property
    def specializations(self) -> list[Specialization]:
        """The cached specializations, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def latest(self) -> Plan | None:
        """The most recently used specialized plan (None before the first specialization)."""
        with self._lock:
            return next(reversed(self._entries.values())).plan if self._entries else None

    def resolve(self, plan: Plan, feeds: dict[str, np.ndarray]) -> Plan:
        """The plan to run ``feeds`` with: ``plan`` itself when its artifacts take the shapes, else the
        specialization for their signature (compiled now if it is new)."""
        with self._lock:
            self.runs += 1
            if not self.needed:
                if self.symbolic and len(self._signatures) < 64:
                    self._signatures.add(signature(plan.graph, feeds))
                return plan
            key = signature(plan.graph, feeds)
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                found.hits += 1
                self.hits += 1
                return found.plan
            entry = self._specialize(plan, key)
            self._entries[key] = entry
            evicted = []
            while len(self._entries) > self.capacity:
                old_key, old = self._entries.popitem(last=False)
                self.evicted += 1
                self._evicted = [*self._evicted, old_key][-EVICTIONS_LISTED:]
                evicted.append(old.plan)
        for old_plan in evicted:  # outside the lock: closing a session waits for its run
            if self._on_evict is not None:
                self._on_evict(old_plan)
        return entry.plan

    def groups(self, plan: Plan, items: list[dict[str, np.ndarray]]) -> list[tuple[Plan, list[dict[str, np.ndarray]]]]:
        """``items`` cut into runs of consecutive items of one signature, each with the plan that runs it."""
        if not self.needed:
            if self.symbolic and items:  # counted for the report; a static plan pays nothing here
                self.resolve(plan, items[0])
            return [(plan, items)] if items else []
        out: list[tuple[Plan, list[dict[str, np.ndarray]]]] = []
        last: Signature | None = None
        for feeds in items:
            key = signature(plan.graph, feeds)
            if out and key == last:
                out[-1][1].append(feeds)
                continue
            out.append((self.resolve(plan, feeds), [feeds]))
            last = key
        return out

    def _specialize(self, plan: Plan, key: Signature) -> Specialization:
        started = time.perf_counter()
        bound = dict(key)
        try:
            whole = specialize(plan.graph, [bound.get(v.name, v.type.shape) for v in plan.graph.inputs])  # type: ignore[misc]
        except HetflowError as exc:  # shapes the model's ops cannot take: the caller's inputs are wrong
            raise InputError(f"inputs {format_signature(key)}: {exc}") from None
        types = {v.name: v.type for v in whole.values()}
        subgraphs: list[Subgraph] = []
        compiled: list[str] = []
        for sub, takes_any in zip(plan.subgraphs, self.takes_any_shape):
            shapes = [types[v.name].shape for v in sub.graph.inputs] if sub.graph is not None else []
            if takes_any or sub.graph is None or not all(types[v.name].is_static for v in sub.graph.inputs):
                subgraphs.append(sub)  # a shape inference cannot pin down (data-dependent): its artifact copes
                continue
            graph = run_passes(specialize(sub.graph, shapes), SHAPE_FOLD_PASSES)  # type: ignore[arg-type]
            backend = get_backend(sub.backend)
            executable = backend.compile(graph, **sub.compile_options) if sub.compiled_for is None else \
                backend.compile(graph, sub.compiled_for, **sub.compile_options)
            self.compiles += 1
            compiled.append(sub.name)
            subgraphs.append(replace(sub, executable=executable, graph=graph))
        specialized = replace(plan, graph=whole, subgraphs=subgraphs, specializations=None, last_run=None)
        return Specialization(key, specialized, time.perf_counter() - started, compiled)

    def report_lines(self) -> list[str]:
        """What ``Plan.report`` shows: each specialization (signature, compile time, hits), and the evictions."""
        with self._lock:
            if not self.symbolic:
                return []
            if not self.needed:
                return [f"shapes: every executable runs the symbolic dims as compiled; nothing specialized "
                        f"({self.runs} run(s) over {len(self._signatures)} input-shape signature(s))"]
            lines = [f"shapes: specialized per input-shape signature for {', '.join(self._rigid)}: "
                     f"{len(self._entries)} kept (at most {self.capacity}), {self.compiles} compile(s), "
                     f"{self.hits} hit(s), {self.evicted} eviction(s)"]
            for entry in reversed(self._entries.values()):  # most recently used first
                lines.append(f"  {format_signature(entry.signature)}: {', '.join(entry.compiled) or 'nothing'} "
                             f"compiled in {format_seconds(entry.compile_s)} (measured), {entry.hits} hit(s)")
            if self._evicted:
                lines.append(f"  evicted (least recently used, latest last): "
                             f"{'; '.join(format_signature(s) for s in self._evicted)}")
            return lines
