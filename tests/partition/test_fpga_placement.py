"""FPGA boards in a cluster: the cycle model as cost, FPGA-capable subgraphs placed on the board and run as
their C simulation, ops the table lacks kept on the CPU, and two boards that differ only in their descriptions."""

from __future__ import annotations

import numpy as np
import pytest
from backends.fpga_hls.fpga_helpers import lenet_onnx

import hetflow as hf
from hetflow.backends.fpga_hls import FpgaExecutable, FpgaHlsBackend, csim, fit_design
from hetflow.backends.fpga_hls.lower import node_graph
from hetflow.ir import Graph
from hetflow.partition.capability import PlacementError
from hetflow.partition.cost import CostModel, Estimate, roofline
from hetflow.partition.pipeline import bottleneck_many
from hetflow.partition.plan import Plan
from hetflow.partition.problem import Edge, Problem
from hetflow.partition.serialize import PlanFormatError
from hetflow.targets import Cluster, get_preset

BOARDS = ["xilinx/alveo-u250", "intel/arria10-pac"]
FPGA = "box0/fpga:0"
CPU = "box0/cpu:0"
LENET_ATOL = 0.005
"""Softmax probabilities when LeNet's conv/dense part runs on the FPGA with the plan's calibrated precision: 0.0015
is the worst seen (the old fixed<16,6> truncating default: 0.053); the ELU and what follows it are float32 on the
CPU."""

# A modest host: next to the Xeon 8480 preset the card's PCIe hops (10 us each way) cost more than LeNet itself.
CLUSTER = """
name = "arm-fpga"
description = "a Cortex-A72 host with one FPGA card"

[[hosts]]
name = "box0"
devices = [{{ preset = "arm/cortex-a72", id = "cpu" }}, {{ preset = "{board}", id = "fpga" }}]
"""


def lenet_elu(seed: int = 0) -> Graph:
    """LeNet-5 style, one 1x28x28 image -> 10 classes; the first dense layer's activation is an ELU."""
    return hf.load(lenet_onnx(seed, fc1_activation="Elu", batch=1))


def image(seed: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((1, 1, 28, 28)).astype(np.float32)}


def cluster_file(tmp_path_factory: pytest.TempPathFactory, board: str) -> str:
    path = tmp_path_factory.mktemp("clusters") / f"{board.replace('/', '_')}.toml"
    path.write_text(CLUSTER.format(board=board))
    return str(path)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return lenet_elu()


@pytest.fixture(scope="module")
def plans(graph, tmp_path_factory) -> dict[str, Plan]:
    """The throughput plan of LeNet on the Cortex-A72 host with each board."""
    return {board: hf.compile(graph, cluster_file(tmp_path_factory, board), objective="throughput")
            for board in BOARDS}


# ---------------------------------------------------------------- the cost model asks the backend


@pytest.mark.parametrize("board", BOARDS)
def test_the_cost_model_uses_the_cycle_model_for_what_the_fpga_table_covers(graph, board):
    desc = get_preset(board)
    costs = CostModel()
    conv = graph.node("conv1")
    got = costs.node(conv, desc)
    _, alone, _ = fit_design(node_graph(conv), desc)  # the node as the board would build it on its own
    assert got.source == "model:hls-cycles"
    assert got.seconds == pytest.approx(alone.latency_cycles / desc.clock_hz)
    assert got.seconds != pytest.approx(roofline(conv, desc))
    # the table lacks elu: the description's roofline, saying so
    elu = costs.node(graph.node("elu3"), desc)
    assert elu.source == "model:roofline" and elu.seconds == roofline(graph.node("elu3"), desc)
    # a CPU has no cycle model
    assert costs.node(conv, get_preset("arm/cortex-a72")).source == "model:roofline"


def test_a_node_too_big_for_the_board_falls_back_to_the_roofline_and_cannot_be_built():
    g = Graph("wide")
    x = g.add_input("x", "float32", (1, 2048))
    w = g.constant(np.full((2048, 2048), 0.01, np.float32), "w")  # 67 Mbit of weights; the Arria 10 has 54 Mbit of M20K
    g.outputs = [g.add_node("matmul", [x, w], name="fc_wide").outputs[0]]
    assert CostModel().node(g.nodes[0], get_preset("intel/arria10-pac")).source == "model:roofline"
    with pytest.raises(PlacementError) as info:
        hf.compile(g, Cluster.of("arm/cortex-a72", "intel/arria10-pac"), pins={"fc_wide": "host0/arria10-pac:0"})
    text = str(info.value)
    assert "\n" not in text and "host0/arria10-pac:0" in text and "does not fit" in text and "m20k" in text
    assert "emulate_with='reference'" in text


def test_estimates_come_from_the_description_alone(graph):
    """A U250 description given the Arria 10's fabric and clock estimates exactly as the Arria 10 does."""
    u250, a10 = get_preset("xilinx/alveo-u250"), get_preset("intel/arria10-pac")
    hybrid = u250.model_copy(update={"resources": a10.resources, "clock_hz": a10.clock_hz})
    slow = u250.model_copy(update={"clock_hz": u250.clock_hz / 2})
    backend = FpgaHlsBackend()
    for node in graph.nodes:
        if node.op == "elu":
            continue
        on_u250, on_a10, on_hybrid, on_slow = (backend.estimate(node, d).seconds for d in (u250, a10, hybrid, slow))
        assert on_hybrid == on_a10, node.name
        assert on_slow == pytest.approx(2 * on_u250), node.name
    assert backend.estimate(graph.node("conv1"), a10).seconds > backend.estimate(graph.node("conv1"), u250).seconds


# ---------------------------------------------------------------- placement, report, run


@pytest.mark.parametrize("board", BOARDS)
def test_throughput_puts_the_cnn_on_the_fpga_and_keeps_elu_on_the_cpu(plans, graph, board):
    plan = plans[board]
    where = plan.placement()
    assert {where[n] for n in ("conv1", "conv2", "fc1")} == {FPGA}
    assert where["elu3"] == CPU
    fpga = [s for s in plan.subgraphs if s.device == FPGA]
    assert fpga and all(s.backend == "fpga_hls" and s.driver == "fpga_hls" for s in fpga)
    assert all(isinstance(s.executable, FpgaExecutable) and s.executable.estimate.target == board for s in fpga)
    # the subgraph's estimate is its compiled design's cycle model, at the board's clock
    for s in fpga:
        est = s.executable.estimate
        assert s.estimate.source == "model:hls-cycles"
        assert s.estimate.seconds == pytest.approx(est.latency_cycles / get_preset(board).clock_hz)
    assert "model:hls-cycles" in plan.estimate.source
    why = plan.explain("elu3")
    assert "not in the fpga_hls kernel table" in why and f"* {CPU}" in why
    assert "model:hls-cycles" in plan.explain("conv1")
    report = plan.report()
    line = next(row for row in report.splitlines() if row.strip().startswith(fpga[0].name))
    assert FPGA in line and "fpga_hls" in line and "(model:hls-cycles)" in line
    assert f"device {FPGA}: {board} (fpga), emulated on this host, time model:hls-cycles; computed by backend " \
           f"fpga_hls through driver fpga_hls" in report
    assert "measured" not in report


@pytest.mark.parametrize("board", BOARDS)
def test_the_plan_runs_the_c_simulation_within_the_fixed_point_tolerance(plans, graph, board):
    plan = plans[board]
    oracle = hf.compile(graph, backend="reference")
    for seed in range(3):
        got = plan.run(image(seed))["probs"]
        np.testing.assert_allclose(got, oracle.run(image(seed))["probs"], rtol=0, atol=LENET_ATOL)
    report = plan.last_run
    assert report.device_busy[FPGA][1] == "model:hls-cycles"
    assert report.source == "model:discrete-event over model:hls-cycles + model:link + model:roofline"
    assert report.latency == pytest.approx(plan.estimate.latency, rel=1e-9)  # the design's model, as planned
    spans = [s for s in report.spans if s.track == FPGA and s.kind == "subgraph"]
    assert spans and all(s.args["source"] == "model:hls-cycles" for s in spans)


def test_the_two_boards_take_the_same_path_and_differ_only_in_estimates(plans):
    u250, a10 = (plans[b] for b in BOARDS)
    assert u250.placement() == a10.placement()
    assert [(s.device, s.backend, s.driver, [n.name for n in s.nodes]) for s in u250.subgraphs] == \
           [(s.device, s.backend, s.driver, [n.name for n in s.nodes]) for s in a10.subgraphs]
    fpga = {b: next(s for s in plans[b].subgraphs if s.device == FPGA) for b in BOARDS}
    estimates = {b: fpga[b].executable.estimate for b in BOARDS}
    assert {b: e.capacity["dsp"] for b, e in estimates.items()} == {b: get_preset(b).resources["dsp"] for b in BOARDS}
    assert estimates[BOARDS[1]].latency_cycles > estimates[BOARDS[0]].latency_cycles  # fewer DSPs: folded further
    assert fpga[BOARDS[1]].estimate.seconds > fpga[BOARDS[0]].estimate.seconds
    assert u250.estimate.period != a10.estimate.period
    # and they compute the same values: the precision is the configuration's, not the board's
    x = image(7)
    np.testing.assert_array_equal(u250.run(x)["probs"], a10.run(x)["probs"])


def test_next_to_a_fast_host_lenet_stays_on_the_cpu_for_latency_and_for_a_stream(graph):
    cluster = Cluster.of("intel/xeon-platinum-8480", "xilinx/alveo-u250")
    plan = hf.compile(graph, cluster, objective="latency")
    assert {s.device for s in plan.subgraphs} == {"host0/xeon-platinum-8480:0"}  # one image: the board's round trip loses
    why = plan.explain("conv1")  # the board was considered, at its cycle model's estimate
    assert "host0/alveo-u250:0" in why and "model:hls-cycles" in why
    # a stream stays there too: at batch 1 every LeNet kernel is below cpu_c's fork thresholds, so none pays the
    # Xeon's launch.kernel (OpenMP fork/join) and one core computes an image in ~4.6 us, sooner than the board's
    # route (which hands elu, outside its table, back to the host) delivers one (~10 us). Against the slower A72
    # the board wins the stream (test_throughput_puts_the_cnn_on_the_fpga_and_keeps_elu_on_the_cpu).
    stream = hf.compile(graph, cluster, objective="throughput")
    assert {s.device for s in stream.subgraphs} == {"host0/xeon-platinum-8480:0"}
    assert "host0/alveo-u250:0" in stream.explain("conv1")
    assert stream.estimate.period < 10e-6


def test_an_fpga_plan_reloads_from_its_artifact_without_a_compiler(plans, tmp_path):
    board = BOARDS[1]
    root = plans[board].save(tmp_path / "plan")
    assert (root / "artifacts" / "sub0" / "fpga_hls.json").is_file() and (root / "artifacts" / "sub0" / "csim.so").is_file()
    runs, hits = csim.STATS.compiler_runs, csim.STATS.cache_hits
    loaded = Plan.load(root)
    fpga = next(s for s in loaded.subgraphs if s.device == FPGA)
    assert fpga.executable.estimate.target == board and fpga.driver == "fpga_hls"
    assert loaded.report() == plans[board].report()
    for seed in range(2):
        np.testing.assert_array_equal(loaded.run(image(seed))["probs"], plans[board].run(image(seed))["probs"])
    assert (csim.STATS.compiler_runs, csim.STATS.cache_hits) == (runs, hits)  # no g++, not even a cache lookup
    assert fpga.executable.csim.library == root / "artifacts" / fpga.name / "csim.so"
    assert loaded.estimate == plans[board].estimate
    assert [e.interval for e in fpga.node_estimates] == \
           [e.interval for e in next(s for s in plans[board].subgraphs if s.device == FPGA).node_estimates]


def test_a_damaged_fpga_artifact_is_refused(plans, tmp_path):
    root = plans[BOARDS[0]].save(tmp_path / "plan")
    (root / "artifacts" / "sub0" / "params.npz").write_bytes(b"not numpy")
    with pytest.raises(PlanFormatError, match="params.npz"):
        Plan.load(root)


# ---------------------------------------------------------------- throughput: the initiation interval


def test_a_pipelined_design_is_charged_its_interval_per_item_and_its_latency_once(tmp_path):
    """A stream design takes a sample every II cycles; the throughput plan's FPGA stage costs the II, not the latency."""
    desc = get_preset("intel/arria10-pac")
    graph = hf.load(lenet_onnx(0, batch=1))
    stream = FpgaHlsBackend().compile(graph, config={"architecture": "stream"}, target=desc, fit="fold", build=False)
    latency, source, interval = stream.modelled_time()
    assert source == "model:hls-cycles" and interval == pytest.approx(stream.estimate.ii_s) and interval < latency
    conv = CostModel().node(graph.node("conv1"), desc)
    _, alone, _ = fit_design(node_graph(graph.node("conv1")), desc)
    assert conv.interval == pytest.approx(alone.ii_s) and conv.interval < conv.seconds
    # the whole network pinned to the board, behind a fast link: the board is the bottleneck, at its II
    cluster = tmp_path / "fast.toml"
    cluster.write_text(CLUSTER.format(board="intel/arria10-pac") + FAST_LINK)
    plan = hf.compile(graph, str(cluster), objective="throughput", pins={n.name: FPGA for n in graph.nodes})
    (sub,) = plan.subgraphs
    design = sub.executable.estimate
    assert sum(e.interval for e in sub.node_estimates) == pytest.approx(design.ii_s)
    assert sum(e.seconds for e in sub.node_estimates) == pytest.approx(design.latency_s)
    assert plan.estimate.period == pytest.approx(design.ii_s) and plan.estimate.period < design.latency_s
    assert plan.estimate.latency >= design.latency_s


def test_the_bottleneck_charges_occupancy_and_the_schedule_latency():
    problem = Problem(["t"], np.array([[1.0, np.inf]]), [Edge(-1, [0], 0), Edge(0, [], 0, True)], 1,
                      np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2), np.array([[0.25, np.inf]]))
    assign = np.zeros((1, 1), dtype=np.int64)
    assert bottleneck_many(problem, np.ones(2), assign)[0] == pytest.approx(0.25)
    assert problem.simulate(assign[0]).makespan == pytest.approx(1.0)
    assert Estimate(1.0, "model:x").interval == 1.0


FAST_LINK = """
[[links]]
a = "box0"
b = "box0/fpga:0"
bandwidth = "1 TB/s"
latency = "1 ns"
"""

