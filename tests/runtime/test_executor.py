"""The heterogeneous runtime: device workers, transfers, concurrency, streams, the clock and the trace."""

from __future__ import annotations

import json

import numpy as np
import pytest
from devices.conformance import DeviceConformance

import hetflow as hf
from hetflow.devices import DeviceError, open_device
from hetflow.ir import Graph
from hetflow.runtime.clock import Clock
from hetflow.runtime.emulated import EmulatedDevice, HostDevice, batch_scale, emulate
from hetflow.targets import get_preset

DATACENTER = "datacenter-node"


def chain() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("chain")
    x = g.add_input("x", "float32", (64, 256))
    w = g.constant(rng.standard_normal((256, 256)).astype(np.float32) * 0.05, "w")
    h = g.add_node("matmul", [x, w], name="mm").outputs[0]
    h = g.add_node("relu", [h], name="act").outputs[0]
    g.outputs = [g.add_node("sigmoid", [h], name="squash").outputs[0]]
    return g


def branches() -> Graph:
    """x -> four matmuls and a relu | x -> matmul, tanh; joined by an add."""
    rng = np.random.default_rng(1)
    g = Graph("branches")
    x = g.add_input("x", "float32", (256, 512))
    w = g.constant(rng.standard_normal((512, 512)).astype(np.float32) * 0.04, "w")
    a = x
    for i in range(4):
        a = g.add_node("matmul", [a, w], name=f"mm_a{i}").outputs[0]
    a = g.add_node("relu", [a], name="relu_a").outputs[0]
    b = g.add_node("tanh", [g.add_node("matmul", [x, w], name="mm_b").outputs[0]], name="tanh_b").outputs[0]
    g.outputs = [g.add_node("add", [a, b], name="join").outputs[0]]
    return g


CHAIN_PINS = {"mm": "node0/h200:0", "act": "node0/cpu:0", "squash": "node0/alveo-u250:0"}
# The long branch on the CPU, the short one on the FPGA (behind its slower link) and the GPU.
BRANCH_PINS = {"mm_a*": "node0/cpu:0", "relu_a": "node0/cpu:0", "mm_b": "node0/alveo-u250:0",
               "tanh_b": "node0/h200:0", "join": "node0/cpu:0"}


def feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs}


SIGMOID_ATOL = 0.01
"""The FPGA's sigmoid is a 1024-entry lookup table over [-8, 8) in fixed point (fixed<16,6>, table fixed<18,2>)."""


@pytest.mark.parametrize("emulate_with", ["reference", "device"])
def test_modelled_run_of_a_chain_equals_the_plan_estimate(emulate_with):
    # "reference": every device computes on the NumPy oracle (exact); "device" (the default): the FPGA's part runs
    # as the C simulation of its HLS design. Either way the FPGA's time is the cycle model's, the others' the roofline.
    g = chain()
    plan = hf.compile(g, DATACENTER, pins=CHAIN_PINS, emulate_with=emulate_with)
    assert [s.device for s in plan.subgraphs] == ["node0/h200:0", "node0/cpu:0", "node0/alveo-u250:0"]
    out = plan.run(feeds(g))[g.outputs[0].name]
    want = hf.compile(g, backend="reference").run(feeds(g))[g.outputs[0].name]
    if emulate_with == "reference":
        np.testing.assert_array_equal(out, want)
    else:
        assert plan.subgraphs[2].driver == "fpga_hls"
        np.testing.assert_allclose(out, want, rtol=0, atol=SIGMOID_ATOL)
    report = plan.last_run
    assert report.latency == pytest.approx(plan.estimate.latency, rel=1e-9)
    assert report.source == "model:discrete-event over model:hls-cycles + model:link + model:roofline"
    assert "not a wall-clock measurement" in str(report)


def test_independent_subgraphs_overlap_on_the_clock():
    g = branches()
    plan = hf.compile(g, DATACENTER, pins=BRANCH_PINS)
    plan.run(feeds(g))
    spans = {(s.track, s.name): s for s in plan.last_run.spans if s.kind == "subgraph"}
    cpu = next(s for (track, _), s in spans.items() if track == "node0/cpu:0")
    fpga = next(s for (track, _), s in spans.items() if track == "node0/alveo-u250:0")
    assert cpu.start < fpga.end and fpga.start < cpu.end  # the two branches run at the same time


def test_trace_has_one_track_per_device_and_link(tmp_path):
    g = branches()
    plan = hf.compile(g, DATACENTER, pins=BRANCH_PINS)
    path = tmp_path / "trace.json"
    plan.run(feeds(g), trace=path)
    data = json.loads(path.read_text())
    events = data["traceEvents"]
    names = {(e["pid"], e["args"]["name"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    devices = {n for pid, n in names if pid == 1}
    links = {n for pid, n in names if pid == 2}
    assert devices == {"node0/h200:0", "node0/alveo-u250:0", "node0/cpu:0"}
    assert {"node0 -> node0/cpu:0", "node0/alveo-u250:0 -> node0/h200:0", "node0/cpu:0 -> node0"} <= links
    assert data["otherData"]["clock"].startswith("model:discrete-event")
    slices = [e for e in events if e["ph"] == "X"]
    assert {e["cat"] for e in slices} == {"subgraph", "node", "transfer"}
    routes = {e["args"]["route"] for e in slices if e["cat"] == "transfer"}
    assert routes == {"write", "peer", "read"}  # inputs written, values copied device to device, outputs read home
    for parent in (e for e in slices if e["cat"] == "subgraph"):
        children = [e for e in slices if e["cat"] == "node" and e["tid"] == parent["tid"]
                    and e["args"]["item"] == parent["args"]["item"] and parent["ts"] <= e["ts"] < parent["ts"] + parent["dur"]]
        assert children and all(c["ts"] + c["dur"] <= parent["ts"] + parent["dur"] + 1e-6 for c in children)
    for track in devices | links:  # one thing at a time on every track
        pid = 1 if track in devices else 2
        tid = next(e["tid"] for e in events if e["ph"] == "M" and e["pid"] == pid and e["args"]["name"] == track)
        top = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["pid"] == pid and e["tid"] == tid
                     and e["cat"] != "node")
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(top, top[1:]))


def test_stream_is_pipelined_and_outputs_stay_in_order():
    g = chain()
    plan = hf.compile(g, DATACENTER, pins=CHAIN_PINS, emulate_with="reference")  # exact outputs
    items = [feeds(g, seed) for seed in range(4)]
    outs = plan.run_stream(items)
    oracle = hf.compile(g, backend="reference")
    for item, out in zip(items, outs):
        np.testing.assert_array_equal(out[g.outputs[0].name], oracle.run(item)[g.outputs[0].name])
    report = plan.last_run
    assert report.items == 4
    assert report.makespan < 4 * report.latency
    assert report.throughput == pytest.approx(4 / report.makespan)


def test_host_only_plan_reports_measured_device_time():
    g = chain()
    plan = hf.compile(g, "host-only")
    plan.run(feeds(g))
    report = plan.last_run
    assert all(source == "measured" for _, source in report.device_busy.values())
    assert "measured" in report.source and "model:link" in report.source


def test_a_failing_subgraph_is_a_device_error_naming_the_device():
    g = chain()
    plan = hf.compile(g, DATACENTER, pins=CHAIN_PINS)

    class Broken:
        graph = plan.subgraphs[1].executable.graph

        def run(self, feeds):
            raise ValueError("boom")

    plan.subgraphs[1].executable = Broken()
    with pytest.raises(DeviceError) as info:
        plan.run(feeds(g))
    assert "node0/cpu:0" in str(info.value) and "boom" in str(info.value) and "\n" not in str(info.value)


def test_clock_node_level_and_atomic_launches_and_serial_links():
    clock = Clock()
    # node-level: the second node waits for its own late input, the first does not
    done = clock.launch("gpu", "s0", item=0, nodes=["a", "b"], ready=[0.0, 5.0], seconds=[1.0, 1.0], atomic=False,
                        source="model:x")
    assert done == [1.0, 6.0]
    # atomic: everything waits for the latest input, outputs at the end
    done = clock.launch("cpu", "s1", item=0, nodes=["a", "b"], ready=[0.0, 5.0], seconds=[1.0, 1.0], atomic=True,
                        source="measured")
    assert done == [7.0, 7.0]
    # a link carries one transfer at a time
    assert clock.transfer("l", 0.0, 2.0, item=0, value="v", nbytes=1) == 2.0
    assert clock.transfer("l", 1.0, 2.0, item=0, value="w", nbytes=1) == 4.0
    assert clock.busy("l") == 4.0


def test_emulated_time_is_the_roofline_and_scales_with_the_batch():
    g = Graph("batched")
    x = g.add_input("x", "float32", ("N", 128))
    w = g.constant(np.ones((128, 128), np.float32), "w")
    g.outputs = [g.add_node("matmul", [x, w]).outputs[0]]
    desc = get_preset("nvidia/h200")
    artifact = emulate(g, desc)
    assert artifact.source == "model:roofline" and artifact.seconds > 0
    assert batch_scale(g, {"x": np.zeros((8, 128), np.float32)}) == 8
    with EmulatedDevice(desc, "test/h200:0") as dev:
        program = dev.load(g)
        buf = dev.alloc(((8, 128), "float32"))
        dev.write(buf, np.ones((8, 128), np.float32))
        run = dev.launch(program, {"x": buf})
        out = run.wait()
        np.testing.assert_array_equal(dev.read(next(iter(out.values()))), np.full((8, 128), 128, np.float32))
        assert run.time_source == "model:roofline"
        assert run.busy_s == pytest.approx(8 * artifact.seconds)


class TestEmulatedDriver(DeviceConformance):
    @pytest.fixture
    def open_device(self):
        return lambda: open_device("nvidia/h200", driver="emulated")


class TestHostDriver(DeviceConformance):
    @pytest.fixture
    def open_device(self):
        return lambda: HostDevice(get_preset("host/cpu"), "host0/cpu:0")

    def test_loads_any_host_executable(self, device):
        from hetflow.backends.reference import ReferenceBackend

        program = device.load(ReferenceBackend().compile(chain()))
        assert program.inputs[0].name == "x"
