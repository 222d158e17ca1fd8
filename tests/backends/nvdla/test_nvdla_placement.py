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
    # Under the latency objective the Xeon's AMX roofline (229 TOPS int8) beats nv_full's 4 TOPS, so the
    # datacenter node puts convolutions on the NVDLA card when told to.
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
