"""Interpret a graph by calling each op's NumPy semantics in topological order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends.base import Artifact, Backend, Estimate
from hetflow.backends.reference.cost import interpreter_estimate
from hetflow.ir import Graph, Node, OpDef, get_op
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription


@dataclass
class _Step:
    node: Node
    opdef: OpDef
    args: list[int | None]  # slot per input, None for an absent optional input
    outs: list[int]
    free: list[int]  # slots whose last use is this step


class ReferenceExecutable:
    """A graph prepared for interpretation: slots assigned, last uses computed once."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        slot_of: dict[int, int] = {}
        self._consts: dict[int, np.ndarray] = {}

        def slot(v: Any) -> int:
            if id(v) not in slot_of:
                slot_of[id(v)] = len(slot_of)
                if v.const is not None:
                    self._consts[slot_of[id(v)]] = v.const
            return slot_of[id(v)]

        self._input_slots = [(v.name, slot(v)) for v in graph.inputs]
        self._steps = [
            _Step(n, get_op(n.op), [None if v is None else slot(v) for v in n.inputs], [slot(o) for o in n.outputs], [])
            for n in graph.nodes
        ]
        self._output_slots = [(v.name, slot(v)) for v in graph.outputs]
        keep = {s for _, s in self._output_slots} | set(self._consts)
        last_use: dict[int, int] = {}
        for i, step in enumerate(self._steps):
            for s in step.args:
                if s is not None:
                    last_use[s] = i
        for s, i in last_use.items():
            if s not in keep:
                self._steps[i].free.append(s)
        self._n_slots = len(slot_of)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: list[np.ndarray | None] = [None] * self._n_slots
        for s, array in self._consts.items():
            env[s] = array
        for name, s in self._input_slots:
            env[s] = feeds[name]
        for step in self._steps:
            args = [None if s is None else env[s] for s in step.args]
            try:
                results = step.opdef.run(step.node, args)
            except HetflowError:
                raise
            except Exception as exc:
                raise HetflowError(f"node {step.node.name!r} ({step.node.op}) failed: {type(exc).__name__}: {exc}") from exc
            for s, r in zip(step.outs, results):
                env[s] = r
            for s in step.free:
                env[s] = None
        return {name: np.asarray(env[s]) for name, s in self._output_slots}


class ReferenceBackend(Backend):
    """Runs every registered IR op, on the host, with NumPy: the oracle every other backend is checked against."""

    name = "reference"
    saves_artifacts = True  # the IR is the artifact: a saved plan's subgraph graph is all it needs

    def supports(self, node: Node) -> str | None:
        return None

    def compile(self, graph: Graph, description: MachineDescription | None = None, **options: Any) -> ReferenceExecutable:
        return ReferenceExecutable(graph)

    def shape_polymorphic(self, artifact: Artifact) -> bool:
        """Always: the interpreter computes every shape from the arrays it is given."""
        return True

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        """Nothing to write: the plan saves the subgraph's IR, which is all the interpreter runs."""

    def load_artifact(self, directory: Path, graph: Graph) -> ReferenceExecutable:
        """The interpreter for ``graph`` (prepared, not compiled)."""
        return ReferenceExecutable(graph)

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """The interpreter's own time on a CPU: see ``cost.py``."""
        return interpreter_estimate(node, description)
