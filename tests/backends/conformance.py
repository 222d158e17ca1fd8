"""The backend conformance suite: every backend must pass it unchanged.

Use it by subclassing with the backend's registered name (and, for a backend that compiles for a
chip, the description to compile for):

    from backends.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "my_backend"
        description = "vendor/chip"      # a preset name, or None for the host
        atol = 1e-5                      # the chip's tolerance against the reference backend

Programs are IR graphs built here; results are compared with the reference backend's. A backend
whose table lacks an op of ``small_graph`` overrides it with a graph of the same shape it can run.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from hetflow import registry
from hetflow.backends import Artifact, ArtifactError, Backend, Estimate, get_backend
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription, detect_host, get_preset

TIME_SOURCE = re.compile(r"^(measured|model:[\w.+-]+)$")


class BackendConformance:
    """The suite. Subclasses set ``backend_name`` (and ``description``, ``rtol``, ``atol`` where needed)."""

    backend_name: str = ""
    description: str | None = None
    rtol = 1e-5
    atol = 1e-5

    @pytest.fixture
    def backend(self) -> Backend:
        return get_backend(self.backend_name)

    @pytest.fixture
    def chip(self) -> MachineDescription:
        return get_preset(self.description) if self.description else detect_host()

    # ------------------------------------------------------------ programs
    def small_graph(self) -> Graph:
        """x[1,1,8,8] -> conv 3x3 -> add bias -> relu -> max_pool -> reshape -> matmul -> add: a tiny CNN."""
        rng = np.random.default_rng(0)
        g = Graph("small")
        x = g.add_input("x", "float32", (1, 1, 8, 8))
        w = g.constant((rng.random((4, 1, 3, 3), np.float32) - 0.5), "w")
        b = g.constant((rng.random((1, 4, 1, 1), np.float32) - 0.5) * 0.1, "b")
        h = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)},
                       name="conv").outputs[0]
        h = g.add_node("add", [h, b], name="bias").outputs[0]
        h = g.add_node("relu", [h], name="relu").outputs[0]
        h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)},
                       name="pool").outputs[0]
        h = g.add_node("reshape", [h], {"shape": (1, 64)}, name="flat").outputs[0]
        fc = g.constant((rng.random((64, 3), np.float32) - 0.5) * 0.25, "fc")
        h = g.add_node("matmul", [h, fc], name="fc").outputs[0]
        g.outputs = [g.add_node("add", [h, g.constant(np.full((1, 3), 0.1, np.float32), "c")],
                                output_names=["y"], name="out").outputs[0]]
        return g

    def candidates(self) -> list[Graph]:
        """Graphs of one node each, which some backends refuse: a symbolic shape, a transcendental, a scan."""
        out = []
        for op, shape in (("relu", ("N", 4)), ("sin", (2, 4)), ("cumsum", (2, 4))):
            g = Graph(f"refuse_{op}")
            x = g.add_input("x", "float32", shape)
            attrs = {"axis": 1} if op == "cumsum" else {}
            g.outputs = [g.add_node(op, [x], attrs, name=f"{op}_node").outputs[0]]
            out.append(g)
        return out

    @staticmethod
    def feeds(graph: Graph, batch: int = 2) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(1)
        shapes = {v.name: tuple(d if isinstance(d, int) else batch for d in v.type.shape) for v in graph.inputs}
        return {name: (rng.random(shape, np.float32) - 0.5) for name, shape in shapes.items()}

    def assert_matches_reference(self, graph: Graph, artifact: Artifact) -> None:
        feeds = self.feeds(graph)
        want = ReferenceBackend().compile(graph).run(feeds)
        got = artifact.run(feeds)
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=self.rtol, atol=self.atol, err_msg=name)

    # ------------------------------------------------------------ the contract
    def test_is_a_registered_backend(self, backend: Backend) -> None:
        assert isinstance(backend, Backend) and backend.name == self.backend_name
        assert self.backend_name in registry.backends.names()
        assert TIME_SOURCE.match(backend.time_source), backend.time_source

    def test_capability_answers_are_none_or_a_reason(self, backend: Backend) -> None:
        nodes: list[Node] = [n for g in (self.small_graph(), *self.candidates()) for n in g.nodes]
        for node in nodes:
            answer = backend.supports(node)
            assert answer is None or (isinstance(answer, str) and answer.strip()), (node.name, answer)
        assert all(backend.supports(n) is None for n in self.small_graph().nodes), "small_graph must be supported"

    def test_compile_of_a_small_graph_matches_the_reference(self, backend: Backend, chip: MachineDescription) -> None:
        graph = self.small_graph()
        artifact = backend.compile(graph, chip if self.description else None)
        assert isinstance(artifact, Artifact)
        self.assert_matches_reference(graph, artifact)

    def test_artifact_save_and_load_round_trip_when_declared(self, backend: Backend, chip: MachineDescription,
                                                             tmp_path) -> None:
        graph = self.small_graph()
        artifact = backend.compile(graph, chip if self.description else None)
        if not backend.saves_artifacts:
            with pytest.raises(ArtifactError):
                backend.save_artifact(artifact, tmp_path)
            return
        backend.save_artifact(artifact, tmp_path)
        self.assert_matches_reference(graph, backend.load_artifact(tmp_path, self.small_graph()))

    def test_estimates_are_labelled_times_or_none(self, backend: Backend, chip: MachineDescription) -> None:
        for node in self.small_graph().nodes:
            found = backend.estimate(node, chip)
            assert found is None or isinstance(found, Estimate), node.name
            if found is not None:
                assert TIME_SOURCE.match(found.source) and found.source != "measured", found
                assert math.isfinite(found.seconds) and found.seconds >= 0 and found.interval >= 0, found

    def test_modelled_time_is_a_labelled_time_or_none(self, backend: Backend, chip: MachineDescription) -> None:
        artifact = backend.compile(self.small_graph(), chip if self.description else None)
        found = backend.modelled_time(artifact)
        if backend.time_source == "measured":
            assert found is None
        else:
            assert isinstance(found, Estimate) and found.source == backend.time_source and found.seconds > 0

    def test_a_modelled_time_comes_with_a_driver(self, backend: Backend) -> None:
        if backend.time_source.startswith("model:"):
            assert callable(backend.driver()), "a backend whose time is modelled ships the driver that reports it"

    def test_a_refused_node_is_a_clean_error_or_runs_on_the_fallback(self, backend: Backend,
                                                                      chip: MachineDescription) -> None:
        refused = [g for g in self.candidates() if backend.supports(g.nodes[0]) is not None]
        if not refused:
            pytest.skip(f"{self.backend_name} supports every candidate node")
        graph = refused[0]
        if backend.falls_back:
            self.assert_matches_reference(graph, backend.compile(graph, chip if self.description else None))
            return
        with pytest.raises(HetflowError) as err:
            backend.compile(graph, chip if self.description else None)
        assert graph.nodes[0].name in str(err.value) and "\n" not in str(err.value)
