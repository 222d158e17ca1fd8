"""Plans on disk: IR JSON round trips, save/load without recompiling, damaged directories."""

from __future__ import annotations

import json

import numpy as np
import pytest
from models.zoo import randomized

import hetflow as hf
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import verify
from hetflow.partition.plan import Plan
from hetflow.partition.serialize import PlanFormatError, graph_from_json, graph_to_json


@pytest.fixture(scope="module")
def squeezenet():
    zoo = randomized("squeezenet", seed=0)
    return hf.load(zoo.model), zoo.feeds


@pytest.fixture(scope="module")
def saved(squeezenet, tmp_path_factory):
    graph, feeds = squeezenet
    plan = hf.compile(graph, "datacenter-node", pins={"op:conv": "node0/alveo-u250:0", "op:max_pool": "node0/cpu:0"},
                      emulate_with="reference")  # every subgraph on the reference backend: nothing to compile on load
    root = tmp_path_factory.mktemp("plans") / "squeezenet"
    plan.save(root)
    return plan, root, plan.run(feeds)


def test_ir_json_round_trip_keeps_names_types_attributes_and_constants(squeezenet):
    graph, feeds = squeezenet
    data, arrays = graph_to_json(graph)
    copy = graph_from_json(json.loads(json.dumps(data)), arrays)
    verify(copy)
    assert [n.name for n in copy.nodes] == [n.name for n in graph.nodes]
    assert [n.attrs for n in copy.nodes] == [n.attrs for n in graph.nodes]
    assert [str(v.type) for v in copy.values()] == [str(v.type) for v in graph.values()]
    want = hf.compile(graph).run(feeds)
    got = hf.compile(copy).run(feeds)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_save_load_round_trip_runs_without_compiling(saved, squeezenet, monkeypatch):
    plan, root, want = saved
    _, feeds = squeezenet

    def refuse(*args, **kwargs):
        raise AssertionError("loading a plan must not compile")

    monkeypatch.setattr(ReferenceBackend, "compile", refuse)
    loaded = Plan.load(root)
    got = loaded.run(feeds)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert loaded.report() == plan.report()
    assert loaded.placement() == plan.placement()
    assert loaded.explain(plan.graph.nodes[3].name) == plan.explain(plan.graph.nodes[3].name)
    assert loaded.last_run.latency == pytest.approx(plan.last_run.latency)


def _copy(root, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def _fails(root, *words: str) -> str:
    with pytest.raises(PlanFormatError) as info:
        Plan.load(root)
    text = str(info.value)
    assert "\n" not in text and isinstance(info.value, hf.HetflowError)
    for w in words:
        assert w in text
    return text


def test_damaged_subgraph_file(saved, tmp_path):
    root = _copy(saved[1], tmp_path)
    path = root / "subgraphs" / "sub1.json"
    path.write_text(path.read_text().replace('"relu"', '"relx"', 1))
    _fails(root, "sub1.json", "damaged")


def test_missing_artifact_file(saved, tmp_path):
    root = _copy(saved[1], tmp_path)
    (root / "graph.npz").unlink()
    _fails(root, "graph.npz", "missing")


def test_manifest_not_json(saved, tmp_path):
    root = _copy(saved[1], tmp_path)
    (root / "manifest.json").write_text("{ not json")
    _fails(root, "manifest.json", "not valid JSON")


def test_manifest_from_a_newer_version(saved, tmp_path):
    root = _copy(saved[1], tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["version"] = 99
    (root / "manifest.json").write_text(json.dumps(manifest))
    _fails(root, "version 99", "not supported")


def test_manifest_missing_a_field(saved, tmp_path):
    root = _copy(saved[1], tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["subgraphs"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    _fails(root, "malformed", "subgraphs")


def test_not_a_plan_directory(tmp_path):
    _fails(tmp_path / "nowhere", "not a plan directory")
    (tmp_path / "empty").mkdir()
    _fails(tmp_path / "empty", "manifest.json", "missing")


def test_native_plan_reloads_without_compiling(tmp_path):
    from hetflow.backends.cpu_c import compiler
    from hetflow.ir import Graph

    graph = Graph("one")
    x = graph.add_input("x", "float32", (8, 8))
    graph.outputs = [graph.add_node("relu", [graph.add_node("add", [x, x]).outputs[0]]).outputs[0]]
    plan = hf.compile(graph, "host-only")
    if plan.subgraphs[0].backend != "cpu_c":
        pytest.skip("the host CPU's own backend is not installed")
    plan.save(tmp_path / "p")
    runs = compiler.STATS.compiler_runs
    loaded = Plan.load(tmp_path / "p")
    feeds = {"x": np.arange(64, dtype=np.float32).reshape(8, 8) - 30}
    np.testing.assert_array_equal(loaded.run(feeds)[graph.outputs[0].name], plan.run(feeds)[graph.outputs[0].name])
    assert compiler.STATS.compiler_runs == runs, "loading a saved cpu_c plan ran the compiler"
    # An artifact that is gone is a damaged plan, said in one line.
    for lib in (tmp_path / "p" / "artifacts").rglob("*.so"):
        lib.unlink()
        break
    _fails(tmp_path / "p", "missing")
