"""Placement algorithms on random DAGs, against exhaustive search of the same objective."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hetflow.partition.mincut import MaxFlow, min_cut_two
from hetflow.partition.pipeline import bottleneck_many, place_throughput
from hetflow.partition.placement import heft, merge, place_latency
from hetflow.partition.problem import Edge, Problem, topological_groups


def random_problem(rng: np.random.Generator, n: int, devices: int = 3, *, integer: bool = False,
                   home_is_device: bool = True) -> Problem:
    """A random DAG: heterogeneous speeds, some tasks unsupported off device 0, multi-consumer values,
    graph inputs and outputs. With ``home_is_device`` False the host is an extra device that computes nothing."""
    D = devices + (0 if home_is_device else 1)
    speed = rng.choice([0.2, 1.0, 5.0], size=devices)
    compute = rng.uniform(1, 10, (n, devices)) * speed
    if integer:
        compute = np.round(compute * 3) + 1
    mask = rng.random((n, devices)) < 0.15
    mask[:, 0] = False
    compute[mask] = np.inf
    if not home_is_device:
        compute = np.hstack([compute, np.full((n, 1), np.inf)])
    edges = [Edge(-1, [0], int(rng.integers(1, 100)))]
    edges += [Edge(-1, [i], int(rng.integers(1, 100))) for i in range(1, n) if rng.random() < 0.2]
    for i in range(n):
        consumers = [j for j in range(i + 1, n) if rng.random() < 0.3]
        edges.append(Edge(i, consumers, int(rng.integers(1, 100)), is_output=not consumers or rng.random() < 0.1))
    latency = rng.uniform(0.5, 3, (D, D))
    inv_bw = rng.uniform(0.01, 0.05, (D, D))
    penalty = rng.uniform(0, 1, D)
    if integer:
        latency, inv_bw, penalty = np.round(latency), np.zeros((D, D)), np.round(penalty)
    np.fill_diagonal(latency, 0)
    np.fill_diagonal(inv_bw, 0)
    host = 0 if home_is_device else devices
    return Problem([f"t{i}" for i in range(n)], compute, edges, host, latency, inv_bw, penalty)


def exhaustive_latency(problem: Problem) -> float:
    """The latency model's optimum over every assignment (vectorised, in chunks)."""
    all_assigns = np.array(list(itertools.product(*(problem.candidates(t) for t in range(problem.n)))), dtype=np.int64)
    return min(float(problem.simulate_many(chunk).min())
               for chunk in np.array_split(all_assigns, max(1, len(all_assigns) // 60_000)))


CASES = [(seed, n, True) for n in range(3, 13) for seed in range(6)]
CASES += [(seed, n, False) for n in range(4, 11, 2) for seed in range(3)]  # the host computes nothing


@pytest.mark.parametrize("seed,n,home_is_device", CASES)
def test_latency_placement_within_125_percent_of_exhaustive(seed: int, n: int, home_is_device: bool) -> None:
    problem = random_problem(np.random.default_rng(1000 * n + seed), n, home_is_device=home_is_device)
    placement = place_latency(problem)
    optimum = exhaustive_latency(problem)
    assert np.isfinite(problem.compute[np.arange(n), placement.assign]).all()
    assert placement.makespan == pytest.approx(problem.simulate(placement.assign).makespan, rel=1e-12)
    assert placement.makespan <= 1.25 * optimum + 1e-9, (placement.method, placement.makespan / optimum)


@pytest.mark.parametrize("seed", range(24))
def test_two_device_min_cut_equals_exhaustive_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 13))
    problem = random_problem(rng, n, devices=2, integer=True, home_is_device=bool(seed % 2))
    assign = min_cut_two(problem, 0, 1)
    best = min(problem.total_cost(a) for a in itertools.product((0, 1), repeat=n)
               if np.isfinite(problem.compute[np.arange(n), list(a)]).all())
    assert problem.total_cost(assign) == best


def test_min_cut_charges_a_multi_consumer_value_once() -> None:
    # t0 is cheap only on device 0; its one output feeds three tasks that are cheap only on device 1.
    compute = np.array([[1.0, 100.0], [100.0, 1.0], [100.0, 1.0], [100.0, 1.0]])
    edges = [Edge(-1, [0], 0), Edge(0, [1, 2, 3], 0), Edge(1, [], 0, True), Edge(2, [], 0, True), Edge(3, [], 0, True)]
    latency = np.array([[0.0, 10.0], [10.0, 0.0]])
    problem = Problem(["a", "b", "c", "d"], compute, edges, 0, latency, np.zeros((2, 2)), np.zeros(2))
    assign = min_cut_two(problem, 0, 1)
    assert assign.tolist() == [0, 1, 1, 1]
    assert problem.total_cost(assign) == 1 + 3 + 10 + 3 * 10  # one transfer out, three results home


def test_max_flow_small_network() -> None:
    flow = MaxFlow(4)
    for u, v, c in [(0, 1, 3), (0, 2, 2), (1, 2, 1), (1, 3, 2), (2, 3, 3)]:
        flow.add_edge(u, v, c)
    assert flow.run(0, 3) == 5
    assert flow.source_side(0) == [True, False, False, False]


@pytest.mark.parametrize("seed", range(10))
def test_merged_subgraphs_are_convex_runs_in_device_order(seed: int) -> None:
    problem = random_problem(np.random.default_rng(seed), 30)
    assign = heft(problem)
    groups = merge(problem, assign)
    ordered = topological_groups(groups, problem.edges, problem.n)  # raises if the quotient has a cycle
    assert sorted(t for g in ordered for t in g) == list(range(problem.n))
    position = {t: i for i, t in enumerate(problem.order())}
    for g in groups:
        assert len({int(assign[t]) for t in g}) == 1
        device_order = [t for t in problem.order() if assign[t] == assign[g[0]]]
        first = device_order.index(min(g, key=position.__getitem__))
        assert set(device_order[first:first + len(g)]) == set(g)  # consecutive on its device


def test_heft_is_scheduled_by_the_same_model() -> None:
    problem = random_problem(np.random.default_rng(7), 12)
    assign = heft(problem)
    single = problem.simulate(assign).makespan
    assert problem.simulate_many(assign[None])[0] == pytest.approx(single, rel=1e-12)


def test_replication_divides_the_bottleneck() -> None:
    # A chain that only device 0 can run; two replicas of it halve the time per item.
    n = 6
    compute = np.full((n, 2), np.inf)
    compute[:, 0] = 2.0
    edges = [Edge(-1, [0], 10)] + [Edge(i, [i + 1], 10) for i in range(n - 1)] + [Edge(n - 1, [], 10, True)]
    problem = Problem([f"t{i}" for i in range(n)], compute, edges, 1, np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2))
    one, period_one = place_throughput(problem, np.array([1.0, 1.0]))
    two, period_two = place_throughput(problem, np.array([2.0, 1.0]))
    assert period_one == pytest.approx(12.0)
    assert period_two == pytest.approx(6.0)


def test_throughput_spreads_work_over_devices() -> None:
    # Two equal devices, a chain of equal tasks: the best pipeline puts half on each.
    n = 8
    compute = np.ones((n, 3))
    compute[:, 2] = np.inf  # the home host computes nothing
    edges = [Edge(-1, [0], 1)] + [Edge(i, [i + 1], 1) for i in range(n - 1)] + [Edge(n - 1, [], 1, True)]
    tiny = np.full((3, 3), 1e-3)
    np.fill_diagonal(tiny, 0)
    problem = Problem([f"t{i}" for i in range(n)], compute, edges, 2, tiny, np.zeros((3, 3)), np.zeros(3))
    placement, period = place_throughput(problem, np.ones(3))
    assert period == pytest.approx(4.0, rel=1e-2)
    assert period == pytest.approx(float(bottleneck_many(problem, np.ones(3), placement.assign[None])[0]))
    assert sorted(np.bincount(placement.assign, minlength=2)[:2].tolist()) == [4, 4]


def _bottleneck_by_loops(problem: Problem, replicas: np.ndarray, assign: np.ndarray) -> float:
    """The throughput model spelled out, one value at a time."""
    D = problem.num_devices
    device, link = np.zeros(D), np.zeros((D, D))
    for t, d in enumerate(assign):
        device[d] += problem.compute[t, d]
    for edge in problem.edges:
        src = problem.host if edge.producer < 0 else int(assign[edge.producer])
        wire = problem.latency + edge.nbytes * problem.inv_bandwidth  # zero on the diagonal
        for d in {int(assign[c]) for c in edge.consumers} - {src}:
            link[src, d] += wire[src, d]
        if edge.is_output and edge.producer >= 0 and src != problem.host:
            link[src, problem.host] += wire[src, problem.host]
    device /= replicas
    link /= np.maximum(replicas[:, None], replicas[None, :])  # each replica has its own link
    return max(device.max(), link.max())


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_bottleneck_matches_the_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, 10, home_is_device=bool(seed % 2))
    replicas = rng.integers(1, 3, problem.num_devices).astype(float)
    assigns = np.array([[rng.choice(problem.candidates(t)) for t in range(problem.n)] for _ in range(7)])
    got = bottleneck_many(problem, replicas, assigns)
    want = [_bottleneck_by_loops(problem, replicas, a) for a in assigns]
    np.testing.assert_allclose(got, want, rtol=1e-12)
