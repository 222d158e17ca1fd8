"""Memory planning: every intermediate tensor gets a byte offset in one arena, reused by liveness.

Views cost nothing: a reshape (or contiguous slice, or a split piece) is its input's memory at an
offset; a concat input is produced directly inside the concat's output when the slices are
contiguous. Storage that several values share is one *root*; a root lives from the first unit
that writes any of its values to the last unit that reads one (graph outputs: to the end), and
roots whose lifetimes overlap never overlap in the arena (greedy by size, largest first).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hetflow.backends.cpu_c.fusion import Unit
from hetflow.backends.cpu_c.table import TABLE, Kernel, View
from hetflow.ir import DType, Graph, TensorType, Value

ALIGN = 64
Base = Literal["arena", "input", "const", "env"]


@dataclass(frozen=True)
class Loc:
    """Where a value's first element lives: ``base`` (+ ``index`` for inputs and constants) + ``offset`` bytes."""

    base: Base
    index: int = 0
    offset: int = 0


@dataclass
class MemoryPlan:
    locs: dict[int, Loc]
    arena_bytes: int
    constants: list[Value]
    scratch: dict[int, Loc] = field(default_factory=dict)
    """id(unit) -> arena space the unit's kernel uses while it runs."""
    placed: set[tuple[int, int]] = field(default_factory=set)
    """(id(node), position) pairs: that input (concat) or output (split, view) of the node is already
    where the node would have copied it, so the node copies nothing for it."""

    def loc(self, v: Value) -> Loc:
        return self.locs[id(v)]


def _nbytes(v: Value) -> int:
    n = v.type.nbytes
    assert n is not None, f"value {v.name} has no static size"
    return n


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _Storage:
    """Union of values that share memory: value -> (parent value, byte offset in the parent)."""

    def __init__(self) -> None:
        self.parent: dict[int, tuple[Value, int]] = {}

    def root(self, v: Value) -> tuple[Value, int]:
        offset = 0
        while id(v) in self.parent:
            v, off = self.parent[id(v)]
            offset += off
        return v, offset

    def link(self, child: Value, parent: Value, offset: int) -> None:
        self.parent[id(child)] = (parent, offset)


Linkable = Callable[[Value, Value, int], bool]
"""Whether a value may live inside another at a byte offset (symbolic plans allow fewer such views)."""


def plan_memory(graph: Graph, units: list[Unit], scratch: dict[int, int] | None = None,
                linkable: Linkable | None = None) -> MemoryPlan:
    """Assign every value the units touch a location; arena offsets by liveness. ``scratch`` maps
    id(unit) to bytes its kernel needs while it runs (alive for that unit only); ``linkable(child, parent,
    offset)`` vetoes sharing storage (default: any)."""
    can_link: Linkable = linkable or (lambda child, parent, offset: True)
    inputs = {id(v): i for i, v in enumerate(graph.inputs)}
    values: dict[int, Value] = {}
    for unit in units:
        for v in [*unit.inputs, *unit.outputs]:
            values.setdefault(id(v), v)
    for v in graph.outputs:
        values.setdefault(id(v), v)
    constants = [v for v in values.values() if v.const is not None]
    const_index = {id(v): i for i, v in enumerate(constants)}

    def fixed(v: Value) -> bool:
        return id(v) in inputs or v.const is not None or not v.type.is_static

    store = _Storage()
    placed: set[tuple[int, int]] = set()
    for unit in units:
        if unit.kind in ("reference", "host") or unit.anchor is None:
            continue
        node = unit.anchor
        entry = TABLE[node.op]
        x = node.inputs[0] if node.inputs else None
        if isinstance(entry, View) and x is not None and not fixed(node.outputs[0]):
            offset = entry.offset(node)
            if offset is not None and can_link(node.outputs[0], x, offset):
                store.link(node.outputs[0], x, offset)
                placed.add((id(node), 0))
        elif isinstance(entry, Kernel) and entry.output_slots and x is not None:
            slots = entry.output_slots(node)
            for i, (v, off) in enumerate(zip(node.outputs, slots or [])):
                if not fixed(v) and can_link(v, x, off):
                    store.link(v, x, off)
                    placed.add((id(node), i))
        elif isinstance(entry, Kernel) and entry.input_slots:
            slots = entry.input_slots(node)
            out = node.outputs[0]
            seen: set[int] = set()
            for i, (v, off) in enumerate(zip(node.inputs, slots or [])):
                if v is None:
                    continue
                root, root_off = store.root(v)
                if (fixed(root) or root_off != 0 or _nbytes(root) != _nbytes(v) or id(root) in seen
                        or store.root(out)[0] is root or id(root) in inputs or not can_link(root, out, off)):
                    seen.add(id(root))
                    continue
                seen.add(id(root))
                store.link(root, out, off)
                placed.add((id(node), i))

    # liveness of each root, in unit indices; graph outputs live to the end
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    roots: dict[int, Value] = {}

    def touch(v: Value, at: int) -> None:
        root, _ = store.root(v)
        if fixed(root):
            return
        roots[id(root)] = root
        first[id(root)] = min(first.get(id(root), at), at)
        last[id(root)] = max(last.get(id(root), at), at)

    temps: dict[int, Value] = {}
    for i, unit in enumerate(units):
        for v in unit.outputs:
            touch(v, i)
        for v in unit.inputs:
            touch(v, i)
        need = (scratch or {}).get(id(unit), 0)
        if need:
            temps[id(unit)] = Value(f"scratch{i}", TensorType(DType.uint8, (need,)))
            touch(temps[id(unit)], i)
    for v in graph.outputs:
        touch(v, len(units))

    offsets = _assign(roots, first, last)
    locs: dict[int, Loc] = {}
    for key, v in values.items():
        root, off = store.root(v)
        if id(root) in inputs:
            locs[key] = Loc("input", inputs[id(root)], off)
        elif root.const is not None:
            locs[key] = Loc("const", const_index.setdefault(id(root), len(constants)), off)
            if const_index[id(root)] == len(constants):
                constants.append(root)
        elif not root.type.is_static:
            locs[key] = Loc("env")
        else:
            locs[key] = Loc("arena", 0, offsets[id(root)] + off)
    arena = max((offsets[k] + _nbytes(r) for k, r in roots.items()), default=0)
    temp_locs = {u: Loc("arena", 0, offsets[id(v)]) for u, v in temps.items()}
    return MemoryPlan(locs, _align(arena) + ALIGN, constants, scratch=temp_locs, placed=placed)


def _assign(roots: dict[int, Value], first: dict[int, int], last: dict[int, int]) -> dict[int, int]:
    """Greedy by size: the largest roots first, each at the lowest offset free for its whole lifetime."""
    order = sorted(roots, key=lambda k: (-_nbytes(roots[k]), first[k]))
    done: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[int, int] = {}
    for k in order:
        size = _align(max(_nbytes(roots[k]), 1))
        busy = sorted((o, e) for o, e, f, la in done if f <= last[k] and first[k] <= la)
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        offsets[k] = offset
        done.append((offset, offset + size, first[k], last[k]))
    return offsets


def peak_bytes(plan: MemoryPlan) -> int:
    """The arena's size: what every intermediate of one run needs at once, at most."""
    return plan.arena_bytes


def total_bytes(values: list[Value]) -> int:
    """What the same values would take with a buffer each (for reports)."""
    return sum(math.prod(v.type.shape or ()) * v.type.dtype.itemsize for v in values if v.type.is_static)
