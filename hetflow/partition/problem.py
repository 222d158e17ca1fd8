"""The placement problem in indices, and the latency model every placement algorithm is judged by.

A ``Problem`` is what placement sees of a graph and a cluster: ``n`` tasks (IR nodes, in a
topological order) by ``D`` devices of compute seconds (``inf`` where a device cannot run a
task), and data edges (one per IR value) with the seconds it takes to move each value between
each pair of devices. It knows nothing of IR ops or machine descriptions, so the algorithms can
be tested on random DAGs against exhaustive search.

The latency model (``simulate``): tasks are taken in one fixed priority order (decreasing
upward rank); each device runs its tasks one at a time in that order; a task starts when the
device is free and every input has arrived. A value crossing devices arrives ``latency +
bytes / bandwidth`` after its producer finishes, plus the receiving device's boundary penalty
(the cost of one more launch and synchronisation: what fragmentation costs). Links do not
contend. Graph inputs start on the host at time 0; the run ends when every graph output is back
on the host.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Edge:
    """One IR value seen by placement: who makes it, who reads it, how big it is."""

    producer: int  # task index, or -1 for a graph input (it starts on the host)
    consumers: list[int]
    nbytes: int
    is_output: bool = False


@dataclass
class Problem:
    """Tasks x devices compute times, data edges, and the links between devices."""

    names: list[str]  # task names; tasks are indexed in a topological order
    compute: np.ndarray  # (n, D) seconds; inf where the device cannot run the task
    edges: list[Edge]
    host: int  # device index where graph inputs live and outputs are delivered
    latency: np.ndarray  # (D, D) seconds per transfer, 0 on the diagonal
    inv_bandwidth: np.ndarray  # (D, D) seconds per byte, 0 on the diagonal
    penalty: np.ndarray  # (D,) seconds charged when a value arrives from another device
    intervals: np.ndarray | None = None  # (n, D) seconds a task occupies its device per streamed item; None: compute
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def occupancy(self) -> np.ndarray:
        """(n, D) seconds each task keeps its device busy per item of a stream (the throughput objective's load)."""
        return self.compute if self.intervals is None else self.intervals

    @property
    def n(self) -> int:
        return self.compute.shape[0]

    @property
    def num_devices(self) -> int:
        return self.compute.shape[1]

    # ------------------------------------------------------------------ derived tables
    @property
    def wire(self) -> np.ndarray:
        """(E, D, D): seconds edge e spends on the link from device a to device b (0 within a device)."""
        if "wire" not in self._cache:
            nbytes = np.array([e.nbytes for e in self.edges], dtype=float).reshape(-1, 1, 1)
            t = self.latency[None] + nbytes * self.inv_bandwidth[None]
            idx = np.arange(self.num_devices)
            t[:, idx, idx] = 0.0
            self._cache["wire"] = t
        return self._cache["wire"]

    @property
    def arrival(self) -> np.ndarray:
        """(E, D, D): seconds from edge e leaving device a until a task on device b can use it (penalty included)."""
        if "arrival" not in self._cache:
            t = self.wire + self.penalty[None, None, :]
            idx = np.arange(self.num_devices)
            t[:, idx, idx] = 0.0
            self._cache["arrival"] = t
        return self._cache["arrival"]

    @property
    def returns(self) -> np.ndarray:
        """(E, D): seconds to bring edge e from each device back to the host (used for graph outputs)."""
        return self.wire[:, :, self.host]

    def _lists(self) -> tuple[list, list, list]:
        """arrival, returns and compute as nested lists: scalar loops index these far faster than arrays."""
        if "lists" not in self._cache:
            self._cache["lists"] = (self.arrival.tolist(), self.returns.tolist(), self.compute.tolist())
        return self._cache["lists"]

    def inputs_of(self) -> list[list[int]]:
        """Per task, the edges it reads."""
        if "inputs" not in self._cache:
            table: list[list[int]] = [[] for _ in range(self.n)]
            for e, edge in enumerate(self.edges):
                for c in set(edge.consumers):
                    table[c].append(e)
            self._cache["inputs"] = table
        return self._cache["inputs"]

    def outputs_of(self) -> list[list[int]]:
        """Per task, the edges it produces."""
        if "outputs" not in self._cache:
            table: list[list[int]] = [[] for _ in range(self.n)]
            for e, edge in enumerate(self.edges):
                if edge.producer >= 0:
                    table[edge.producer].append(e)
            self._cache["outputs"] = table
        return self._cache["outputs"]

    def candidates(self, task: int) -> list[int]:
        if "candidates" not in self._cache:
            devices = range(self.num_devices)
            self._cache["candidates"] = [[d for d in devices if row[d]] for row in np.isfinite(self.compute).tolist()]
        return self._cache["candidates"][task]

    def order(self) -> list[int]:
        """Tasks by decreasing upward rank (HEFT's priority); always a topological order."""
        if "order" not in self._cache:
            rank = self.upward_rank()
            self._cache["order"] = sorted(range(self.n), key=lambda t: (-rank[t], t))
        return self._cache["order"]

    def upward_rank(self) -> list[float]:
        """Mean compute time plus the longest mean-cost path to the end of the graph."""
        finite = np.where(np.isfinite(self.compute), self.compute, np.nan)
        mean_w = np.nan_to_num(np.nanmean(finite, axis=1), nan=0.0).tolist() if self.n else []
        mean_c = self.arrival.mean(axis=(1, 2)).tolist() if self.edges else []
        mean_r = self.returns.mean(axis=1).tolist() if self.edges else []
        rank = [0.0] * self.n
        outs = self.outputs_of()
        for t in range(self.n - 1, -1, -1):
            tail = 0.0
            for e in outs[t]:
                edge = self.edges[e]
                if edge.is_output:
                    tail = max(tail, mean_r[e])
                for c in edge.consumers:
                    tail = max(tail, mean_c[e] + rank[c])
            rank[t] = mean_w[t] + tail
        return rank

    # ------------------------------------------------------------------ the latency model
    def simulate(self, assign: np.ndarray | list[int]) -> Schedule:
        """Start and finish of every task under the latency model, and the end-to-end time."""
        arrival, returns, compute = self._lists()
        a = [int(x) for x in assign]
        start = [0.0] * self.n
        finish = [0.0] * self.n
        free = [0.0] * self.num_devices
        ins = self.inputs_of()
        edges = self.edges
        for t in self.order():
            d = a[t]
            ready = 0.0
            for e in ins[t]:
                p = edges[e].producer
                at = arrival[e][self.host][d] if p < 0 else finish[p] + arrival[e][a[p]][d]
                if at > ready:
                    ready = at
            start[t] = ready if ready > free[d] else free[d]
            finish[t] = free[d] = start[t] + compute[t][d]
        end = max(finish, default=0.0)
        for e, edge in enumerate(edges):
            if edge.is_output and edge.producer >= 0:
                end = max(end, finish[edge.producer] + returns[e][a[edge.producer]])
        return Schedule(np.asarray(a, dtype=np.int64), np.array(start), np.array(finish), end)

    def simulate_many(self, assigns: np.ndarray) -> np.ndarray:
        """End-to-end times of many assignments at once: ``assigns`` is (m, n); returns (m,)."""
        assigns = np.asarray(assigns, dtype=np.int64)
        m = assigns.shape[0]
        rows = np.arange(m)
        finish = np.zeros((m, self.n))
        free = np.zeros((m, self.num_devices))
        ins = self.inputs_of()
        for t in self.order():
            d = assigns[:, t]
            ready = np.zeros(m)
            for e in ins[t]:
                p = self.edges[e].producer
                cost = self.arrival[e]
                at = cost[self.host, d] if p < 0 else finish[:, p] + cost[assigns[:, p], d]
                np.maximum(ready, at, out=ready)
            done = np.maximum(ready, free[rows, d]) + self.compute[t, d]
            finish[:, t] = done
            free[rows, d] = done
        end = finish.max(axis=1) if self.n else np.zeros(m)
        for e, edge in enumerate(self.edges):
            if edge.is_output and edge.producer >= 0:
                p = edge.producer
                np.maximum(end, finish[:, p] + self.returns[e][assigns[:, p]], out=end)
        return end

    def total_cost(self, assign: np.ndarray | list[int]) -> float:
        """Sum of compute plus every transfer, each value charged once per receiving device.

        The objective of the two-device min cut: what the graph costs when nothing overlaps.
        """
        assign = np.asarray(assign, dtype=np.int64)
        total = float(self.compute[np.arange(self.n), assign].sum()) if self.n else 0.0
        for e, edge in enumerate(self.edges):
            src = self.host if edge.producer < 0 else int(assign[edge.producer])
            cost = self.arrival[e]
            for d in {int(assign[c]) for c in edge.consumers}:
                total += cost[src, d]
            if edge.is_output and edge.producer >= 0:
                total += self.returns[e][src]
        return total


def topological_groups(groups: list[list[int]], edges: list[Edge], n: int) -> list[list[int]]:
    """``groups`` reordered so that every data edge between two groups points forward (Kahn's algorithm,
    earliest-listed first: an order that is already topological comes back unchanged)."""
    group_of = np.empty(n, dtype=np.int64)
    for g, members in enumerate(groups):
        group_of[members] = g
    succ: list[set[int]] = [set() for _ in groups]
    indegree = [0] * len(groups)
    for edge in edges:
        if edge.producer < 0:
            continue
        pg = int(group_of[edge.producer])
        for c in edge.consumers:
            cg = int(group_of[c])
            if cg != pg and cg not in succ[pg]:
                succ[pg].add(cg)
                indegree[cg] += 1
    heap = [g for g in range(len(groups)) if indegree[g] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        g = heapq.heappop(heap)
        order.append(g)
        for s in succ[g]:
            indegree[s] -= 1
            if indegree[s] == 0:
                heapq.heappush(heap, s)
    if len(order) != len(groups):
        raise ValueError("the groups are not convex: their quotient graph has a cycle")
    return [groups[g] for g in order]


@dataclass
class Schedule:
    """The latency model's answer for one assignment."""

    assign: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    makespan: float
