"""The exact two-device placement: a minimum s-t cut (Stone's construction), by Dinic's max-flow.

Device ``a`` is the source side, device ``b`` the sink side. Each task has an edge from the
source (capacity: its time on ``b``, paid when it lands on ``b``) and one to the sink (its time
on ``a``). A value is charged once per direction however many consumers read it: an auxiliary
vertex per value and direction, joined to the consumers by infinite edges, carries the one
transfer cost. Graph inputs start on the host, graph outputs end there; when the host is not one
of the two devices those costs become per-side charges of the same shape.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from hetflow.partition.problem import Problem

_INF = float("inf")


class MaxFlow:
    """Dinic's algorithm on float capacities (infinite capacities allowed)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.head: list[list[int]] = [[] for _ in range(n)]
        self.to: list[int] = []
        self.cap: list[float] = []

    def add_edge(self, u: int, v: int, capacity: float) -> None:
        if capacity <= 0:
            return
        self.head[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(capacity)
        self.head[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0.0)

    def _levels(self, s: int, t: int) -> list[int] | None:
        level = [-1] * self.n
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for i in self.head[u]:
                if self.cap[i] > 0 and level[self.to[i]] < 0:
                    level[self.to[i]] = level[u] + 1
                    queue.append(self.to[i])
        return level if level[t] >= 0 else None

    def _augment(self, s: int, t: int, level: list[int]) -> float:
        """One blocking flow, found with an explicit stack (graphs here can be deep)."""
        it = [0] * self.n
        total = 0.0
        while True:
            path: list[int] = []  # edge ids from s
            u = s
            while u != t:
                advanced = False
                while it[u] < len(self.head[u]):
                    i = self.head[u][it[u]]
                    v = self.to[i]
                    if self.cap[i] > 0 and level[v] == level[u] + 1:
                        path.append(i)
                        u = v
                        advanced = True
                        break
                    it[u] += 1
                if not advanced:
                    if u == s:
                        return total
                    level[u] = -1  # dead end: prune it
                    i = path.pop()
                    u = self.to[i ^ 1]
                    it[u] += 1
            push = min(self.cap[i] for i in path)
            if push == _INF:
                return _INF
            for i in path:
                self.cap[i] -= push
                self.cap[i ^ 1] += push
            total += push

    def run(self, s: int, t: int) -> float:
        flow = 0.0
        while (level := self._levels(s, t)) is not None:
            flow += self._augment(s, t, level)
            if flow == _INF:
                break
        return flow

    def source_side(self, s: int) -> list[bool]:
        """Vertices still reachable from ``s`` in the residual graph (after ``run``)."""
        seen = [False] * self.n
        seen[s] = True
        stack = [s]
        while stack:
            u = stack.pop()
            for i in self.head[u]:
                v = self.to[i]
                if self.cap[i] > 0 and not seen[v]:
                    seen[v] = True
                    stack.append(v)
        return seen


def min_cut_two(problem: Problem, a: int, b: int) -> np.ndarray:
    """The assignment of every task to device ``a`` or ``b`` that minimises ``problem.total_cost``.

    Raises ValueError when some task can run on neither.
    """
    n = problem.n
    compute = problem.compute
    for t in range(n):
        if not (np.isfinite(compute[t, a]) or np.isfinite(compute[t, b])):
            raise ValueError(f"task {problem.names[t]!r} can run on neither device")
    host = problem.host
    s, sink = n, n + 1
    on_a = np.zeros(n)  # extra seconds a task pays for sitting on a (returning outputs), likewise b
    on_b = np.zeros(n)
    flow = MaxFlow(n + 2 + 2 * len(problem.edges))
    aux = n + 2
    for e, edge in enumerate(problem.edges):
        cost = problem.arrival[e]
        consumers = sorted(set(edge.consumers))
        if edge.producer >= 0:
            p = edge.producer
            if edge.is_output:
                ret = problem.returns[e]
                on_a[p] += ret[a]
                on_b[p] += ret[b]
            if consumers:
                # a -> b: paid once if the producer is on a and any consumer on b
                flow.add_edge(p, aux, cost[a, b])
                for c in consumers:
                    flow.add_edge(aux, c, _INF)
                # b -> a: paid once if the producer is on b and any consumer on a
                flow.add_edge(aux + 1, p, cost[b, a])
                for c in consumers:
                    flow.add_edge(c, aux + 1, _INF)
        elif consumers:
            # a graph input: paid once for each side that has a consumer
            flow.add_edge(aux, sink, cost[host, a])
            for c in consumers:
                flow.add_edge(c, aux, _INF)
            flow.add_edge(s, aux + 1, cost[host, b])
            for c in consumers:
                flow.add_edge(aux + 1, c, _INF)
        aux += 2
    for t in range(n):
        flow.add_edge(s, t, compute[t, b] + on_b[t])  # cut when t sits on b
        flow.add_edge(t, sink, compute[t, a] + on_a[t])  # cut when t sits on a
    flow.run(s, sink)
    side = flow.source_side(s)
    return np.array([a if side[t] else b for t in range(n)], dtype=np.int64)
