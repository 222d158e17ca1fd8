"""The compiler driver: from a graph and a cluster to a Plan (capability, cost, placement, subgraphs, artifacts,
estimates). It sits above the partitioner (DESIGN.md: ``partition <- compiler``); ``hf.compile`` calls it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends import get_backend
from hetflow.ir import Graph, Value, get_op
from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.feeds import check_feeds
from hetflow.ir.registry import _sample_bytes
from hetflow.ir.subgraph import extract
from hetflow.partition.capability import (
    CapabilityTable,
    PlacementError,
    backend_or_none,
    build_capability,
    is_present,
    signature,
)
from hetflow.partition.cost import CostModel, Estimate, Profile, link_tables
from hetflow.partition.mincut import min_cut_two
from hetflow.partition.pins import PinError, parse_pins, resolve_pins
from hetflow.partition.pipeline import bottleneck_many, place_throughput
from hetflow.partition.placement import WORK_BUDGET, Placement, merge, place_latency
from hetflow.partition.plan import OBJECTIVES, NodeChoice, Plan, PlanDevice, PlanEstimate, Subgraph, Transfer
from hetflow.partition.problem import Edge, Problem, topological_groups
from hetflow.partition.profile import median_seconds
from hetflow.passes import COMPILE_PIPELINE, run_pipeline
from hetflow.targets import Cluster, DeviceInstance

EMULATION_BACKEND = "reference"
"""What computes an emulated device's subgraphs on this host when nothing closer to the chip can: the oracle,
exact and with nothing to compile."""

EMULATE_MODES = ("device", "auto")
"""``emulate_with`` values that are not a backend name. ``"device"`` (the default): a subgraph on an emulated
device whose backend ships a driver that models the chip's time (its ``time_source`` is ``model:<name>``, e.g.
fpga_hls: the g++ C simulation of the generated HLS C++, timed by ``model:hls-cycles``) is compiled for that
chip's description and runs through that driver; other emulated subgraphs run on ``EMULATION_BACKEND``, timed by
the plan's estimates. ``"auto"``: as ``"device"``, and the rest use the chip's own backend where it is installed
(its output runs on the host). A backend name (e.g. ``"reference"``): that backend computes every emulated
subgraph, timed by the plan's estimates."""

# The boundary penalty never drops below this: a launch and its completion signal cost at least
# this much on any device, even one that shares host memory.
MIN_BOUNDARY_S = 2e-6

_PARTITION_OPTIONS = ("objective", "pins", "no_fallback", "profile")

CALIBRATED_BACKENDS = frozenset({"fpga_hls"})
"""Backends whose build chooses its number formats from the values a subgraph takes (fpga_hls: per-layer
fixed-point types): the compiler hands them ``calibration=`` sample inputs of the subgraph. (A declared backend
attribute once the typed backend protocol lands; a table until then, not probing.)"""
CALIBRATION_SAMPLES = 4
"""Seeded random samples of the model's inputs when ``calibration`` is not given: few, since each runs the model's
reference up to the calibrated subgraphs (about 1 s per sample for ResNet-50 on this host)."""
CALIBRATION_SEED = 0
Samples = Iterable[Mapping[str, np.ndarray]]


def compile_graph(graph: Graph, cluster: Any = None, **options: Any) -> Plan:
    """Compile ``graph`` for ``cluster`` (a Cluster, a cluster file or preset name), or for this host when None.

    Options: ``objective`` (latency | throughput | mincut), ``pins``, ``no_fallback``, ``profile``
    (a Profile or a path), ``backend`` (the host plan's backend when ``cluster`` is None), ``calibration``
    (sample inputs, a list of dicts input name -> array: what subgraphs of CALIBRATED_BACKENDS choose their
    number formats from; default: CALIBRATION_SAMPLES seeded random samples, and the plan's report says which).
    """
    if cluster is None:
        return compile_for_host(graph, **options)
    return compile_for_cluster(graph, cluster, **options)


def compile_for_host(graph: Graph, *, backend: str = "cpu_c", calibration: Samples | None = None,
                     **options: Any) -> Plan:
    """One subgraph on this host with ``backend``: what ``hf.compile(graph)`` does without a cluster."""
    if any(options.get(k) for k in _PARTITION_OPTIONS):
        return compile_for_cluster(graph, Cluster.local(), backend=backend, calibration=calibration, **options)
    options = {k: v for k, v in options.items() if k not in _PARTITION_OPTIONS}
    notes = []
    if backend in CALIBRATED_BACKENDS and "config" not in options:  # a config given is used as the user wrote it
        samples, source = calibration_samples(graph, calibration)
        options["calibration"] = samples
        notes.append(f"precision: calibrated per layer on {source}")
    executable = get_backend(backend).compile(graph, **options)
    options.pop("calibration", None)
    return Plan(graph, [Subgraph("sub0", "host", backend, list(graph.nodes), executable, graph, notes=notes)],
                {"backend": backend, **options})


def compile_for_cluster(graph: Graph, cluster: Cluster | str | Path, *, objective: str = "latency",
                        pins: Any = None, no_fallback: bool = False, profile: Profile | str | Path | None = None,
                        backend: str | None = None, emulate_with: str = "device",
                        budget: int = WORK_BUDGET, calibration: Samples | None = None) -> Plan:
    """Place ``graph`` on ``cluster`` for ``objective`` and compile every subgraph for its device.

    Subgraphs on this machine's CPU are compiled by its backend; those on emulated devices as
    ``emulate_with`` says (see ``EMULATE_MODES``; ``backend`` is accepted as another name for it,
    as the CLI passes it). A subgraph compiled for its chip's own modelling driver has its
    estimate refined from the compiled design's model, and the plan's end-to-end estimates with it.
    A subgraph of CALIBRATED_BACKENDS is built with number formats chosen from ``calibration`` (see
    ``compile_graph``), and its line in the report says from what.
    """
    started = time.perf_counter()
    if objective not in OBJECTIVES:
        raise PlacementError(f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    cluster = cluster if isinstance(cluster, Cluster) else Cluster.load(cluster)
    if profile is not None and not isinstance(profile, Profile):
        profile = Profile.load(profile)
    graph.toposort()
    run_pipeline(graph, COMPILE_PIPELINE)  # regions for pins and reports
    ctx = _Context(graph, cluster, build_capability(graph, cluster.devices, no_fallback=no_fallback),
                   CostModel(profile), pins)
    problem = ctx.problem()
    placement, period, method = _place(problem, ctx, objective, budget)
    plan = _build(ctx, problem, placement, objective, backend or emulate_with, calibration)
    replicas = ctx.replicas(objective)
    latency = placement.makespan
    present = {d.id: d.present for d in plan.devices}
    refined = [_refine(sub, present[sub.device]) for sub in plan.subgraphs]  # every one, not up to the first
    if any(refined):
        problem = _with_plan_estimates(problem, plan, ctx)
        latency, period = problem.simulate(placement.assign).makespan, None
    overhead = run_overhead(plan)
    plan.estimate = PlanEstimate(latency + overhead, period if period is not None else
                                 float(bottleneck_many(problem, replicas, placement.assign[None])[0]),
                                 _estimate_source(plan) + (" + measured:run-overhead" if overhead else ""), method)
    plan.options = {"objective": objective, "no_fallback": no_fallback, "pins": [str(p) for p in ctx.pins],
                    "placement_s": time.perf_counter() - started}
    return plan


@dataclass
class _Context:
    """What every compile step reads: the graph, the cluster, capability, costs and pins."""

    graph: Graph
    cluster: Cluster
    capability: CapabilityTable
    costs: CostModel
    pin_spec: Any

    def __post_init__(self) -> None:
        self.devices = self.cluster.devices
        self.home = next(iter(self.cluster.hosts))
        self.pins = parse_pins(self.pin_spec)
        self.pinned = resolve_pins(self.pins, self.graph, self.cluster)
        for n, (d, pin) in self.pinned.items():
            if self.capability.backend[n][d] is None:
                node = self.graph.nodes[n]
                raise PinError(f"pin {pin}: node {node.name!r} ({node.op}) cannot run on {self.devices[d].id}: "
                               f"{self.capability.reason[n][d]}")
        self.estimates = self._estimates()

    def runnable(self, n: int, d: int) -> bool:
        if n in self.pinned:
            return self.pinned[n][0] == d
        return self.capability.can_run(n, d)

    def _estimates(self) -> list[list[Estimate | None]]:
        cache: dict[tuple[int, int], Estimate] = {}
        interned: dict[tuple, int] = {}
        kinds: dict[str, int] = {}
        table: list[list[Estimate | None]] = []
        for n, node in enumerate(self.graph.nodes):
            row: list[Estimate | None] = []
            shape = interned.setdefault(signature(node), len(interned))  # hash the signature once, not per device
            for d, device in enumerate(self.devices):
                if not self.runnable(n, d):
                    row.append(None)
                    continue
                runner = self.capability.backend[n][d]  # costed as the backend that will run it, fallback included
                key = (kinds.setdefault(device.description.name, len(kinds)), shape, runner)
                if key not in cache:
                    cache[key] = self.costs.node(node, device.description, runner)
                row.append(cache[key])
            table.append(row)
        return table

    def endpoint(self, d: int) -> str:
        return self.home if d == len(self.devices) else self.devices[d].id

    def problem(self) -> Problem:
        """Devices plus the home host (index D: where inputs start and outputs end; it computes nothing)."""
        D = len(self.devices)
        compute = np.array([[e.seconds if e is not None else np.inf for e in row] + [np.inf] for row in self.estimates])
        compute = compute.reshape(len(self.graph.nodes), D + 1)
        intervals = np.array([[e.interval if e is not None else np.inf for e in row] + [np.inf]
                              for row in self.estimates]).reshape(compute.shape)
        latency = np.zeros((D + 1, D + 1))
        inv_bw = np.zeros((D + 1, D + 1))
        for a in range(D + 1):
            for b in range(D + 1):
                if a != b:
                    latency[a, b], inv_bw[a, b] = link_tables(self.cluster.link(self.endpoint(a), self.endpoint(b)))
        penalty = np.array([max(d.attach.latency, d.description.launch.subgraph, MIN_BOUNDARY_S)
                            for d in self.devices] + [0.0])
        return Problem([n.name for n in self.graph.nodes], compute, graph_edges(self.graph), D, latency, inv_bw, penalty,
                       intervals)

    def pools(self) -> list[list[int]]:
        """Devices of one description on one host: replicas of each other."""
        pools: dict[tuple[str, str], list[int]] = {}
        for d, device in enumerate(self.devices):
            pools.setdefault((device.host, device.description.name), []).append(d)
        return list(pools.values())

    def replicas(self, objective: str) -> np.ndarray:
        counts = np.ones(len(self.devices) + 1)
        if objective == "throughput":
            for pool in self.pools():
                counts[pool[0]] = len(pool)
        return counts


def graph_edges(graph: Graph) -> list[Edge]:
    """One placement edge per non-constant value: producer, consumers, bytes per sample, whether an output."""
    producer = {id(o): n for n, node in enumerate(graph.nodes) for o in node.outputs}
    edges: dict[int, Edge] = {}

    def edge(v: Value) -> Edge:
        if id(v) not in edges:
            edges[id(v)] = Edge(producer.get(id(v), -1), [], _sample_bytes(v.type))
        return edges[id(v)]

    for v in graph.inputs:
        edge(v)
    for n, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v is not None and not v.is_const:
                edge(v).consumers.append(n)
        for o in node.outputs:
            edge(o)
    for v in graph.outputs:
        if not v.is_const:
            edge(v).is_output = True
    return list(edges.values())


def _place(problem: Problem, ctx: _Context, objective: str, budget: int) -> tuple[Placement, float | None, str]:
    if objective == "latency":
        placement = place_latency(problem, budget)
        return placement, None, placement.method
    if objective == "throughput":
        restricted = _restrict_to_pools(problem, ctx.pools())
        placement, period = place_throughput(restricted, ctx.replicas(objective), budget)
        return placement, period, placement.method
    # mincut: the device pair whose exact min cut costs least in total
    finite = np.isfinite(problem.compute)
    best: tuple[float, np.ndarray, str] | None = None
    D = len(ctx.devices)
    for a in range(D):
        for b in range(a + 1, D):
            if (finite[:, a] | finite[:, b]).all():
                assign = min_cut_two(problem, a, b)
                total = problem.total_cost(assign)
                if best is None or total < best[0]:
                    best = (total, assign, f"min-cut:{ctx.devices[a].id},{ctx.devices[b].id}")
    if best is None:
        single = [d for d in range(D) if finite[:, d].all()]
        if not single:
            raise PlacementError("objective mincut: no two devices of the cluster can run the whole graph between them; "
                                 "use objective latency")
        assign = np.full(problem.n, single[0], dtype=np.int64)
        best = (problem.total_cost(assign), assign, f"single:{ctx.devices[single[0]].id}")
    _, assign, method = best
    return Placement(assign, merge(problem, assign), problem.simulate(assign).makespan, method), None, method


def _restrict_to_pools(problem: Problem, pools: list[list[int]]) -> Problem:
    """Only each pool's first device takes work (its replicas copy it)."""
    compute, intervals = problem.compute.copy(), problem.occupancy.copy()
    for pool in pools:
        compute[:, pool[1:]] = np.inf
        intervals[:, pool[1:]] = np.inf
    return Problem(problem.names, compute, problem.edges, problem.host, problem.latency, problem.inv_bandwidth,
                   problem.penalty, intervals)


# ---------------------------------------------------------------- building the Plan


def _build(ctx: _Context, problem: Problem, placement: Placement, objective: str, emulate_with: str,
           calibration: Samples | None = None) -> Plan:
    graph, devices = ctx.graph, ctx.devices
    assign = placement.assign
    groups = _split_by_backend(placement.groups, assign, ctx)
    groups = topological_groups(groups, problem.edges, problem.n)
    pools = {pool[0]: [devices[d].id for d in pool] for pool in ctx.pools()} if objective == "throughput" else {}
    consumers_outside = _escaping_values(graph, groups)
    parts = []
    for i, members in enumerate(groups):
        d = int(assign[members[0]])
        capable = ctx.capability.backend[members[0]][d]
        assert capable is not None
        backend, driver = _runner(devices[d], capable, emulate_with)
        parts.append((members, d, backend, driver, extract(graph, [graph.nodes[n] for n in members], consumers_outside,
                                                             f"{graph.name}.sub{i}")))
    calibrated = _calibrate(graph, calibration, [sub for _, _, backend, _, sub in parts if backend in CALIBRATED_BACKENDS])
    subgraphs = []
    for i, (members, d, backend, driver, sub_graph) in enumerate(parts):
        device, nodes, name = devices[d], [graph.nodes[n] for n in members], f"sub{i}"
        options, notes = calibrated.get(sub_graph.name, ({}, []))
        executable = _compile(sub_graph, backend, device if driver == backend and not is_present(device) else None,
                              f"subgraph {name} ({len(nodes)} node{'s' if len(nodes) > 1 else ''} from {nodes[0].name!r})",
                              options)
        subgraphs.append(Subgraph(
            name, device.id, backend, nodes, executable, sub_graph, driver=driver,
            node_estimates=[ctx.estimates[n][d] for n in members],  # type: ignore[misc]
            replicas=pools.get(d, [device.id]),
            flops=sum(get_op(node.op).flop_count(node) for node in nodes), notes=notes))
    plan_devices = [PlanDevice(dev.id, dev.host, dev.description, is_present(dev), float(problem.penalty[d]))
                    for d, dev in enumerate(devices)]
    endpoints = [ctx.home, *(d.id for d in devices)]
    links = {}
    for a in endpoints:
        for b in endpoints:
            if a != b:
                link = ctx.cluster.link(a, b)
                links[f"{a}|{b}"] = (link.latency, link.bandwidth, link.kind)
    return Plan(graph, subgraphs, devices=plan_devices, transfers=_transfers(ctx, subgraphs), home=ctx.home,
                objective=objective, choices=_choices(ctx, placement), cluster_name=ctx.cluster.name, links=links)


def _runner(device: DeviceInstance, capable: str, emulate_with: str) -> tuple[str, str]:
    """(backend that compiles, driver that runs) a subgraph that ``capable`` can run on ``device``."""
    if is_present(device):
        return capable, capable
    if emulate_with not in EMULATE_MODES:
        return emulate_with, "emulated"
    if capable == device.backend and backend_or_none(capable) is not None and models_time(capable):
        return capable, capable
    if emulate_with == "auto" and backend_or_none(capable) is not None:
        return capable, "emulated"
    return EMULATION_BACKEND, "emulated"


def models_time(backend: str) -> bool:
    """Whether ``backend`` ships a driver that can stand in for an absent chip: one whose time is a stated model."""
    declared = get_backend(backend)
    return declared.time_source.startswith("model:") and declared.driver() is not None


def _compile(sub_graph: Graph, backend: str, device: DeviceInstance | None, what: str,
             options: dict[str, Any] | None = None) -> Any:
    """``backend``'s executable for ``sub_graph``: for ``device``'s description when given."""
    compiler = get_backend(backend)
    if device is None:
        return compiler.compile(sub_graph, **(options or {}))
    try:
        return compiler.compile(sub_graph, device.description, **(options or {}))
    except HetflowError as exc:
        raise PlacementError(f"{what} cannot be built for {device.id} ({device.description.name}): "  # type: ignore[union-attr]
                             f"{str(exc).rstrip('.')}; pin some of its nodes to another device, or compile with "
                             f"emulate_with='reference' to emulate it without building it") from exc


# ---------------------------------------------------------------- calibration samples


def calibration_samples(graph: Graph, calibration: Samples | None) -> tuple[list[dict[str, np.ndarray]], str]:
    """The model-input samples to calibrate on, and what they are: the user's ``calibration`` (checked like a
    run's inputs), else CALIBRATION_SAMPLES seeded random normal ones (a symbolic dim taken as 1)."""
    if calibration is not None:
        samples = [check_feeds(graph, dict(sample)) for sample in calibration]
        if not samples:
            raise InputError("calibration= is empty; give at least one sample ({input name: array})")
        return samples, f"the {len(samples)} calibration sample(s) given"
    rng = np.random.default_rng(CALIBRATION_SEED)
    samples = []
    for _ in range(CALIBRATION_SAMPLES):
        sample = {}
        for v in graph.inputs:
            shape = tuple(d if isinstance(d, int) else 1 for d in v.type.shape or ())
            data = rng.standard_normal(shape) if v.type.dtype.is_float else np.zeros(shape)
            sample[v.name] = data.astype(v.type.dtype.numpy)
        samples.append(sample)
    return samples, (f"{CALIBRATION_SAMPLES} seeded random normal samples of the model's inputs (seed "
                     f"{CALIBRATION_SEED}), not real data; compile with calibration=[{{input: array}}, ...] for real "
                     f"value ranges")


def _calibrate(graph: Graph, calibration: Samples | None, subs: list[Graph]) -> \
        dict[str, tuple[dict[str, Any], list[str]]]:
    """Per subgraph of ``subs`` (by graph name): its compile options (``calibration``: the values its inputs take on
    each model-input sample, from one reference run of what they depend on) and the report note saying so."""
    if not subs:
        return {}
    samples, source = calibration_samples(graph, calibration)
    wanted = {v.name for sub in subs for v in sub.inputs}
    values = _values_at(graph, samples, wanted)
    note = f"precision: calibrated per layer on {source}"
    return {sub.name: ({"calibration": [{v.name: at[v.name] for v in sub.inputs} for at in values]}, [note])
            for sub in subs}


def _values_at(graph: Graph, samples: list[dict[str, np.ndarray]], names: set[str]) -> list[dict[str, np.ndarray]]:
    """Each sample's values of ``names`` (model inputs or node outputs), running only the nodes they depend on."""
    by_name = {v.name: v for v in graph.values()}
    made = [by_name[n] for n in sorted(names) if by_name[n].producer is not None]
    needed: set[int] = set()
    stack = [v.producer for v in made]
    while stack:
        node = stack.pop()
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack += [v.producer for v in node.inputs if v is not None and not v.is_const]
    nodes = [n for n in graph.nodes if id(n) in needed]  # the graph's topological order
    runner = None
    if nodes:
        part = extract(graph, nodes, {id(v) for v in made}, f"{graph.name}.calibration")
        runner = get_backend(EMULATION_BACKEND).compile(part)
    out = []
    for sample in samples:
        computed = runner.run({v.name: sample[v.name] for v in runner.graph.inputs}) if runner is not None else {}
        out.append({n: sample[n] if n in sample else computed[n] for n in names})
    return out


def _refine(sub: Subgraph, present: bool) -> bool:
    """Replace a subgraph's per-node estimates by its compiled design's own model (kept in proportion).

    Only for a subgraph its emulated chip's own driver runs, from an artifact whose backend states its
    modelled time (``Backend.modelled_time``): the run will report that model's time, so the plan's
    estimate says the same.
    """
    if present or sub.driver == "emulated" or not sub.node_estimates:
        return False
    modelled = get_backend(sub.backend).modelled_time(sub.executable)
    if modelled is None:
        return False
    seconds, source, every = modelled.seconds, modelled.source, modelled.interval
    total = sum(e.seconds for e in sub.node_estimates)
    shares = [e.seconds / total for e in sub.node_estimates] if total > 0 else [1 / len(sub.node_estimates)] * len(
        sub.node_estimates)
    sub.node_estimates = [Estimate(seconds * share, source, every * share) for share in shares]
    return True


def _with_plan_estimates(problem: Problem, plan: Plan, ctx: _Context) -> Problem:
    """``problem`` with each placed node's compute time on its device(s) taken from the plan's subgraphs."""
    task = {node.name: n for n, node in enumerate(ctx.graph.nodes)}
    index = {device.id: d for d, device in enumerate(ctx.devices)}
    compute, intervals = problem.compute.copy(), problem.occupancy.copy()
    for sub in plan.subgraphs:
        for node, estimate in zip(sub.nodes, sub.node_estimates):
            for replica in sub.replicas:
                compute[task[node.name], index[replica]] = estimate.seconds
                intervals[task[node.name], index[replica]] = estimate.interval
    return Problem(problem.names, compute, problem.edges, problem.host, problem.latency, problem.inv_bandwidth,
                   problem.penalty, intervals)


def _split_by_backend(groups: list[list[int]], assign: np.ndarray, ctx: _Context) -> list[list[int]]:
    """Cut each subgraph where the backend changes (a run in device order stays a run, so still convex), unless
    one side's backend can run the other side for less extra time than the cut would cost (the device's
    ``launch.subgraph``): the run's backend takes the next node, or the next node's backend takes the run so far;
    the nodes' estimates become the taking backend's. This keeps a short float op or a view (a flatten, a ReLU)
    between two int8 runs from cutting one device's work into many subgraphs."""
    out = []
    for members in groups:
        d = int(assign[members[0]])
        budget = ctx.devices[d].description.launch.subgraph
        current: list[int] = []
        runner = ""
        for n in members:
            own = ctx.capability.backend[n][d]
            if current and own != runner:
                if _take(ctx, [n], d, runner, budget):
                    pass
                elif _take(ctx, current, d, own, budget):  # type: ignore[arg-type]
                    runner = own  # type: ignore[assignment]
                else:
                    out.append(current)
                    current = []
            if not current:
                runner = own  # type: ignore[assignment]
            current.append(n)
        out.append(current)
    return out


def _take(ctx: _Context, nodes: list[int], d: int, backend: str, budget: float) -> bool:
    """Let ``backend`` run ``nodes`` on device d when it can, for less extra time than ``budget``; True if it does."""
    taken = [_cost_under(ctx, n, d, backend) for n in nodes]
    if any(t is None for t in taken):
        return False
    extra = sum(t.seconds - ctx.estimates[n][d].seconds for n, t in zip(nodes, taken))  # type: ignore[union-attr]
    if extra >= budget:
        return False
    for n, t in zip(nodes, taken):
        ctx.capability.backend[n][d], ctx.estimates[n][d] = backend, t
    return True


def _cost_under(ctx: _Context, n: int, d: int, backend: str) -> Estimate | None:
    """``node n``'s estimate on device d when ``backend`` runs it; None when that backend cannot."""
    runner = backend_or_none(backend)
    node = ctx.graph.nodes[n]
    if runner is None or runner.supports(node) is not None:
        return None
    return ctx.costs.node(node, ctx.devices[d].description, backend)


def _escaping_values(graph: Graph, groups: list[list[int]]) -> set[int]:
    """ids of values some other subgraph (or the graph's caller) reads: each subgraph must output them."""
    group_of = {}
    for g, members in enumerate(groups):
        for n in members:
            group_of[id(graph.nodes[n])] = g
    escaping = {id(v) for v in graph.outputs}
    for node in graph.nodes:
        for v in node.inputs:
            if v is not None and v.producer is not None and group_of[id(v.producer)] != group_of[id(node)]:
                escaping.add(id(v))
    return escaping


def _transfers(ctx: _Context, subgraphs: list[Subgraph]) -> list[Transfer]:
    """Each value once per receiving device: inputs from home, values between devices, outputs back home."""
    where: dict[str, str] = {v.name: ctx.home for v in ctx.graph.inputs}
    nbytes = {v.name: _sample_bytes(v.type) for v in ctx.graph.values()}
    for s in subgraphs:
        for v in s.outputs:
            where[v] = s.device
    seen: set[tuple[str, str]] = set()
    out: list[Transfer] = []

    def move(value: str, dst: str) -> None:
        src = where[value]
        if src != dst and (value, dst) not in seen:
            seen.add((value, dst))
            link = ctx.cluster.link(src, dst)
            out.append(Transfer(value, nbytes[value], src, dst, link.latency, link.bandwidth, link.kind))

    for s in subgraphs:
        for v in s.inputs:
            move(v, s.device)
    for v in ctx.graph.outputs:
        if v.name in where:
            move(v.name, ctx.home)
    return out


def _choices(ctx: _Context, placement: Placement) -> dict[str, NodeChoice]:
    out = {}
    for n, node in enumerate(ctx.graph.nodes):
        d = int(placement.assign[n])
        options = [(dev.id, ctx.estimates[n][k], None if ctx.estimates[n][k] is not None else
                    (f"pinned to {ctx.devices[ctx.pinned[n][0]].id}" if n in ctx.pinned else ctx.capability.why_not(n, k)))
                   for k, dev in enumerate(ctx.devices)]
        able = len(options) - ctx.estimates[n].count(None)
        if n in ctx.pinned:
            rule = f"pinned by {ctx.pinned[n][1]}"
        elif able == 1:
            rule = "the only device able to run it"
        else:
            rule = f"placed by {placement.method} (shortest estimated end-to-end time, transfers included)"
        out[node.name] = NodeChoice(ctx.devices[d].id, rule, options)
    return out


def _estimate_source(plan: Plan) -> str:
    parts = sorted({e.source for s in plan.subgraphs for e in s.node_estimates} | {"model:link"})
    return f"model:schedule over {' + '.join(parts)}"


# ---------------------------------------------------------------- the runtime's own cost per run

RUN_PROBE_REPEATS = 41
_RUN_OVERHEAD: dict[tuple[str, str, str], float] = {}


def run_overhead(plan: Plan) -> float:
    """Seconds each ``plan.run`` costs beyond what the schedule models, measured on this machine; 0 for a plan
    with an emulated device (its run reports modelled time, which has no such cost).

    A run checks its inputs, hands the item to a worker thread per device, writes the inputs into device buffers,
    launches through the device API and waits, reads the outputs back and composes a report; and the backend's
    executable checks its inputs and copies its outputs once per run. The per-op calibrations exclude all of it
    by design (they difference chains of one op and of three), and ``launch.subgraph`` covers only the hand-off.
    It is measured where it happens: a one-node plan on the first subgraph's device, backend and driver,
    run through ``Plan.run``; its median minus what the schedule charges it. Once per process per kind.
    """
    if not plan.devices or not all(d.present for d in plan.devices) or not plan.subgraphs:
        return 0.0
    sub = plan.subgraphs[0]
    device = next(d for d in plan.devices if d.id == sub.device)
    key = (device.description.name, sub.backend, sub.driver)
    if key not in _RUN_OVERHEAD:
        _RUN_OVERHEAD[key] = _measure_run_overhead(plan, device, sub)
    return _RUN_OVERHEAD[key]


def forget_run_overhead() -> None:
    """Forget the measured run overheads, so that the next compile measures them again (under the load of then)."""
    _RUN_OVERHEAD.clear()


def _measure_run_overhead(plan: Plan, device: PlanDevice, sub: Subgraph) -> float:
    """Median wall-clock seconds of ``Plan.run`` of a one-element relu on ``device`` with ``sub``'s backend and
    driver, less the time its own schedule charges (its node, its launch boundary, its two transfers)."""
    graph = Graph("probe.run_overhead")
    x = graph.add_input("x", "float32", (1,))
    graph.outputs.append(graph.add_node("relu", [x], name="relu").outputs[0])
    node = graph.nodes[0]
    estimate = CostModel().node(node, device.description, sub.backend)
    probe = Plan(graph, [Subgraph("probe", device.id, sub.backend, [node], get_backend(sub.backend).compile(graph),
                                  graph, driver=sub.driver, node_estimates=[estimate])],
                 devices=[device], home=plan.home, links=plan.links, cluster_name=plan.cluster_name)
    nbytes = x.type.dtype.itemsize
    charged = (estimate.seconds + device.penalty + probe.link_time(plan.home, device.id, nbytes)
               + probe.link_time(device.id, plan.home, nbytes))
    feeds = {"x": np.ones(1, np.float32)}
    # warm-up: the session opens its device and arena on the first run
    return max(median_seconds(lambda: probe.run(feeds), RUN_PROBE_REPEATS, warmup=3) - charged, 0.0)
