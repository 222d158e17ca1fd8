"""A backend plugs in from outside the package through the entry-point group, with no change anywhere else."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from backends.conformance import BackendConformance
from backends.extra_backend import NAME, SOURCE, ExtraBackend

import hetflow as hf
from hetflow import registry
from hetflow.backends import available_backends, get_backend
from hetflow.ir import Graph
from hetflow.partition.plan import Plan
from hetflow.targets import Cluster, MachineDescription, get_preset
from hetflow.targets.schema import Capability

ENTRY_POINTS = f"[{registry.BACKENDS_GROUP}]\n{NAME} = backends.extra_backend:ExtraBackend\n"


@pytest.fixture(autouse=True)
def installed(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution, as pip would leave it: a dist-info on sys.path declaring the entry point."""
    site = tmp_path_factory.mktemp("site")
    info = site / "hetflow_extra_vector-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hetflow-extra-vector\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    registry.backends.unregister(NAME)
    yield
    registry.backends.unregister(NAME)


def vector_chip() -> MachineDescription:
    """A described accelerator served by the plug-in: fast at float32 arithmetic, reached over PCIe."""
    base = get_preset("nvidia/a100")
    return base.model_copy(update={"name": "acme/vector-1", "backend": NAME, "kind": "asic", "vendor": "Acme",
                                   "capability": Capability(ops="*", dtypes=("float32",))})


def mlp() -> Graph:
    """Two big dense layers (the plug-in's table) and a sigmoid (not in it: it stays on the CPU)."""
    rng = np.random.default_rng(0)
    g = Graph("mlp")
    h = g.add_input("x", "float32", (64, 512))
    for i in range(2):
        h = g.add_node("matmul", [h, g.constant(rng.standard_normal((512, 512), np.float32) * 0.05, f"w{i}")],
                       name=f"fc{i}").outputs[0]
        h = g.add_node("add", [h, g.constant(np.full((512,), 0.1, np.float32), f"b{i}")], name=f"bias{i}").outputs[0]
        h = g.add_node("relu", [h], name=f"relu{i}").outputs[0]
    g.outputs = [g.add_node("sigmoid", [h], name="probs", output_names=["probs"]).outputs[0]]
    return g


class TestExtraBackendConformance(BackendConformance):
    backend_name = NAME

    def small_graph(self) -> Graph:
        """The suite's graph within this backend's table: matmul, add, relu."""
        g = Graph("tiny")
        x = g.add_input("x", "float32", (2, 8))
        h = g.add_node("matmul", [x, g.constant(np.eye(8, dtype=np.float32) * 0.5, "w")], name="fc").outputs[0]
        h = g.add_node("add", [h, g.constant(np.ones(8, np.float32), "b")], name="bias").outputs[0]
        g.outputs = [g.add_node("relu", [h], name="act", output_names=["y"]).outputs[0]]
        return g


def test_the_entry_point_makes_the_backend_known():
    assert NAME in available_backends()
    assert isinstance(get_backend(NAME), ExtraBackend)
    with pytest.raises(hf.HetflowError, match="registered twice"):
        registry.backends.register(NAME, ExtraBackend)


def test_the_partitioner_places_nodes_on_the_plugged_in_backend(tmp_path):
    graph, cluster = mlp(), Cluster.of("host/cpu", vector_chip())
    plan = hf.compile(graph, cluster, emulate_with="auto")
    on_vector = [s for s in plan.subgraphs if s.backend == NAME]
    assert on_vector, plan.report()
    placed = {n.name for s in on_vector for n in s.nodes}
    assert {"fc0", "fc1"} <= placed and "probs" not in placed
    assert all(e.source == SOURCE for s in on_vector for e in s.node_estimates)
    x = {"x": np.random.default_rng(1).standard_normal((64, 512)).astype(np.float32)}
    want = hf.compile(graph, backend="reference").run(x)["probs"]
    np.testing.assert_allclose(plan.run(x)["probs"], want, rtol=1e-5, atol=1e-6)
    loaded = Plan.load(plan.save(tmp_path / "plan"))  # its artifacts round-trip through the plan format too
    np.testing.assert_allclose(loaded.run(x)["probs"], want, rtol=1e-5, atol=1e-6)
