"""Issue 10 follow-up: an FPGA subgraph placed by ``hf.compile(graph, cluster)`` gets calibrated per-layer precision
by default (from ``calibration=`` samples, else seeded random ones, the report saying which), so that a plan's
outputs stay within the export's float tolerance of the reference backend and of onnxruntime; the old fixed<16,6>
default was about 1.4 logits off on the Conv -> Gemm model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from backends.fpga_hls.fpga_helpers import conv_gemm_onnx, lenet_onnx

import hetflow as hf
from hetflow.backends.fpga_hls import FpgaHlsBackend
from hetflow.backends.fpga_hls.export import FLOAT_TOLERANCE
from hetflow.compiler import CALIBRATION_SAMPLES
from hetflow.ir.errors import InputError
from hetflow.partition.plan import Plan

FPGA = "box0/fpga:0"
CLUSTER = """
name = "arm-fpga"
description = "a Cortex-A72 host with one FPGA card"

[[hosts]]
name = "box0"
devices = [{ preset = "arm/cortex-a72", id = "cpu" }, { preset = "xilinx/alveo-u250", id = "fpga" }]
"""
MODELS = {"conv_gemm": conv_gemm_onnx, "lenet": lambda: lenet_onnx(batch=1)}


def image(seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {"x": (np.random.default_rng(seed).standard_normal((1, 1, 28, 28)) * scale).astype(np.float32)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("clusters") / "arm-fpga.toml"
    path.write_text(CLUSTER)
    return str(path)


@pytest.fixture(scope="module")
def plans(cluster: str) -> dict[str, tuple[onnx.ModelProto, Plan]]:
    """Each model's throughput plan, which puts the whole model on the FPGA, with no calibration given."""
    out = {}
    for name, make in MODELS.items():
        model = make()
        out[name] = (model, hf.compile(hf.load(model), cluster, objective="throughput"))
    return out


def _tolerance(want: np.ndarray) -> float:
    return FLOAT_TOLERANCE * max(1.0, float(np.abs(want).max()))


@pytest.mark.parametrize("name", list(MODELS))
def test_the_fpga_plan_is_within_tolerance_of_the_reference_and_onnxruntime(plans, name):
    model, plan = plans[name]
    assert [(s.device, s.backend) for s in plan.subgraphs] == [(FPGA, "fpga_hls")]
    oracle = hf.compile(plan.graph, backend="reference")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for seed in range(100, 105):  # not the calibration samples (seed 0)
        feeds = image(seed)
        got = next(iter(plan.run(feeds).values()))
        want = next(iter(oracle.run(feeds).values()))
        peer = session.run(None, feeds)[0]
        assert np.abs(got - want).max() <= _tolerance(want), (seed, np.abs(got - want).max())
        assert np.abs(got - peer).max() <= _tolerance(peer), (seed, np.abs(got - peer).max())


def test_the_old_default_is_what_the_plan_no_longer_builds(plans):
    """The same subgraph built for the same board without calibration (fixed<16,6>) is far outside the tolerance:
    the test above can fail."""
    _, plan = plans["conv_gemm"]
    sub = plan.subgraphs[0]
    board = next(d.description for d in plan.devices if d.id == FPGA)
    old = FpgaHlsBackend().compile_for(sub.graph, board)
    feeds = image(100)
    want = hf.compile(plan.graph, backend="reference").run(feeds)
    name = next(iter(want))
    assert np.abs(old.run(feeds)[name] - want[name]).max() > 5 * _tolerance(want[name])


def test_the_report_says_what_the_precision_was_calibrated_on(plans, cluster):
    _, plan = plans["lenet"]
    report = plan.report()
    assert f"calibrated per layer on {CALIBRATION_SAMPLES} seeded random normal samples" in report
    assert "calibration=" in report  # and how to give real data
    given = [image(seed) for seed in range(3)]
    plan = hf.compile(plan.graph, cluster, objective="throughput", calibration=given)
    assert "calibrated per layer on the 3 calibration sample(s) given" in plan.report()
    assert len(plan.subgraphs[0].notes) == 1 and plan.subgraphs[0].notes[0] in plan.report()


def test_given_samples_decide_the_types(plans, cluster):
    """Inputs 16 times larger than the random default need 4 more integer bits at the design's input."""
    _, plan = plans["conv_gemm"]
    default = plan.subgraphs[0].executable.design.inputs[0].type
    scaled = hf.compile(plan.graph, cluster, objective="throughput", calibration=[image(s, 16.0) for s in range(4)])
    wide = scaled.subgraphs[0].executable.design.inputs[0].type
    assert wide.width == default.width and wide.integer == default.integer + 4, (default, wide)
    feeds = image(200, 16.0)
    want = next(iter(hf.compile(plan.graph, backend="reference").run(feeds).values()))
    got = next(iter(scaled.run(feeds).values()))
    assert np.abs(got - want).max() <= _tolerance(want)


def test_a_bad_calibration_sample_is_one_clear_error(plans, cluster):
    _, plan = plans["conv_gemm"]
    with pytest.raises(InputError, match="unknown input"):
        hf.compile(plan.graph, cluster, objective="throughput", calibration=[{"image": image(0)["x"]}])
    with pytest.raises(InputError, match="calibration= is empty"):
        hf.compile(plan.graph, cluster, objective="throughput", calibration=[])


def test_a_plan_without_an_fpga_subgraph_does_not_calibrate(plans):
    _, plan = plans["conv_gemm"]
    host = hf.compile(plan.graph, "host-only")
    assert all(not s.notes for s in host.subgraphs) and "precision: calibrated" not in host.report()


def test_a_host_plan_on_the_fpga_backend_calibrates_too(plans):
    _, plan = plans["conv_gemm"]
    host = hf.compile(plan.graph, backend="fpga_hls", fit="fold")
    assert "seeded random normal samples" in host.report()
    feeds = image(101)
    want = next(iter(hf.compile(plan.graph, backend="reference").run(feeds).values()))
    assert np.abs(next(iter(host.run(feeds).values())) - want).max() <= _tolerance(want)
    fixed = hf.compile(plan.graph, backend="fpga_hls", fit="fold", config={"model": {"precision": "fixed<16,6>"}})
    assert "precision: calibrated" not in fixed.report()  # a config is the user's choice, used as given
