"""One arena per compiled graph: every intermediate gets an offset, reused once its last reader has run.

Offsets come from a greedy best-fit over the units' order: a value is placed when its unit runs, into
the smallest free block that holds it (else at the arena's end), and its block is freed after the last
unit that reads it. A value is never placed over one its own unit still reads (kernels gather through
load maps, so in-place is unsafe). Reshape outputs are views of their root value and extend its life.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetflow.backends.gpu_triton.fusion import Unit
from hetflow.ir import Graph, Value

ALIGN = 256  # bytes: what cudaMalloc guarantees and vectorized loads like


@dataclass
class MemoryPlan:
    offsets: dict[int, tuple[int, Value]] = field(default_factory=dict)
    """value id -> (arena offset, value)"""
    aliases: dict[int, int] = field(default_factory=dict)
    """view value id -> the value id whose memory it shares"""
    values: dict[int, Value] = field(default_factory=dict)
    arena_bytes: int = 0
    const_bytes: int = 0
    io_bytes: int = 0
    naive_bytes: int = 0
    """What the arena would take without reuse (for reports and tests)."""

    @property
    def total_bytes(self) -> int:
        return self.arena_bytes + self.const_bytes + self.io_bytes


def _round(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def plan_memory(graph: Graph, units: list[Unit]) -> MemoryPlan:
    plan = MemoryPlan()
    root: dict[int, int] = {}
    for u in units:
        for n in u.nodes:
            for v in n.outputs:
                plan.values[id(v)] = v
        if u.kind == "view":
            src, out = u.head.inputs[0], u.head.outputs[0]
            assert src is not None
            plan.values[id(src)] = src
            root[id(out)] = root.get(id(src), id(src))
            plan.aliases[id(out)] = root[id(out)]
    for v in graph.inputs:
        plan.values[id(v)] = v
    last = _last_uses(graph, units, root)
    inputs = {id(v) for v in graph.inputs}
    consts = {id(v) for v in graph.values() if v.const is not None}
    plan.const_bytes = sum(_round(v.type.nbytes or 0) for v in graph.values() if v.const is not None)
    plan.io_bytes = sum(_round(v.type.nbytes or 0) for v in graph.inputs)
    free: list[tuple[int, int]] = []  # (offset, size)
    live: list[tuple[int, int, int]] = []  # (last use, offset, size)
    end = 0
    for i, u in enumerate(units):
        for item in [x for x in live if x[0] < i]:
            live.remove(item)
            free.append((item[1], item[2]))
        free = _coalesce(free)
        if u.kind == "view":
            continue
        for n in u.nodes:
            for v in n.outputs:
                if id(v) in consts or id(v) in inputs or id(v) in plan.offsets:
                    continue
                size = _round(v.type.nbytes or 0)
                plan.naive_bytes += size
                fits = sorted((s, o) for o, s in free if s >= size)
                if fits:
                    s, o = fits[0]
                    free.remove((o, s))
                    if s > size:
                        free.append((o + size, s - size))
                else:
                    o, end = end, end + size
                plan.offsets[id(v)] = (o, v)
                live.append((max(last.get(id(v), i), i), o, size))
    plan.arena_bytes = end
    return plan


def _last_uses(graph: Graph, units: list[Unit], root: dict[int, int]) -> dict[int, int]:
    last: dict[int, int] = {}
    for i, u in enumerate(units):
        for n in u.nodes:
            for v in n.inputs:
                if v is not None:
                    key = root.get(id(v), id(v))
                    last[key] = max(last.get(key, -1), i)
    for v in graph.outputs:
        last[root.get(id(v), id(v))] = len(units)
    return last


def _coalesce(blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for o, s in sorted(blocks):
        if out and out[-1][0] + out[-1][1] == o:
            out[-1] = (out[-1][0], out[-1][1] + s)
        else:
            out.append((o, s))
    return out
