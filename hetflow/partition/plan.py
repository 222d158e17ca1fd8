"""The Plan: subgraphs compiled for devices, the transfers between them, the schedule and its estimates.

``hetflow.compiler.compile_graph`` (``hf.compile``) makes one. A Plan is data: ``Plan.run`` hands it to
the runner the runtime registers (``register_runner``), so that the partitioner never imports the
runtime above it. ``Plan.report`` says where each part runs and what it is estimated to cost, with the
source of every number; ``Plan.explain`` says why a node went where it did; ``Plan.save`` /
``Plan.load`` keep it on disk without recompiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hetflow.backends import Executable
from hetflow.backends.base import HasNotes, ReportsPlacement
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.ir.feeds import check_feeds
from hetflow.partition.cost import Estimate
from hetflow.targets import MachineDescription
from hetflow.targets.units import format_bytes, format_seconds

OBJECTIVES = ("latency", "throughput", "mincut")

class RunSummary(Protocol):
    """What a run reports back (the runtime's ``RunReport``): end-to-end times and where they come from."""

    items: int
    latency: float
    makespan: float
    source: str


class Specializations(Protocol):
    """What the runtime keeps per plan for input shapes its executables cannot run as compiled
    (``hetflow.runtime.specialize.SpecializationCache``): the report reads it."""

    def report_lines(self) -> list[str]: ...

    def latest(self) -> Plan | None:
        """The most recently used specialized plan, if any."""


Runner = Callable[["Plan", list[dict[str, np.ndarray]], "str | Path | None"],
                  tuple[list[dict[str, np.ndarray]], "RunSummary | None"]]
"""``runner(plan, checked_items, trace) -> (outputs per item, report or None)``: what executes a Plan."""

_RUNNER: list[Runner] = []


def register_runner(runner: Runner) -> None:
    """Make ``runner`` what ``Plan.run`` calls (the runtime registers itself on import); registering twice raises."""
    if _RUNNER:
        raise HetflowError("a plan runner is registered twice")
    _RUNNER.append(runner)


def _run(plan: Plan, items: list[dict[str, np.ndarray]], trace: str | Path | None) -> list[dict[str, np.ndarray]]:
    if not _RUNNER:
        raise HetflowError("no runtime is registered to run plans; import hetflow (or hetflow.runtime) first")
    outputs, report = _RUNNER[0](plan, items, trace)
    if report is not None:
        plan.last_run = report
    return outputs


@dataclass
class PlanDevice:
    """A device a plan uses: what it is, and how the runtime drives it."""

    id: str
    host: str
    description: MachineDescription
    present: bool  # this machine itself (times measured) rather than emulated (times modelled)
    penalty: float  # seconds per launch boundary (value arriving from another device)


@dataclass
class Transfer:
    """One value moved between two endpoints (device ids, or the home host for graph inputs and outputs)."""

    value: str
    nbytes: int  # per sample (symbolic dims as 1)
    src: str
    dst: str
    latency: float
    bandwidth: float  # bytes/s; inf within one device
    kind: str

    @property
    def estimate(self) -> Estimate:
        return Estimate(self.latency + self.nbytes / self.bandwidth, "model:link")


@dataclass
class Subgraph:
    """A part of the graph compiled for one device (or for each replica of a pipeline stage)."""

    name: str
    device: str
    backend: str  # the backend whose artifact computes it
    nodes: list[Node]
    executable: Executable
    graph: Graph | None = None
    driver: str = "reference"  # the device driver that loads the artifact ("emulated" for a modelled device)
    node_estimates: list[Estimate] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)  # devices taking items in turn; [device] if not replicated
    flops: int = 0
    notes: list[str] = field(default_factory=list)  # what the compiler chose for it that a user should know
    compiled_for: MachineDescription | None = None  # the chip description its artifact was built for, if any
    compile_options: dict[str, Any] = field(default_factory=dict, repr=False)  # what a specialization rebuilds with

    def __post_init__(self) -> None:
        if not self.replicas:
            self.replicas = [self.device]

    @property
    def estimate(self) -> Estimate:
        seconds = sum(e.seconds for e in self.node_estimates)
        return Estimate(seconds, combine_sources(e.source for e in self.node_estimates),
                        sum(e.interval for e in self.node_estimates))

    @property
    def inputs(self) -> list[str]:
        return [v.name for v in self.graph.inputs] if self.graph is not None else []

    @property
    def outputs(self) -> list[str]:
        return [v.name for v in self.graph.outputs] if self.graph is not None else []


@dataclass
class NodeChoice:
    """Why a node went where it did: the deciding rule and every device's answer."""

    device: str
    rule: str  # e.g. "pinned by op:softmax=node0/cpu:0", "placed by heft+search", "the only device able"
    options: list[tuple[str, Estimate | None, str | None]]  # (device, estimate or None, why it cannot)


@dataclass
class PlanEstimate:
    """End-to-end estimates of the whole plan."""

    latency: float  # seconds for one input, under the latency model
    period: float  # seconds per item in a steady stream (the busiest device or link)
    source: str  # how they were composed, e.g. "model:schedule over model:roofline + model:link"
    method: str  # the placement algorithm that produced the plan


@dataclass
class Plan:
    """What ``hf.compile`` returns: where every node runs, ready to run."""

    graph: Graph
    subgraphs: list[Subgraph]
    options: dict[str, Any] = field(default_factory=dict)
    devices: list[PlanDevice] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    home: str = "host"
    objective: str = "host"
    estimate: PlanEstimate | None = None
    choices: dict[str, NodeChoice] = field(default_factory=dict)
    cluster_name: str = ""
    links: dict[str, tuple[float, float, str]] = field(default_factory=dict)  # "a|b" -> (latency, bandwidth, kind)
    last_run: RunSummary | None = field(default=None, repr=False)  # the runtime's RunReport of the latest run
    quantization: str | None = None  # what int8 quantization did before placement (hf.compile(precision="int8"))
    specializations: Specializations | None = field(default=None, repr=False, compare=False)
    """Per input-shape signature, the executables compiled at run time (set by the runtime on the first run)."""

    def link_time(self, src: str, dst: str, nbytes: int) -> float:
        """Modelled seconds to move ``nbytes`` from endpoint ``src`` to ``dst``."""
        if src == dst:
            return 0.0
        latency, bandwidth, _ = self.links[f"{src}|{dst}"]
        return latency + nbytes / bandwidth

    # ------------------------------------------------------------ running
    def run(self, feeds: dict[str, np.ndarray], *, trace: str | Path | None = None) -> dict[str, np.ndarray]:
        """Run on named inputs; returns outputs by name. ``trace`` writes a Chrome/Perfetto trace JSON."""
        return _run(self, [check_feeds(self.graph, feeds)], trace)[0]

    def run_stream(self, feeds: list[dict[str, np.ndarray]], *, trace: str | Path | None = None
                   ) -> list[dict[str, np.ndarray]]:
        """Run many inputs pipelined through the devices; outputs in input order."""
        return _run(self, [check_feeds(self.graph, f) for f in feeds], trace)

    # ------------------------------------------------------------ explaining
    def report(self) -> str:
        """Per subgraph: device, backend, nodes, FLOPs, estimated time and source, transfers; then end-to-end estimates."""
        head = f"Plan for {self.graph.name}: {len(self.subgraphs)} subgraph(s)"
        if not self.devices:
            lines = [head + " on this host"]
            lines += [f"  {s.name:<10} {s.device:<22} {s.backend:<10} {len(s.nodes)} nodes" for s in self.subgraphs]
            lines += [f"  note: {note}" for s in self.subgraphs for note in s.notes]
            lines += _fallback_lines(self.ran_subgraphs())
            lines += [f"  {note}" for note in self.notes()]
            lines += self._specialization_lines()
            return "\n".join(lines)
        assert self.estimate is not None
        used = sorted({r for s in self.subgraphs for r in s.replicas})
        lines = [f"{head} on {len(used)} device(s) of cluster {self.cluster_name!r}; objective {self.objective}, "
                 f"placed by {self.estimate.method}"]
        incoming: dict[str, list[Transfer]] = {}
        outgoing: dict[str, list[Transfer]] = {}
        owner = {v: s.name for s in self.subgraphs for v in s.outputs}
        for t in self.transfers:
            for s in self.subgraphs:
                if t.dst == s.device and t.value in s.inputs:
                    incoming.setdefault(s.name, []).append(t)
            if t.value in owner:
                outgoing.setdefault(owner[t.value], []).append(t)
        lines.append(f"  {'subgraph':<10} {'device':<22} {'backend':<12} {'nodes':>6} {'GFLOP':>9}  "
                     f"{'estimated time':<28} {'in':>16} {'out':>16}")
        for s in self.subgraphs:
            where = s.device if len(s.replicas) == 1 else f"{s.device} x{len(s.replicas)}"
            ins, outs = incoming.get(s.name, []), outgoing.get(s.name, [])
            lines.append(f"  {s.name:<10} {where:<22} {s.backend:<12} {len(s.nodes):>6} {s.flops / 1e9:>9.4f}  "
                         f"{str(s.estimate):<28} {_moved(ins):>16} {_moved(outs):>16}")
            lines += [f"  {'':<10} note: {note}" for note in s.notes]
        total = sum(t.nbytes for t in self.transfers)
        lines.append(f"  transfers: {len(self.transfers)} ({format_bytes(total)} per sample, model:link)")
        est = self.estimate
        lines.append(f"  end-to-end latency: {format_seconds(est.latency)} ({est.source})")
        lines.append(f"  throughput: {1 / est.period if est.period > 0 else float('inf'):,.1f} items/s "
                     f"(one item per {format_seconds(est.period)}; {est.source})")
        for d in self.devices:
            if d.id in used:
                lines.append(f"  device {d.id}: {d.description.name} ({d.description.kind}), {self._how(d)}")
        lines += [f"  {note}" for note in self.notes()]
        if self.quantization:
            lines += ["  " + line for line in self.quantization.splitlines()]
        lines += self._specialization_lines()
        return "\n".join(lines)

    def ran_subgraphs(self) -> list[Subgraph]:
        """The subgraphs whose executables say where each node ran: the latest specialization's, when the plan's
        own are compiled per input shape."""
        latest = self.specializations.latest() if self.specializations is not None else None
        return latest.subgraphs if latest is not None else self.subgraphs

    def _specialization_lines(self) -> list[str]:
        if self.specializations is None:
            if all(v.type.is_static for v in self.graph.inputs):
                return []
            return ["  shapes: symbolic inputs; not run yet (specialized per input-shape signature on first use "
                    "where an executable cannot take them as compiled)"]
        return ["  " + line for line in self.specializations.report_lines()]

    def notes(self) -> list[str]:
        """What subgraphs' executables say about how they run (e.g. Triton's interpreter standing in for a GPU)."""
        found = []
        for s in self.subgraphs:
            if isinstance(s.executable, HasNotes):
                found += [f"{s.name}: {n}" for n in s.executable.notes()]
        return found

    def _how(self, device: PlanDevice) -> str:
        """How a device's subgraphs are run, and where its times come from."""
        if device.present:
            return "this machine, time measured"
        subs = [s for s in self.subgraphs if device.id in s.replicas]
        source = combine_sources(e.source for s in subs for e in s.node_estimates)
        backends = ", ".join(sorted({s.backend for s in subs}))
        drivers = sorted({s.driver for s in subs} - {"emulated"})
        through = f" through driver {', '.join(drivers)}" if drivers else ""
        return f"emulated on this host, time {source}; computed by backend {backends}{through}"

    def explain(self, node: str) -> str:
        """Why ``node`` runs where it does: the deciding rule and what every device answered."""
        if node not in self.choices:
            if any(n.name == node for n in self.graph.nodes):
                return f"node {node!r}: runs on {self.subgraphs[0].device} with {self.subgraphs[0].backend} (host plan)"
            raise KeyError(f"no node named {node!r} in graph {self.graph.name!r}")
        choice = self.choices[node]
        op = next(n.op for n in self.graph.nodes if n.name == node)
        lines = [f"node {node!r} ({op}) -> {choice.device}: {choice.rule}"]
        for device, estimate, why in choice.options:
            mark = "*" if device == choice.device else " "
            lines.append(f"  {mark} {device:<22} " + (f"estimated {estimate}" if estimate else f"cannot: {why}"))
        return "\n".join(lines)

    def placement(self) -> dict[str, str]:
        """Node name -> device id."""
        return {n.name: s.device for s in self.subgraphs for n in s.nodes}

    # ------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write the plan (manifest, IR, artifacts) to ``directory``; returns it."""
        from hetflow.partition.serialize import save_plan

        return save_plan(self, Path(directory))

    @classmethod
    def load(cls, directory: str | Path, *, recompile: bool = False) -> Plan:
        """A plan saved by ``save``, loaded without recompiling (``recompile`` allows it for backends that
        cannot load a saved artifact)."""
        from hetflow.partition.serialize import load_plan

        return load_plan(Path(directory), recompile=recompile)


def _fallback_lines(subgraphs: list[Subgraph]) -> list[str]:
    """Nodes a backend ran on the reference backend instead, with why (for executables with ``placement()``)."""
    lines = []
    for s in subgraphs:
        try:
            rows = s.executable.placement() if isinstance(s.executable, ReportsPlacement) else []
        except HetflowError:  # compiled per input shape on first run: nothing placed yet
            continue
        fell = [p for p in rows if p.backend != s.backend]
        if fell:
            lines.append(f"  {s.name}: {len(fell)} of {len(rows)} nodes run on the reference backend instead of {s.backend}:")
            lines += [f"    {p.node} ({p.op}): {p.reason}" for p in fell]
    return lines


def _moved(transfers: list[Transfer]) -> str:
    if not transfers:
        return "-"
    return f"{len(transfers)} ({format_bytes(sum(t.nbytes for t in transfers))})"


def combine_sources(sources: Any) -> str:
    """One source for a sum of estimates: the common one, or ``mixed(a+b)``."""
    found = sorted(set(sources))
    if not found:
        return "model:roofline"
    return found[0] if len(found) == 1 else f"mixed({'+'.join(found)})"
