"""The backend contract: what every code generator answers, and what it may declare besides.

A backend is a subclass of ``Backend`` registered under the entry-point group ``hetflow.backends``
(built-ins are declared in hetflow's pyproject.toml the same way an out-of-tree package declares its
own; see ``hetflow.registry``). The partitioner, the plan serializer and the runtime talk to a
backend only through the methods below; nothing looks for other attributes.

Required
    ``name``                      the name descriptions use in ``backend = "..."``.
    ``supports(node)``            None when the backend can run ``node``, else the reason (one phrase). Asked
                                  before anything is lowered; it is the backend's op table.
    ``compile(graph, description=None, **options) -> Artifact``
                                  an artifact for ``graph`` (every node of which ``supports`` accepted, unless
                                  ``falls_back``), built for a chip of ``description`` when one is given.

Artifacts may declare two more protocols, checked with ``isinstance``: ``ReportsPlacement`` (per-node
placement, for a backend that falls back) and ``HasNotes`` (lines for the plan's report).

Declared, with defaults (override the ones that apply; callers never probe)
    ``time_source``               what its driver reports: ``"measured"`` or ``"model:<name>"``.
    ``falls_back``                True when ``compile`` runs nodes ``supports`` refused on another backend
                                  instead of raising ``UnsupportedNodeError``.
    ``saves_artifacts``           True when ``save_artifact`` / ``load_artifact`` round-trip an artifact.
    ``estimate(node, description) -> Estimate | None``
                                  its own time model for ``node`` on a chip of ``description``, per sample
                                  (symbolic dims as 1), its own per-kernel overhead included; None: no model
                                  (the partitioner then uses the description's roofline plus ``launch.kernel``).
    ``launches_kernel(node, description) -> bool``
                                  whether ``node``'s kernel pays the description's per-kernel launch
                                  (``launch.kernel``) at its size, wherever the cost model charges it (default
                                  True; cpu_c: only a kernel that opens an OpenMP parallel region at its size).
    ``save_artifact(artifact, dir)`` / ``load_artifact(dir, graph)``
                                  write / read a compiled artifact without compiling (``saves_artifacts``).
    ``modelled_time(artifact) -> Estimate | None``
                                  a compiled artifact's stated time per run (e.g. a cycle model), if any.
    ``driver()``                  its device driver factory from the driver registry, or None.
    ``shape_polymorphic(artifact)`` True when ``artifact`` runs every binding of its graph's symbolic dims as
                                  compiled, compiling nothing at run time (default: only a graph whose inputs are
                                  static). A plan whose artifacts are not is specialized per input-shape signature
                                  at run time (``hetflow.runtime.specialize``).

A new backend declares itself in its package's entry points (``[project.entry-points."hetflow.backends"]``
``mychip = "mypkg:MyChipBackend"``, and its driver under ``hetflow.drivers``), and runs the conformance suite:
subclass ``tests/backends/conformance.py``'s ``BackendConformance`` with its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hetflow import registry
from hetflow.ir import DType, Graph, Node, get_op
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription
from hetflow.targets.units import format_seconds


@runtime_checkable
class Artifact(Protocol):
    """A compiled (sub)graph: feeds by input name in, outputs by output name back; ``graph`` is what it computes."""

    graph: Graph

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


Executable = Artifact
"""The older name of ``Artifact``."""


class NodePlacement(Protocol):
    """One row of ``ReportsPlacement.placement()``: where one node of a compiled graph runs, and why not on the
    artifact's own backend when it does not."""

    node: str
    op: str
    backend: str
    reason: str | None


@runtime_checkable
class ReportsPlacement(Protocol):
    """An artifact that runs some nodes elsewhere (a backend that ``falls_back``) says which, per node."""

    def placement(self) -> list[NodePlacement]: ...


@runtime_checkable
class HasNotes(Protocol):
    """An artifact with something the plan's report must say about how it runs (e.g. an interpreter standing in
    for a chip that is not here)."""

    def notes(self) -> list[str]: ...


class UnsupportedNodeError(HetflowError):
    """``compile`` was given a node its backend's table refuses."""


class ArtifactError(HetflowError):
    """A saved artifact that cannot be written or read back."""


@dataclass(frozen=True)
class Estimate:
    """A time in seconds and its source: ``measured`` or ``model:<name>``; ``interval``: seconds the device is
    busy per item of a stream (the latency, unless the source models pipelining)."""

    seconds: float
    source: str
    interval: float | None = None

    def __post_init__(self) -> None:
        if self.interval is None:
            object.__setattr__(self, "interval", self.seconds)

    def __str__(self) -> str:
        return f"{format_seconds(self.seconds)} ({self.source})"


def compute_dtype(node: Node) -> DType:
    """The dtype a node computes in: its first non-boolean operand's, else its first output's."""
    for v in (*node.inputs, *node.outputs):
        if v is not None and v.type.dtype is not DType.bool:
            return v.type.dtype
    return node.outputs[0].type.dtype if node.outputs else DType.float32


def roofline(node: Node, desc: MachineDescription, dtype: DType | None = None) -> float:
    """Seconds for ``node`` at the chip's peak (for ``dtype``, default the node's own compute dtype):
    compute-bound or memory-bound, whichever is slower."""
    opdef = get_op(node.op)
    flops = opdef.flop_count(node)
    read, written = opdef.bytes_moved(node)
    peak = desc.peak(dtype or compute_dtype(node)) or min(desc.peak_ops.values())
    return max(flops / peak, (read + written) / desc.memory.bandwidth)


class Backend(ABC):
    """A code generator for one kind of chip. See the module docstring for the contract."""

    name: ClassVar[str]
    time_source: ClassVar[str] = "measured"
    falls_back: ClassVar[bool] = False
    saves_artifacts: ClassVar[bool] = False

    @abstractmethod
    def supports(self, node: Node) -> str | None:
        """None if this backend can run ``node``; otherwise the reason it cannot."""

    @abstractmethod
    def compile(self, graph: Graph, description: MachineDescription | None = None, **options: Any) -> Artifact:
        """An artifact for ``graph``, for a chip of ``description`` when given."""

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """This backend's time for ``node`` on a chip of ``description`` (per sample), or None for no model."""
        return None

    def launches_kernel(self, node: Node, description: MachineDescription) -> bool:
        """Whether ``node``'s kernel on a chip of ``description`` pays the description's per-kernel launch overhead
        (``launch.kernel``) at its size. Every kernel is a launch unless its backend knows that a small one runs
        without one (a CPU kernel below its backend's threshold runs on the calling thread, forking no team)."""
        return True

    def modelled_time(self, artifact: Artifact) -> Estimate | None:
        """The time a run of ``artifact`` is charged by its stated model, or None when its time is measured."""
        return None

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        """Write ``artifact`` under ``directory`` so that ``load_artifact`` can read it without compiling."""
        raise ArtifactError(f"backend {self.name} does not save artifacts")

    def load_artifact(self, directory: Path, graph: Graph) -> Artifact:
        """The artifact ``save_artifact`` wrote under ``directory``, for ``graph``."""
        raise ArtifactError(f"backend {self.name} does not load saved artifacts; compile the graph again")

    def driver(self) -> Callable[..., Any] | None:
        """The device driver factory registered for this backend, or None when it ships none."""
        return registry.drivers.find(self.name)

    def shape_polymorphic(self, artifact: Artifact) -> bool:
        """Whether ``artifact`` runs any input shape its graph admits without compiling anything (then a plan never
        specializes it). A backend whose code takes symbolic dims as run-time parameters says so here."""
        return all(v.type.is_static for v in artifact.graph.inputs)

    def unsupported(self, graph: Graph) -> UnsupportedNodeError | None:
        """The error for the first node of ``graph`` that ``supports`` refuses, or None (for ``compile`` to raise)."""
        for node in graph.nodes:
            reason = self.supports(node)
            if reason is not None:
                return UnsupportedNodeError(f"{self.name}: node {node.name!r} ({node.op}) cannot be compiled: {reason}")
        return None


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Register a backend class or factory under ``name`` in code (entry points are the usual way); twice raises."""
    registry.backends.register(name, factory)


def get_backend(name: str) -> Backend:
    """A new instance of the backend called ``name``; an unknown name is one line listing the known ones."""
    factory = registry.backends.find(name)
    if factory is None:
        known = registry.backends.names()
        hint = "" if known else "; no backend is declared at all: reinstall hetflow (pip install -e .)"
        raise HetflowError(f"unknown backend {name!r}; known backends: {', '.join(known)}{hint}")
    return factory()


def available_backends() -> list[str]:
    """Names of every registered or declared backend."""
    return registry.backends.names()
