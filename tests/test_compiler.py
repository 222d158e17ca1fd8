"""hf.compile over clusters: heterogeneous plans agree with the reference backend; reports, pins, errors."""

from __future__ import annotations

import numpy as np
import pytest
from models.zoo import randomized

import hetflow as hf
from hetflow.ir import Graph
from hetflow.partition.capability import PlacementError
from hetflow.partition.pins import PinError
from hetflow.targets import Cluster, DescriptionError

DATACENTER = "datacenter-node"


def mlp(batch: int = 4, width: int = 64) -> Graph:
    """Two branches off one input, joined: enough structure for subgraphs to run side by side."""
    rng = np.random.default_rng(0)
    g = Graph("branchy")
    x = g.add_input("x", "float32", (batch, width))
    w = [g.constant(rng.standard_normal((width, width)).astype(np.float32) * 0.1, f"w{i}") for i in range(4)]
    a = g.add_node("matmul", [x, w[0]], name="mm_a").outputs[0]
    a = g.add_node("relu", [a], name="relu_a").outputs[0]
    b = g.add_node("matmul", [x, w[1]], name="mm_b").outputs[0]
    b = g.add_node("exp", [b], name="exp_b").outputs[0]
    c = g.add_node("add", [a, b], name="join").outputs[0]
    y = g.add_node("matmul", [c, w[2]], name="mm_out").outputs[0]
    g.outputs = [g.add_node("sigmoid", [y], name="out").outputs[0]]
    return g


def feeds_for(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy) for v in graph.inputs}


def reference(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return hf.compile(graph, backend="reference").run(feeds)


@pytest.fixture(scope="module")
def squeezenet():
    zoo = randomized("squeezenet", seed=0)
    return hf.load(zoo.model), zoo.feeds


# ---------------------------------------------------------------- heterogeneous plans agree with the oracle


# These plans emulate every device on the reference backend (emulate_with="reference"), so that outputs are exact:
# they check the partitioner and the runtime. By default the FPGA's subgraphs run as their C simulation, in fixed
# point (tests/partition/test_fpga_placement.py).


def test_pinned_heterogeneous_mlp_matches_reference():
    g = mlp()
    feeds = feeds_for(g)
    plan = hf.compile(g, DATACENTER, pins={"mm_a": "node0/h200:0", "mm_b": "node0/alveo-u250:0",
                                          "exp_b": "node0/cpu:0", "op:sigmoid": "node0/cpu:0"},
                      emulate_with="reference")
    assert len({s.device for s in plan.subgraphs}) >= 3
    got = plan.run(feeds)
    want = reference(g, feeds)
    name = g.outputs[0].name
    np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("objective", ["latency", "throughput", "mincut"])
def test_squeezenet_heterogeneous_plans_match_reference(squeezenet, objective):
    graph, feeds = squeezenet
    # Convolutions on the FPGA and pooling on the CPU force a plan over three devices.
    pins = {"op:conv": "node0/alveo-u250:0", "op:max_pool": "node0/cpu:0"} if objective != "mincut" else None
    plan = hf.compile(graph, DATACENTER, objective=objective, pins=pins, emulate_with="reference")
    want = reference(graph, feeds)
    got = plan.run(feeds)
    if objective != "mincut":
        assert len({s.device for s in plan.subgraphs}) >= 2
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)


def test_squeezenet_throughput_plan_pipelines_a_stream(squeezenet):
    graph, feeds = squeezenet
    plan = hf.compile(graph, DATACENTER, objective="throughput",
                      pins={"op:conv": "node0/alveo-u250:0", "op:max_pool": "node0/cpu:0"}, emulate_with="reference")
    rng = np.random.default_rng(1)
    stream = [{k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in feeds.items()} for _ in range(3)]
    outs = plan.run_stream(stream)
    report = plan.last_run
    for item, out in zip(stream, outs):
        want = reference(graph, item)
        for name in want:
            np.testing.assert_allclose(out[name], want[name], rtol=1e-6, atol=1e-6)
    assert report.items == 3 and report.modelled
    assert report.makespan < 3 * report.latency  # items overlap on different devices


def test_throughput_replicates_a_stage_over_a_pool_of_identical_devices():
    g = mlp(batch=256, width=1024)
    cluster = Cluster.of("nvidia/h200", "nvidia/h200", "intel/xeon-platinum-8480")
    plan = hf.compile(g, cluster, objective="throughput")
    gpus = ["host0/h200:0", "host0/h200:1"]
    assert any(s.replicas == gpus for s in plan.subgraphs)
    single = hf.compile(g, Cluster.of("nvidia/h200", "intel/xeon-platinum-8480"), objective="throughput")
    assert plan.estimate.period < 0.75 * single.estimate.period
    items = [feeds_for(g, seed) for seed in range(4)]
    outs = plan.run_stream(items)
    name = g.outputs[0].name
    for item, out in zip(items, outs):
        np.testing.assert_array_equal(out[name], reference(g, item)[name])
    ran_on = {(s.track, s.item) for s in plan.last_run.spans if s.kind == "subgraph" and s.track in gpus}
    assert {t for t, _ in ran_on} == set(gpus)  # items alternate between the replicas


def test_latency_objective_uses_the_fastest_device_for_heavy_work():
    g = mlp(batch=512, width=1024)
    plan = hf.compile(g, DATACENTER)
    assert {s.device for s in plan.subgraphs} == {"node0/h200:0"}
    assert plan.estimate.latency > 0 and "model:roofline" in plan.estimate.source


def test_host_plan_is_unchanged_without_a_cluster():
    g = mlp()
    plan = hf.compile(g)
    assert [s.device for s in plan.subgraphs] == ["host"] and plan.devices == []
    assert "on this host" in plan.report()


# ---------------------------------------------------------------- report and explain


def test_report_lists_subgraphs_with_estimates_and_sources():
    g = mlp()
    plan = hf.compile(g, DATACENTER, pins={"exp_b": "node0/cpu:0"})
    text = plan.report()
    for sub in plan.subgraphs:
        assert sub.name in text and sub.device in text
    assert "end-to-end latency" in text and "throughput" in text
    for source in {e.source for sub in plan.subgraphs for e in sub.node_estimates}:  # every estimate says its model
        assert source.startswith("model:") and source in text
    assert "emulated on this host, time model:" in text
    assert "measured" not in text.replace("time measured", "")


def test_explain_names_the_rule_and_every_device():
    plan = hf.compile(mlp(), DATACENTER, pins={"op:exp": "node0/cpu:0"})
    why = plan.explain("exp_b")
    assert "pinned by op:exp=node0/cpu:0" in why
    assert "node0/nvdla:0" in why and "cannot" in why
    assert "placed by" in plan.explain("mm_a") or "only device" in plan.explain("mm_a")
    with pytest.raises(KeyError):
        plan.explain("no_such_node")


def test_pins_resolve_most_specific_first():
    g = mlp()
    plan = hf.compile(g, DATACENTER, pins=["op:matmul=node0/cpu:0", "mm_a=node0/alveo-u250:0"])
    where = plan.placement()
    assert where["mm_a"] == "node0/alveo-u250:0"
    assert where["mm_b"] == "node0/cpu:0" and where["mm_out"] == "node0/cpu:0"


def test_no_fallback_keeps_work_off_the_cpu_when_accelerators_can_run_it():
    g = mlp()
    plan = hf.compile(g, DATACENTER, no_fallback=True)
    assert all(s.device != "node0/cpu:0" for s in plan.subgraphs)


# ---------------------------------------------------------------- bad inputs: one clear line each


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_unknown_device_in_a_cluster_description():
    data = {"name": "bad", "hosts": [{"name": "node0", "devices": [{"preset": "acme/warp-drive"}]}]}
    with pytest.raises(DescriptionError) as info:
        hf.compile(mlp(), Cluster.from_dict(data, source="bad.toml"))
    assert "acme/warp-drive" in _one_line(info.value)


def test_pin_to_an_unknown_device():
    with pytest.raises(PinError) as info:
        hf.compile(mlp(), DATACENTER, pins={"op:exp": "node0/tpu:0"})
    assert "node0/tpu:0" in _one_line(info.value) and isinstance(info.value, hf.HetflowError)


def test_pin_to_a_device_that_cannot_run_the_node():
    with pytest.raises(PinError) as info:
        hf.compile(mlp(), DATACENTER, pins={"op:exp": "node0/nvdla:0"})
    text = _one_line(info.value)
    assert "'exp_b' (exp)" in text and "node0/nvdla:0" in text and "not supported" in text


def test_pin_matching_nothing_is_an_error():
    with pytest.raises(PinError, match="matches"):
        hf.compile(mlp(), DATACENTER, pins={"op:conv": "node0/cpu:0"})


def test_no_device_can_run_a_node_under_no_fallback():
    # The FPGA cannot run exp; under no_fallback the CPU is not a place for it either.
    cluster = Cluster.of("intel/xeon-platinum-8480", "xilinx/alveo-u250")
    with pytest.raises(PlacementError) as info:
        hf.compile(mlp(), cluster, no_fallback=True)
    text = _one_line(info.value)
    assert "no_fallback" in text and "'exp_b' (exp)" in text and "alveo-u250" in text
    plan = hf.compile(mlp(), cluster)  # with the fallback, exp goes to the CPU
    assert plan.placement()["exp_b"] == "host0/xeon-platinum-8480:0"


def test_unknown_objective():
    with pytest.raises(PlacementError, match="unknown objective"):
        hf.compile(mlp(), DATACENTER, objective="speed")
