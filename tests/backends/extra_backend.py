"""A backend from outside the package, for the pluggability test: a NumPy "vector unit" for a few ops.

Nothing in hetflow names it. The test declares it under the ``hetflow.backends`` entry-point group of
a distribution it writes on ``sys.path``; a description with ``backend = "extra_vector"`` then makes
the partitioner ask it about capability and cost, and place nodes on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hetflow.backends import Artifact, Backend, Estimate
from hetflow.ir import DType, Graph, Node, get_op
from hetflow.targets import MachineDescription

NAME = "extra_vector"
SOURCE = "model:extra-vector"
KERNELS = {"matmul": np.matmul, "add": np.add, "relu": lambda x: np.maximum(x, 0)}
"""The op table: IR op -> NumPy function; it is the capability."""


class ExtraArtifact:
    """The graph's nodes in order, each a NumPy call on the values computed so far."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, np.ndarray] = {v.name: np.asarray(feeds[v.name]) for v in self.graph.inputs}
        for node in self.graph.nodes:
            args = [v.const if v.is_const else env[v.name] for v in node.inputs]
            env[node.outputs[0].name] = KERNELS[node.op](*args).astype(np.float32)
        return {v.name: env[v.name] for v in self.graph.outputs}


class ExtraBackend(Backend):
    """Runs matmul, add and relu on float32 with static shapes; its cost is a stated model of its chip."""

    name = NAME
    saves_artifacts = True

    def supports(self, node: Node) -> str | None:
        if node.op not in KERNELS:
            return f"op '{node.op}' is not in the {NAME} table"
        if any(v is not None and (v.type.dtype is not DType.float32 or not v.type.is_static)
               for v in (*node.inputs, *node.outputs)):
            return "only static float32 tensors"
        return None

    def compile(self, graph: Graph, description: MachineDescription | None = None, **options: Any) -> Artifact:
        refused = self.unsupported(graph)
        if refused is not None:
            raise refused
        return ExtraArtifact(graph)

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        opdef = get_op(node.op)
        peak = description.peak("float32") or min(description.peak_ops.values())
        seconds = max(opdef.flop_count(node) / peak, sum(opdef.bytes_moved(node)) / description.memory.bandwidth)
        return Estimate(description.launch.kernel + seconds, SOURCE)

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        """Nothing beyond the plan's IR of the subgraph."""

    def load_artifact(self, directory: Path, graph: Graph) -> Artifact:
        return ExtraArtifact(graph)
