"""The ``emulated`` driver: a device that is described but not present.

It runs a subgraph's real computation on this host, with whichever backend compiled the
artifact (the reference interpreter, or a backend whose output runs on the host), and reports
device time from a stated model, never from the host's wall clock: per node, the plan's
estimate for the described chip (``model:roofline`` unless the backend has its own model).
Symbolic dims were counted as 1 in those estimates, so a run on a batch of ``B`` is charged
``B`` times as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetflow.backends import Executable, get_backend
from hetflow.devices import BaseDevice, ExecutableDevice, Program
from hetflow.ir import Graph
from hetflow.ir.registry import _sample_bytes
from hetflow.partition.cost import roofline
from hetflow.targets import MachineDescription


@dataclass
class EmulatedArtifact:
    """What an emulated device loads: the host-runnable executable, its IR, and modelled seconds per node."""

    executable: Executable
    graph: Graph
    node_seconds: list[float]
    source: str = "model:roofline"

    @property
    def seconds(self) -> float:
        return sum(self.node_seconds)


class EmulatedDevice(BaseDevice):
    """Computes on the host; time is the description's model (``time_source`` says which)."""

    driver = "emulated"
    time_source = "model:roofline"
    computes_on_caller = True
    """Emulation is this host's CPU running the subgraph: a caller that waits at once runs it in its own thread
    (``run_here``) instead of handing it to the device's worker and back. Its time is modelled either way."""

    def __init__(self, description: MachineDescription, instance_id: str | None = None, host: str | None = None,
                 *, time_source: str = "model:roofline") -> None:
        super().__init__(description, instance_id, host)
        self.time_source = time_source  # type: ignore[misc]  # per instance: a backend may bring its own model

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            artifact = emulate(artifact, self.description)
        if not isinstance(artifact, EmulatedArtifact):
            raise TypeError(f"the emulated driver loads an IR Graph or an EmulatedArtifact, not {type(artifact).__name__}")
        return Program.from_graph(artifact.graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.executable.run(inputs)

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float:
        return program.handle.seconds * batch_scale(program.handle.graph, inputs)


def emulate(graph: Graph, description: MachineDescription) -> EmulatedArtifact:
    """An artifact for ``graph`` computed by the fallback backend (the interpreter), timed by ``description``'s roofline.

    Only the roofline: the device says ``model:roofline`` unless told otherwise, and a backend's own
    model belongs to that backend's driver (a plan brings its own estimates in its artifacts).
    """
    from hetflow.partition.capability import FALLBACK_BACKEND

    return EmulatedArtifact(get_backend(FALLBACK_BACKEND).compile(graph), graph,
                            [roofline(n, description) for n in graph.nodes], "model:roofline")


def batch_scale(graph: Graph, inputs: dict[str, np.ndarray]) -> float:
    """How many samples a run carries: actual input bytes over per-sample bytes (symbolic dims as 1)."""
    scale = 1.0
    for v in graph.inputs:
        if v.name in inputs and not v.type.is_static:
            per_sample = _sample_bytes(v.type)
            if per_sample:
                scale = max(scale, inputs[v.name].nbytes / per_sample)
    return scale


class HostDevice(ExecutableDevice):
    """This machine's CPU running any backend's host executable (one with ``run(feeds)``); time is measured.

    The runtime uses it for a present device whose backend ships no driver of its own.
    """

    driver = "host"
    computes_on_caller = True
    time_source = "measured"

    def build(self, graph: Graph) -> Any:
        """Compiled by the description's backend when installed, else interpreted."""
        from hetflow.partition.capability import FALLBACK_BACKEND, backend_or_none

        backend = backend_or_none(self.description.backend) or backend_or_none(FALLBACK_BACKEND)
        assert backend is not None
        return backend.compile(graph)


# Both drivers are declared under the hetflow.drivers entry points in pyproject.toml.
