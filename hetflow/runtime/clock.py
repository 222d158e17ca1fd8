"""A discrete-event clock: modelled time for a run whose devices are emulated (or partly measured).

Time 0 is when the inputs are handed to the plan. A device runs one thing at a time; a link
(a directed pair of endpoints) carries one transfer at a time. A subgraph on an emulated device
runs node by node, each node starting once the device is free and that node's inputs have
arrived (as a command queue with events would); a subgraph on a measured device is one
indivisible launch of the measured duration, starting once all its inputs are there. The clock
only composes durations it is given; it never reads the host's wall clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """One interval on one track: a subgraph or node on a device, or a transfer on a link."""

    track: str
    kind: str  # "subgraph", "node", "engine" (a unit inside a device's run) or "transfer"
    name: str
    start: float
    end: float
    item: int
    args: dict = field(default_factory=dict, hash=False, compare=False)


class Clock:
    """Per-device and per-link availability, and every span placed so far."""

    def __init__(self, *, detail: bool = True) -> None:
        self.detail = detail  # node spans inside measured launches too (for a trace); else one span per launch
        # spans as placed, made into Spans when someone looks (``spans``): most runs' spans are never looked at, and a
        # Span costs a microsecond to make, a tuple a tenth of that
        self._placed: list[tuple[str, str, str, float, float, int, dict]] = []
        self._spans: list[Span] = []
        self.transfers = 0  # transfer spans placed so far
        self._free: dict[str, float] = {}
        self._busy: dict[str, float] = {}  # track -> seconds of its subgraph and transfer spans, summed as placed
        self._lock = threading.Lock()

    def transfer(self, link: str, ready: float, seconds: float, *, item: int, value: str, nbytes: int,
                 route: str = "") -> float:
        """Move a value that is ready at ``ready`` over ``link``; returns when it has arrived. ``route`` says how
        the bytes went (see ``runtime.transfer.ROUTES``)."""
        with self._lock:
            start = max(ready, self._free.get(link, 0.0))
            end = start + seconds
            self._free[link] = end
            args = {"bytes": nbytes, "route": route} if route else {"bytes": nbytes}
            self._placed.append((link, "transfer", value, start, end, item, args))
            self._busy[link] = self._busy.get(link, 0) + (end - start)
            self.transfers += 1
        return end

    def launch(self, device: str, name: str, *, item: int, nodes: list[str], ready: list[float],
               seconds: list[float], atomic: bool, source: str) -> list[float]:
        """Place a subgraph's nodes on ``device``; ``ready[i]`` is when node i's outside inputs have all arrived.

        Returns when each node's outputs are available (for an atomic launch: all at its end).
        """
        with self._lock:
            cursor = self._free.get(device, 0.0)
            if atomic:
                cursor = max([cursor, *ready])
            first = None
            finish: list[float] = []
            node_spans = []
            for node, at, dur in zip(nodes, ready, seconds):
                start = cursor if atomic else max(cursor, at)
                first = start if first is None else first
                cursor = start + dur
                finish.append(cursor)
                node_spans.append((device, "node", node, start, cursor, item, {"source": source}))
            first = cursor if first is None else first
            self._free[device] = cursor
            self._placed.append((device, "subgraph", name, first, cursor, item, {"source": source, "nodes": len(nodes)}))
            self._placed.extend(node_spans)
            self._busy[device] = self._busy.get(device, 0) + (cursor - first)
        return [cursor] * len(finish) if atomic else finish

    def launch_whole(self, device: str, name: str, *, item: int, ready: float, seconds: float, nodes: int,
                     source: str) -> float:
        """An indivisible launch of ``nodes`` nodes, placed as one span (no node spans); returns its end."""
        with self._lock:
            start = max(self._free.get(device, 0.0), ready)
            end = self._free[device] = start + seconds
            self._placed.append((device, "subgraph", name, start, end, item, {"source": source, "nodes": nodes}))
            self._busy[device] = self._busy.get(device, 0) + (end - start)
        return end

    def units(self, device: str, start: float, events: list, *, item: int) -> None:
        """A run's per-unit events (``devices.TimelineEvent``: an accelerator's engines), from ``start`` on tracks
        named ``device [unit]``."""
        with self._lock:
            self._placed.extend((f"{device} [{e.unit}]", "engine", e.name, start + e.start, start + e.end, item,
                                 dict(e.args)) for e in events)

    @property
    def spans(self) -> list[Span]:
        """Every span placed so far, in the order placed."""
        with self._lock:
            if self._placed:
                self._spans.extend(Span(*placed) for placed in self._placed)
                self._placed.clear()
            return self._spans

    def busy(self, track: str) -> float:
        """Seconds ``track`` spent on subgraphs or transfers."""
        with self._lock:
            return self._busy.get(track, 0)
