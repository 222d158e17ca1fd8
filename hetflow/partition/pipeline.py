"""Throughput placement: pipeline stages on device pools, balanced to minimise the bottleneck.

For a stream of inputs every device and every link is a pipeline stage: the steady-state time
per item is the busiest one's load. Devices of one description on one host form a pool whose
replicas take items in turn, so a stage placed on a pool of ``r`` runs ``r`` copies and its load
is divided by ``r``. A device's load per item is its tasks' compute plus a boundary penalty per
value it receives from elsewhere; a directed device pair's load is the transfers it carries,
each value once per receiving device.

The search is the latency placement's, with the bottleneck as objective: start from HEFT and
from every single pool that can run everything, move tasks (when affordable) and then whole
subgraphs to whichever pool lowers the bottleneck (ties: the lower latency), and cut the result
into contiguous subgraphs: the stages.
"""

from __future__ import annotations

import numpy as np

from hetflow.partition.placement import WORK_BUDGET, Placement, heft, merge
from hetflow.partition.problem import Problem


def bottleneck_many(problem: Problem, replicas: np.ndarray, assigns: np.ndarray) -> np.ndarray:
    """Per-item steady-state seconds (the busiest device or link) of many assignments: (m, n) -> (m,)."""
    assigns = np.asarray(assigns, dtype=np.int64)
    m, n = assigns.shape
    D = problem.num_devices
    rows = np.arange(m)
    device = np.zeros((m, D))
    link = np.zeros((m, D, D))
    for t in range(n):
        d = assigns[:, t]
        device[rows, d] += problem.compute[t, d]
    for edge in problem.edges:
        src = np.full(m, problem.host) if edge.producer < 0 else assigns[:, edge.producer]
        wire = problem.transfer(edge.nbytes)
        receives = np.zeros((m, D), dtype=bool)
        for c in set(edge.consumers):
            receives[rows, assigns[:, c]] = True
        receives[rows, src] = False
        link[rows, src, :] += np.where(receives, wire[src], 0.0)
        device += np.where(receives, problem.penalty[None, :], 0.0)
        if edge.is_output and edge.producer >= 0:
            home = src != problem.host
            link[rows[home], src[home], problem.host] += wire[src[home], problem.host]
    device /= replicas[None, :]
    pair_replicas = np.minimum(replicas[:, None], replicas[None, :])
    link /= pair_replicas[None, :, :]
    return np.maximum(device.max(axis=1), link.reshape(m, -1).max(axis=1))


def _score(problem: Problem, replicas: np.ndarray, assigns: np.ndarray) -> np.ndarray:
    """Bottleneck first, latency second (as a tiny tie-breaker)."""
    return bottleneck_many(problem, replicas, assigns) * (1 + 1e-6) + 1e-9 * problem.simulate_many(assigns)


def balance(problem: Problem, replicas: np.ndarray, assign: np.ndarray, units: list[list[int]] | None = None,
            budget: int = WORK_BUDGET) -> np.ndarray:
    """Best-improvement moves of units (tasks or subgraphs) to other pools while the bottleneck drops."""
    assign = np.asarray(assign, dtype=np.int64).copy()
    n = problem.n
    units = [[t] for t in range(n)] if units is None else units
    finite = np.isfinite(problem.compute)
    moves = [(u, d) for u, members in enumerate(units) for d in range(problem.num_devices) if finite[members, d].all()]
    if not moves or n == 0:
        return assign
    mask = np.zeros((len(moves), n), dtype=bool)
    for i, (u, _) in enumerate(moves):
        mask[i, units[u]] = True
    target = np.array([d for _, d in moves], dtype=np.int64)
    current = float(_score(problem, replicas, assign[None])[0])
    spent = 2 * n
    cost = 2 * n * len(moves) + len(problem.edges) * len(moves)
    while spent + cost <= budget:
        spent += cost
        trial = np.where(mask, target[:, None], assign[None, :])
        scores = _score(problem, replicas, trial)
        best = int(np.argmin(scores))
        if not scores[best] < current * (1 - 1e-9):
            break
        assign, current = trial[best], float(scores[best])
    return assign


def place_throughput(problem: Problem, replicas: np.ndarray, budget: int = WORK_BUDGET) -> tuple[Placement, float]:
    """The placement with the smallest bottleneck found, and that bottleneck (seconds per item)."""
    finite = np.isfinite(problem.compute)
    starts = [(heft(problem), "heft")]
    starts += [(np.full(problem.n, d, dtype=np.int64), f"single:{d}") for d in range(problem.num_devices)
               if problem.n and finite[:, d].all()]
    share = budget // len(starts)
    best: tuple[Placement, float] | None = None
    for assign, method in starts:
        if 3 * problem.n * problem.n * problem.num_devices <= share:
            assign = balance(problem, replicas, assign, budget=share)
            method += "+balance"
        groups = merge(problem, assign)
        for _ in range(3):
            moved = balance(problem, replicas, assign, groups, share)
            if np.array_equal(moved, assign):
                break
            assign, method = moved, method + "+moves"
            groups = merge(problem, assign)
        period = float(bottleneck_many(problem, replicas, assign[None])[0])
        placement = Placement(assign, groups, problem.simulate(assign).makespan, method)
        if best is None or (period, placement.makespan) < (best[1], best[0].makespan):
            best = (placement, period)
    assert best is not None
    return best
