"""The exported Vitis HLS project of the LeNet CNN stands alone: it parses with -Wall and its testbench passes."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from fpga_helpers import LENET_CONFIG, lenet, lenet_onnx
from typer.testing import CliRunner

from hetflow.backends.fpga_hls.export import export_project
from hetflow.cli import app
from hetflow.config import get_config

INCLUDES = ["-Ifirmware", "-Iinclude/hetflow_hls", "-Iinclude/csim", "-isystem", "include/ap_types"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet_prj")
    report = export_project(lenet(), out, config=LENET_CONFIG, trace=True)
    moved = tmp_path_factory.mktemp("moved") / "lenet_prj"
    shutil.copytree(out, moved)  # the directory alone: nothing may point back into the hetflow tree
    return moved, report


def test_the_project_has_every_part(project):
    root, report = project
    for rel in ["firmware/lenet.cpp", "firmware/lenet.h", "firmware/parameters.h", "firmware/defines.h",
                "include/hetflow_hls/hf_dense.h", "include/ap_types/ap_fixed.h", "include/ap_types/LICENSE",
                "include/csim/hls_stream.h", "tb/lenet_test.cpp", "tb_data/tb_input_features.dat",
                "tb_data/tb_output_predictions.dat", "build_prj.tcl", "Makefile", "README.md", "hetflow_report.txt"]:
        assert (root / rel).is_file(), rel
    top = (root / "firmware/lenet.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in top and "hls::stream<" in top and "hf::conv2d<" in top
    tcl = (root / "build_prj.tcl").read_text()
    assert "set_top lenet" in tcl and "xcu250" in tcl and "csynth_design" in tcl and "set clock_period 3.333" in tcl
    readme = (root / "README.md").read_text()
    assert "vitis_hls -f build_prj.tcl" in readme and "make test" in readme and "model:hls-cycles" in readme
    assert len((root / "tb_data/tb_input_features.dat").read_text().splitlines()) == report.samples == 4
    assert report.precision is not None and "precision trace" in "\n".join(report.lines())


def test_the_firmware_passes_gxx_syntax_only_with_wall(project):
    root, _ = project
    cxx = get_config().cxx
    # The whole design as g++ builds it; then the literal ap_fixed arrays synthesis reads instead of the raw codes
    # (parsing 60k ap_fixed literals takes g++ seconds, so the small arrays stand for the rest).
    (root / "literals.cpp").write_text("".join(f'#include "weights/{p.name}"\n' for p in
                                               sorted((root / "firmware/weights").iterdir()) if p.stat().st_size < 4000))
    for args in (["firmware/lenet.cpp", "tb/lenet_test.cpp"], ["-DHF_WEIGHT_LITERALS", "literals.cpp"]):
        proc = subprocess.run([cxx, "-std=c++14", "-fsyntax-only", "-Wall", *INCLUDES, *args], cwd=root,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        warnings = [ln for ln in proc.stderr.splitlines() if "warning:" in ln and "-Wunknown-pragmas" not in ln]
        assert not warnings, warnings[:5]  # g++ 12 cannot be told to skip "#pragma HLS"; nothing else may warn


def test_the_testbench_builds_and_passes_from_the_directory_alone(project):
    root, _ = project
    proc = subprocess.run(["make", "test", f"CXX={get_config().cxx}"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "PASS: 4 samples bit-exact" in proc.stdout
    golden = root / "tb_data/tb_output_predictions.dat"
    values = golden.read_text().split()
    values[3] = repr(float(values[3]) + 2 ** -10)  # one LSB off: the testbench must notice
    golden.write_text(" ".join(values[:10]) + "\n" + "\n".join(golden.read_text().splitlines()[1:]) + "\n")
    proc = subprocess.run(["./csim", "tb_data"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 1 and "FAIL: 1 mismatching values" in proc.stdout


def test_cli_codegen_writes_the_project_and_traces_precision(tmp_path):
    model = tmp_path / "lenet.onnx"
    onnx.save(lenet_onnx(), model)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "prj"
    result = CliRunner().invoke(app, ["codegen", str(model), "--target", "xilinx/alveo-u250", "-o", str(out),
                                      "--architecture", "stream", "--reuse-factor", "10", "--trace-precision",
                                      "--input", f"x={tmp_path / 'x.npy'}"])  # LENET_CONFIG: its C simulation is cached
    assert result.exit_code == 0, result.output
    text = result.output
    assert "wrote" in text and "model:hls-cycles" in text and "precision trace" in text and "own max" in text
    assert len((out / "tb_data/tb_input_features.dat").read_text().splitlines()) == 2


def test_cli_codegen_errors_are_one_line_with_exit_code_2(tmp_path):
    model = tmp_path / "lenet.onnx"
    onnx.save(lenet_onnx(), model)
    for args, needle in [(["--target", "nvidia/h200"], "nvidia/h200"),
                         (["--architecture", "parallel", "--reuse-factor", "7", "--no-fold"], "does not fit"),
                         (["--precision", "fixed<16>"], "precision")]:
        result = CliRunner().invoke(app, ["codegen", str(model), "-o", str(tmp_path / "p"), *args])
        assert result.exit_code == 2, result.output
        errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and needle in errors[0], result.output
        if "7" in args:  # the snapping warnings come out even though the compile then fails; hints name CLI flags
            assert "--reuse-factor" in errors[0] and "--architecture stream" in errors[0]
            assert "HLSConfig" not in errors[0] and "architecture='" not in errors[0]
            assert re.search(r"warning: layer 'conv1': reuse_factor 7 is not legal .* using \d+ instead", result.output)
