"""Throughput placement: pipeline stages on device pools, balanced to minimise the bottleneck.

For a stream of inputs every device and every link is a pipeline stage: the steady-state time
per item is the busiest one's load. Devices of one description on one host form a pool whose
replicas take items in turn, so a stage placed on a pool of ``r`` runs ``r`` copies and its load
is divided by ``r``. A device's load per item is its tasks' occupancy (``Problem.occupancy``: the
time until it takes the next item, shorter than the latency for a pipelined design; a boundary
penalty delays an item but does not occupy the device, as in the runtime's clock); a directed
device pair's load
is the transfers it carries, each value once per receiving device, shared out over the links of
the replicas at either end (each replica has its own).

The search is the latency placement's, with the bottleneck as objective: start from HEFT and
from every single pool that can run everything, move tasks (when affordable) and then whole
subgraphs to whichever pool lowers the bottleneck (ties: the lower latency), and cut the result
into contiguous subgraphs: the stages.
"""

from __future__ import annotations

import numpy as np

from hetflow.partition.placement import WORK_BUDGET, Placement, heft, local_search, merge
from hetflow.partition.problem import Problem


def bottleneck_many(problem: Problem, replicas: np.ndarray, assigns: np.ndarray) -> np.ndarray:
    """Per-item steady-state seconds (the busiest device or link) of many assignments: (m, n) -> (m,)."""
    assigns = np.asarray(assigns, dtype=np.int64)
    m = assigns.shape[0]
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(1, len(problem.edges) * problem.num_devices))
    return np.concatenate([_bottleneck(problem, replicas, assigns[i:i + rows_per_chunk])
                           for i in range(0, m, rows_per_chunk)]) if m else np.zeros(0)


_CHUNK_ELEMENTS = 4_000_000  # (assignments x edges x devices) evaluated at once


def _bottleneck(problem: Problem, replicas: np.ndarray, assigns: np.ndarray) -> np.ndarray:
    m, n = assigns.shape
    D, E, host = problem.num_devices, len(problem.edges), problem.host
    rows = np.arange(m)[:, None]
    # compute on each device
    device = np.bincount((rows * D + assigns).ravel(), weights=problem.occupancy[np.arange(n), assigns].ravel(),
                         minlength=m * D).reshape(m, D)
    # which devices receive each value (once per device), from where
    producers = np.array([e.producer for e in problem.edges], dtype=np.int64)
    src = np.where(producers[None, :] >= 0, assigns[:, np.maximum(producers, 0)], host)  # (m, E)
    pair_edge = np.array([e for e, edge in enumerate(problem.edges) for _ in set(edge.consumers)], dtype=np.int64)
    pair_task = np.array([c for edge in problem.edges for c in set(edge.consumers)], dtype=np.int64)
    receives = np.zeros(m * E * D, dtype=bool)
    receives[((rows * E + pair_edge[None, :]) * D + assigns[:, pair_task]).ravel()] = True
    receives = receives.reshape(m, E, D)
    receives[rows, np.arange(E)[None, :], src] = False
    # link loads: value e from src to every receiving device d; graph outputs back home
    wire = problem.wire[np.arange(E)[None, :], src]  # (m, E, D)
    load = np.where(receives, wire, 0.0)
    outputs = np.array([e.is_output and e.producer >= 0 for e in problem.edges])
    load[:, outputs, host] += wire[:, outputs, host]
    flat = ((rows[:, :, None] * D + src[:, :, None]) * D + np.arange(D)[None, None, :]).ravel()
    link = np.bincount(flat, weights=load.ravel(), minlength=m * D * D).reshape(m, D, D)
    device /= replicas[None, :]
    link /= np.maximum(replicas[:, None], replicas[None, :])[None]
    return np.maximum(device.max(axis=1), link.reshape(m, -1).max(axis=1))


def evaluation_cost(problem: Problem, candidates: int) -> int:
    """Array elements one scoring of ``candidates`` assignments touches (the budget's unit)."""
    return candidates * (problem.n + len(problem.edges) * problem.num_devices * 4)


def _best(problem: Problem, replicas: np.ndarray, trial: np.ndarray) -> tuple[int, tuple[float, float]]:
    """The trial with the smallest bottleneck, ties broken by the latency model."""
    period = bottleneck_many(problem, replicas, trial)
    ties = np.flatnonzero(period <= period.min() * (1 + 1e-9))
    latency = problem.simulate_many(trial[ties])
    i = int(np.argmin(latency))
    return int(ties[i]), (float(period[ties[i]]), float(latency[i]))


def balance(problem: Problem, replicas: np.ndarray, assign: np.ndarray, units: list[list[int]] | None = None,
            budget: int = WORK_BUDGET) -> np.ndarray:
    """Local search for the lowest bottleneck (at an equal bottleneck, the lowest latency)."""
    return local_search(problem, assign, units, budget, lambda trial: _best(problem, replicas, trial),
                        lambda m: evaluation_cost(problem, m))


def pipeline_stages(problem: Problem, replicas: np.ndarray, chunks: int = 32) -> np.ndarray | None:
    """Contiguous stages of the task order, one per device, minimising the bottleneck (a DP over cut points).

    Cut points are limited to ``chunks`` positions of equal mean work, and a value crossing a cut
    is charged to the link from the stage just before it (the exact bottleneck is computed by
    the caller). None when no chain of distinct devices can run every task.
    """
    order = problem.order()
    n, D = problem.n, problem.num_devices
    if n == 0:
        return None
    compute = problem.occupancy[order]
    finite = np.isfinite(compute)
    work = np.where(finite, compute, 0.0)
    mean = np.where(finite.any(axis=1), work.sum(axis=1) / np.maximum(finite.sum(axis=1), 1), 0.0)
    cuts = np.unique(np.searchsorted(np.cumsum(mean), np.linspace(0, mean.sum(), chunks + 1)[1:-1], side="right"))
    cuts = [0, *[int(c) for c in cuts if 0 < c < n], n]
    K = len(cuts) - 1
    prefix = np.vstack([np.zeros(D), np.cumsum(work, axis=0)])
    bad = np.vstack([np.zeros(D, dtype=int), np.cumsum(~finite, axis=0)])
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    # crossing[k]: seconds on each link (a, b) of the values that cross cut k (graph inputs cross cut 0)
    cut_at = np.array(cuts)
    starts = np.array([0 if e.producer < 0 else position[e.producer] + 1 for e in problem.edges], dtype=np.int64)
    ends = np.array([max((position[c] for c in e.consumers), default=-1) for e in problem.edges], dtype=np.int64)
    first = np.searchsorted(cut_at, starts, side="left")
    last = np.searchsorted(cut_at, ends, side="right") - 1
    inputs = np.array([e.producer < 0 and bool(e.consumers) for e in problem.edges])
    first[inputs], last[inputs] = 0, 0
    live = first <= last
    diff = np.zeros((K + 2, D, D))
    np.add.at(diff, first[live], problem.arrival[live])
    np.add.at(diff, last[live] + 1, -problem.arrival[live])
    crossing = np.cumsum(diff, axis=0)[: K + 1]
    devices = [d for d in range(D) if finite[:, d].any()]
    # best[(k, used mask, last device)] = smallest bottleneck covering chunks [0, k)
    best: dict[tuple[int, int, int], tuple[float, tuple | None]] = {(0, 0, problem.host): (0.0, None)}
    for k in range(K):
        for (at, used, last), (period, _) in [item for item in best.items() if item[0][0] == k]:
            for d in devices:
                if used >> d & 1:
                    continue
                link = crossing[k][last, d] / max(replicas[last], replicas[d]) if last != d else 0.0
                for j in range(k + 1, K + 1):
                    lo, hi = cuts[k], cuts[j]
                    if bad[hi, d] - bad[lo, d]:
                        break
                    stage = (prefix[hi, d] - prefix[lo, d]) / replicas[d]
                    key = (j, used | 1 << d, d)
                    value = max(period, stage, link)
                    if key not in best or value < best[key][0]:
                        best[key] = (value, (at, used, last, lo, hi))
    finals = [(v, key) for key, (v, _) in best.items() if key[0] == K]
    if not finals:
        return None
    key = min(finals)[1]
    assign = np.empty(n, dtype=np.int64)
    while best[key][1] is not None:
        at, used, last, lo, hi = best[key][1]
        assign[np.asarray(order[lo:hi])] = key[2]
        key = (at, used, last)
    return assign


def place_throughput(problem: Problem, replicas: np.ndarray, budget: int = WORK_BUDGET) -> tuple[Placement, float]:
    """The placement with the smallest bottleneck found, and that bottleneck (seconds per item)."""
    finite = np.isfinite(problem.compute)
    starts = [(heft(problem), "heft")]
    starts += [(np.full(problem.n, d, dtype=np.int64), f"single:{d}") for d in range(problem.num_devices)
               if problem.n and finite[:, d].all()]
    staged = pipeline_stages(problem, replicas)
    if staged is not None:
        starts.append((staged, "pipeline-dp"))
    share = budget // len(starts)
    best: tuple[Placement, float] | None = None
    task_moves = int(finite.sum())
    for assign, method in starts:
        if 4 * evaluation_cost(problem, task_moves) <= share:  # room for a few rounds of single-task moves
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
