"""Issue 10's FPGA defects: C names that collide with libm, the output shape of a trailing reshape, and a default
precision that is right (calibrated), checked against onnxruntime, with a testbench that knows float."""

from __future__ import annotations

import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fpga_helpers import conv_gemm_onnx, lenet_onnx
from onnx import TensorProto, helper, numpy_helper

import hetflow as hf
from hetflow.backends.fpga_hls import FpgaHlsBackend, HLSConfig
from hetflow.backends.fpga_hls.export import FLOAT_TOLERANCE, export_project
from hetflow.backends.fpga_hls.precision import calibrated_config, integer_bits
from hetflow.config import get_config
from hetflow.ir import Graph
from hetflow.passes.calibrate import collect_statistics


def _fc_softmax() -> onnx.ModelProto:
    """MatMul -> Softmax on [1, 16]: the softmax is layer 2, whose exp table was named ``exp2`` (a libm function)."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32) * 0.3, "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
         helper.make_node("Softmax", ["h"], ["y"], name="softmax", axis=1)],
        "fc_softmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_a_softmax_in_layer_2_compiles(tmp_path):
    report = export_project(hf.load(_fc_softmax()), tmp_path)
    assert any(p.name == "exptab2" for p in report.executable.design.params)
    proc = subprocess.run(["make", "test", f"CXX={get_config().cxx}"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_an_fpga_output_keeps_the_shape_of_a_trailing_reshape():
    g = Graph("reshaped")
    x = g.add_input("x", "float32", ("N", 16))
    w = g.constant(np.random.default_rng(1).standard_normal((16, 10)).astype(np.float32) * 0.2, "w")
    h = g.add_node("matmul", [x, w], name="fc").outputs[0]
    p = g.add_node("softmax", [h], name="softmax").outputs[0]
    g.outputs = [g.add_node("reshape", [p], {"shape": (-1, 10, 1, 1)}, name="to4d", output_names=["probs"]).outputs[0]]
    feeds = {"x": np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)}
    got = FpgaHlsBackend().compile(g).run(feeds)["probs"]
    assert got.shape == (3, 10, 1, 1)


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("make", [conv_gemm_onnx, lambda: lenet_onnx(batch=1)], ids=["conv_gemm", "lenet"])
def test_the_default_export_is_within_tolerance_of_onnxruntime(tmp_path, make):
    model = make()
    report = export_project(hf.load(model), tmp_path)
    assert report.float_check is not None and report.float_check.passed, report.float_check
    assert any("calibrat" in n for n in report.notes)
    written = (tmp_path / "hetflow_report.txt").read_text()
    assert "seeded random" in written and "float check" in written  # the export itself says how it was calibrated
    x = np.random.default_rng(7).standard_normal((1, 1, 28, 28)).astype(np.float32)  # not a calibration sample
    want = _ort(model, x).reshape(-1)
    got = report.executable.run_exact({"x": x})[0]
    tolerance = FLOAT_TOLERANCE * max(1.0, float(np.abs(want).max()))
    assert np.abs(got - want).max() <= tolerance, (np.abs(got - want).max(), tolerance)


def test_the_old_default_is_what_the_float_check_catches(tmp_path):
    """fixed<16,6> everywhere (the old default) is 1.4 off on this model's logits: the testbench must fail it."""
    report = export_project(hf.load(conv_gemm_onnx()), tmp_path, config={"model": {"precision": "fixed<16,6>"}})
    assert report.float_check is not None and not report.float_check.passed
    assert "FAIL" in report.float_check.line()
    subprocess.run(["make", "csim", f"CXX={get_config().cxx}"], cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.run(["./csim", "tb_data"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "float reference: max |fixed - float|" in proc.stdout and "FAIL" in proc.stdout


def test_calibration_places_the_binary_point_and_the_user_wins():
    g = hf.load(conv_gemm_onnx())
    rng = np.random.default_rng(0)
    stats = collect_statistics(g, [{"x": rng.standard_normal((1, 1, 28, 28)).astype(np.float32)} for _ in range(4)])
    user = HLSConfig.from_dict({"name": {"fc_0": {"precision": {"result": "fixed<24,10>"}}}})
    cfg = calibrated_config(g, user, stats)
    conv = cfg.resolve("conv", "conv")
    assert conv.result.width == 16 and conv.result.integer == integer_bits(stats["c"].absmax * 2)
    assert conv.result.rounding == "AP_RND" and conv.result.overflow == "AP_SAT"
    assert conv.weight.integer < 6  # weights below 1 get fraction bits, not integer bits
    assert str(cfg.resolve("fc_0", "matmul").result) == "fixed<24,10>"  # the user's per-layer setting wins
    assert integer_bits(0.3) == 0 and integer_bits(1.0) == 2 and integer_bits(6.8) == 4
