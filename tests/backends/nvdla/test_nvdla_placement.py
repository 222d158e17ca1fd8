"""The partitioner places quantized work on NVDLA only when int8 is asked for, and the plan runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from models.small_cnn import samples, small_cnn

import hetflow as hf
from hetflow.backends.reference import ReferenceBackend
from hetflow.partition.capability import PlacementError

SIZE, WIDTH = 32, 64


@pytest.fixture(scope="module")
def float_graph():
    return small_cnn(0, SIZE, WIDTH)


def test_float_graph_never_goes_to_nvdla_silently(float_graph):
    plan = hf.compile(float_graph, "edge-soc", emulate_with="reference")
    assert all(s.backend != "nvdla" for s in plan.subgraphs)
    assert plan.quantization is None


@pytest.mark.parametrize("cluster,pins", [
    ("edge-soc", None),
    # At 32x32 the whole int8 model takes the Xeon ~50 us; moving a layer to the NVDLA card costs two PCIe 3.0
    # crossings (10 us latency each) and a subgraph launch, so pins put the convolutions there (the 224x224 test
    # below shows the card winning on its own).
    ("datacenter-node", ["op:conv_requant=node0/nvdla:0", "op:qadd=node0/nvdla:0"]),
])
def test_int8_places_on_nvdla_and_tracks_the_float_model(float_graph, cluster, pins):
    plan = hf.compile(float_graph, cluster, precision="int8", calibration=samples(4, 0, SIZE), pins=pins)
    on_nvdla = [n.op for s in plan.subgraphs if s.backend == "nvdla" for n in s.nodes]
    assert "conv_requant" in on_nvdla
    report = plan.report()
    assert "int8 quantization (percentile calibration)" in report and "est. error" in report
    assert "model:nvdla-perf" in report
    ref = ReferenceBackend().compile(float_graph)
    for feed in samples(2, 5, SIZE):
        want, got = ref.run(feed)["logits"], plan.run(feed)["logits"]
        assert np.abs(got - want).max() < 0.1 * np.abs(want).max()
    assert plan.last_run is not None


def test_no_fallback_names_the_node_no_accelerator_takes(float_graph):
    with pytest.raises(PlacementError, match=r"no_fallback: node '[^']+' \((quantize_linear|reduce_mean)\)"):
        hf.compile(float_graph, "edge-soc", precision="int8", calibration=samples(2, 0, SIZE), no_fallback=True)


def test_plan_trace_has_one_track_per_engine_with_the_descriptors_events(float_graph, tmp_path):
    plan = hf.compile(float_graph, "edge-soc", precision="int8", calibration=samples(4, 0, SIZE))
    path = tmp_path / "trace.json"
    plan.run(samples(1, 7, SIZE)[0], trace=path)
    events = json.loads(path.read_text())["traceEvents"]
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    engine_tracks = {name for name in tracks.values() if name.endswith("]")}
    nvdla = {s.device for s in plan.subgraphs if s.backend == "nvdla"}
    assert engine_tracks and {t.split(" [")[0] for t in engine_tracks} == nvdla
    assert {t.split(" [")[1][:-1] for t in engine_tracks} >= {"CONV", "SDP"}
    slices = [e for e in events if e["ph"] == "X" and e["cat"] == "engine"]
    # every op descriptor of every NVDLA program shows once, on its engine's track, inside its subgraph's slice
    programs = [s for s in plan.subgraphs if s.backend == "nvdla"]
    ops = [(op.engine, op.name) for s in programs for op in s.executable.loadable.ops]
    assert sorted((tracks[(e["pid"], e["tid"])].split(" [")[1][:-1], e["name"]) for e in slices) == sorted(ops)
    spans = {e["name"]: e for e in events if e["ph"] == "X" and e["cat"] == "subgraph"}
    for e in slices:
        owner = next(s for s in programs if any(op.name == e["name"] for op in s.executable.loadable.ops))
        sub = spans[owner.name]
        assert sub["ts"] - 1e-6 <= e["ts"] and e["ts"] + e["dur"] <= sub["ts"] + sub["dur"] + 1e-3


def test_int8_on_a_cpu_is_costed_as_the_interpreter_that_runs_it():
    """No hetflow CPU backend has an int8 convolution kernel: the NumPy interpreter runs conv_requant, summing the
    products in float64. Its cost on the Xeon is therefore float64's roofline, not AMX's int8 peak (64x higher);
    on the NVDLA, the convolution rule of model:nvdla-perf, not the SDP's element-wise one."""
    from hetflow.backends.base import roofline
    from hetflow.ir.dtypes import DType
    from hetflow.partition.cost import CostModel
    from hetflow.passes.quantize import calibrate_and_quantize
    from hetflow.targets import get_preset

    q, _ = calibrate_and_quantize(small_cnn(0, 64, 64), samples(2, 0, 64))
    conv = next(n for n in q.nodes if n.op == "conv_requant" and n.inputs[1].type.shape[1] == 64)
    xeon, nv = get_preset("intel/xeon-platinum-8480"), get_preset("nvidia/nvdla-full")
    on_xeon = CostModel().node(conv, xeon, "reference")
    assert on_xeon.seconds == pytest.approx(xeon.launch.kernel + roofline(conv, xeon, DType.float64))
    assert on_xeon.seconds - xeon.launch.kernel > 10 * roofline(conv, xeon)  # what the int8 peak claimed
    from hetflow.backends.nvdla import from_description
    from hetflow.backends.nvdla.perf import ConvShape, conv_layer

    cfg = from_description(nv)
    n, c, h, w = conv.inputs[0].type.shape
    k = conv.inputs[1].type.shape[0]
    shape = ConvShape(n, c, h, w, k, 3, 3, (1, 1), (h, w), (h, w), winograd=True, pad_top=1)
    assert CostModel().node(conv, nv).seconds == pytest.approx(conv_layer("c", shape, cfg).cycles / cfg.clock_hz)


def test_nvdla_takes_the_conv_heavy_layers_of_a_larger_model_unpinned():
    """224x224, 64 channels: the middle convolutions cost the Xeon's interpreter more than the PCIe round trip
    to nv_full and its modelled time, so the partitioner places them there with no pin."""
    graph = small_cnn(0, 224, 64)
    plan = hf.compile(graph, "datacenter-node", precision="int8", calibration=samples(2, 0, 224))
    on_nvdla = [n.op for s in plan.subgraphs if s.backend == "nvdla" for n in s.nodes]
    assert on_nvdla.count("conv_requant") >= 2


def test_int8_lenet_on_edge_soc_is_not_cut_into_same_device_subgraphs():
    """The flatten and the dense layers' ReLUs stay int8 (no dequantize -> float op -> quantize boundaries), and a
    float op the int8 run's backend can run for less than a subgraph launch joins that run: one subgraph where
    there were 8 on the one device. (The NVDLA loses here honestly: LeNet's layers save less than the SoC link's
    10 us crossings and a 20 us subgraph launch.)"""
    from backends.fpga_hls.fpga_helpers import lenet_onnx

    graph = hf.load(lenet_onnx(batch=1))
    rng = np.random.default_rng(0)
    calibration = [{"x": rng.standard_normal((1, 1, 28, 28)).astype(np.float32)} for _ in range(4)]
    plan = hf.compile(graph, "edge-soc", precision="int8", calibration=calibration)
    devices = [s.device for s in plan.subgraphs]
    assert len(devices) == len(set(devices))  # at most one subgraph per device
    ops = [n.op for s in plan.subgraphs for n in s.nodes]
    assert ops.count("matmul_requant") == 3 and "relu" not in ops and ops.count("quantize_linear") == 1
    feed = calibration[0]
    want = ReferenceBackend().compile(graph).run(feed)
    got = plan.run(feed)
    name = graph.outputs[0].name
    assert np.abs(got[name] - want[name]).max() < 0.05


def test_int8_lenet_pinned_to_nv_small_keeps_its_whole_int8_chain_there():
    """With the convolutions pinned to the NVDLA, the flatten (a view of the pooled cube) and the dense layers
    follow: one NVDLA subgraph between the input's quantization and the output's dequantization."""
    from backends.fpga_hls.fpga_helpers import lenet_onnx

    graph = hf.load(lenet_onnx(batch=1))
    rng = np.random.default_rng(0)
    calibration = [{"x": rng.standard_normal((1, 1, 28, 28)).astype(np.float32)} for _ in range(4)]
    plan = hf.compile(graph, "edge-soc", precision="int8", calibration=calibration,
                      pins=["op:conv_requant=soc0/nvdla:0"])
    nvdla = [s for s in plan.subgraphs if s.backend == "nvdla"]
    assert len(nvdla) == 1 and len(plan.subgraphs) == 3
    assert [n.op for n in nvdla[0].nodes].count("matmul_requant") == 3 and "reshape" in [n.op for n in nvdla[0].nodes]
    name = graph.outputs[0].name
    for feed in calibration[:2]:
        want, got = ReferenceBackend().compile(graph).run(feed)[name], plan.run(feed)[name]
        assert np.abs(got - want).max() < 0.05
