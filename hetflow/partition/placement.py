"""Latency placement: HEFT list scheduling, local search, and merging into contiguous subgraphs.

1. HEFT: tasks by decreasing upward rank, each to the device where it finishes earliest,
   transfers (and the boundary penalty) included.
2. Local search: the best single move (a task, or later a whole subgraph, to another device)
   under the latency model, repeated while it helps and a work budget lasts.
3. Merge: a task joins the subgraph its device is running unless that would create a cycle
   between subgraphs; subgraphs then move as units in a second local search, and merge again.

Subgraphs are runs of consecutive tasks in their device's order, so merging never changes the
latency model's schedule: the estimate is the same before and after, and it is what the runtime's
discrete-event clock reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hetflow.partition.mincut import min_cut_two
from hetflow.partition.problem import Problem

# Element-steps (tasks x candidate assignments) one local search may spend. Placing DenseNet-121
# on four devices spends about a tenth of it.
WORK_BUDGET = 40_000_000
# Min cuts of every device pair are starting points up to this many tasks (each costs a max-flow).
MIN_CUT_START_LIMIT = 5_000


@dataclass
class Placement:
    """Where every task goes, the subgraphs it is cut into, and the latency model's estimate."""

    assign: np.ndarray  # (n,) device index per task
    groups: list[list[int]]  # task indices per subgraph, in the model's order
    makespan: float  # the latency model's end-to-end estimate, seconds
    method: str  # which algorithm produced it


def heft(problem: Problem) -> np.ndarray:
    """HEFT without insertion: tasks by upward rank, each on the device of earliest finish."""
    arrival, returns, compute = problem._lists()
    n, host, edges = problem.n, problem.host, problem.edges
    assign = [-1] * n
    finish = [0.0] * n
    free = [0.0] * problem.num_devices
    ins, outs = problem.inputs_of(), problem.outputs_of()
    for t in problem.order():
        best: tuple[float, float, int, float] | None = None
        sources = [(arrival[e][host], 0.0) if edges[e].producer < 0 else
                   (arrival[e][assign[edges[e].producer]], finish[edges[e].producer]) for e in ins[t]]
        homeward = [returns[e] for e in outs[t] if edges[e].is_output]
        for d in problem.candidates(t):
            ready = max((at + row[d] for row, at in sources), default=0.0)
            eft = (ready if ready > free[d] else free[d]) + compute[t][d]
            # a task that makes a graph output also has to send it home
            home = max((row[d] for row in homeward), default=0.0)
            key = (eft + home, compute[t][d], d, eft)
            if best is None or key < best:
                best = key
        assert best is not None, f"task {problem.names[t]!r} has no candidate device"
        assign[t] = best[2]
        finish[t] = free[best[2]] = best[3]
    return np.array(assign, dtype=np.int64)


Scorer = Callable[[np.ndarray], tuple[int, tuple[float, ...]]]
"""Given candidate assignments (m, n): the best one's index and its score (lower is better, compared in order)."""


def local_search(problem: Problem, assign: np.ndarray, units: list[list[int]] | None, budget: int, score: Scorer,
                 cost: Callable[[int], int]) -> np.ndarray:
    """Best-improvement local search: move one unit (a task, or a subgraph) to another device it can run on.

    Repeats while the best move improves ``score`` and ``budget`` lasts; scoring m candidates
    spends ``cost(m)``.
    """
    assign = np.asarray(assign, dtype=np.int64).copy()
    units = [[t] for t in range(problem.n)] if units is None else units
    finite = np.isfinite(problem.compute)
    moves = [(u, d) for u, members in enumerate(units) for d in range(problem.num_devices)
             if finite[members, d].all() and not (assign[members] == d).all()]
    if not moves:
        return assign
    mask = np.zeros((len(moves), problem.n), dtype=bool)
    for i, (u, _) in enumerate(moves):
        mask[i, units[u]] = True
    target = np.array([d for _, d in moves], dtype=np.int64)
    _, current = score(assign[None])
    spent = cost(1)
    while spent + cost(len(moves)) <= budget:
        spent += cost(len(moves))
        trial = np.where(mask, target[:, None], assign[None, :])
        best, found = score(trial)
        if not _better(found, current):
            break
        assign, current = trial[best], found
    return assign


def _better(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` < ``b`` in order, each comparison with a relative tolerance (ties fall to the next)."""
    for x, y in zip(a, b):
        if x < y * (1 - 1e-9):
            return True
        if x > y * (1 + 1e-9):
            return False
    return False


def improve(problem: Problem, assign: np.ndarray, units: list[list[int]] | None = None,
            budget: int = WORK_BUDGET) -> np.ndarray:
    """Local search under the latency model; the budget counts tasks x candidate assignments simulated."""

    def score(trial: np.ndarray) -> tuple[int, tuple[float, ...]]:
        times = problem.simulate_many(trial)
        best = int(np.argmin(times))
        return best, (float(times[best]),)

    return local_search(problem, assign, units, budget, score, lambda m: problem.n * m)


def merge(problem: Problem, assign: np.ndarray) -> list[list[int]]:
    """Contiguous subgraphs: runs of consecutive tasks on one device, cut where a cycle could form.

    Tasks are taken in the latency model's order. A task joins the subgraph its device is running
    when every producer it has in another subgraph is in an older one (subgraphs numbered as they
    open); otherwise it opens a new subgraph. Every edge between subgraphs then runs from an older
    to a newer one, so the subgraphs form a DAG in opening order. Because a subgraph is a run in
    its device's order, the runtime executing subgraphs one after another reproduces the model's
    schedule.
    """
    group = [-1] * problem.n
    members: list[list[int]] = []
    open_group = [-1] * problem.num_devices
    producers = [{problem.edges[e].producer for e in es} - {-1} for es in problem.inputs_of()]
    for v in problem.order():
        d = int(assign[v])
        g = open_group[d]
        if g < 0 or any(group[q] > g for q in producers[v]):
            g = open_group[d] = len(members)
            members.append([])
        group[v] = g
        members[g].append(v)
    return members


def starting_points(problem: Problem) -> list[tuple[np.ndarray, str]]:
    """HEFT; every device alone (where it can run everything); the min cut of every device pair (small graphs)."""
    starts = [(heft(problem), "heft")]
    finite = np.isfinite(problem.compute)
    for d in range(problem.num_devices):
        if finite[:, d].all():
            starts.append((np.full(problem.n, d, dtype=np.int64), f"single:{d}"))
    if problem.n <= MIN_CUT_START_LIMIT:
        compute_devices = [d for d in range(problem.num_devices) if finite[:, d].any()]
        for i, a in enumerate(compute_devices):
            for b in compute_devices[i + 1:]:
                if (finite[:, a] | finite[:, b]).all():
                    starts.append((min_cut_two(problem, a, b), f"min-cut:{a},{b}"))
    return starts


def place_latency(problem: Problem, budget: int = WORK_BUDGET) -> Placement:
    """From each starting point: local search over tasks (when affordable) and over subgraphs.

    Keeps the placement with the shortest latency-model estimate.
    """
    starts = starting_points(problem)
    times = problem.simulate_many(np.stack([a for a, _ in starts]))
    # searching from every start costs as much again per start: only small graphs can afford it
    share = budget // len(starts)
    best: Placement | None = None
    for i in np.argsort(times, kind="stable")[: len(starts) if problem.n * problem.n * problem.num_devices * 4 <= share
                                               else 1]:
        assign, method = starts[i]
        if problem.n * problem.n * problem.num_devices <= share:
            assign = improve(problem, assign, budget=share)
            method += "+search"
        groups = merge(problem, assign)
        for _ in range(3):
            moved = improve(problem, assign, groups, share)
            if np.array_equal(moved, assign):
                break
            assign, method = moved, method + "+moves"
            groups = merge(problem, assign)
        placement = Placement(assign, groups, problem.simulate(assign).makespan, method)
        if best is None or placement.makespan < best.makespan:
            best = placement
    assert best is not None
    return best
