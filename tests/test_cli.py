"""The ``hetflow`` command: its verbs on a small model and on a bundled one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_errors import _small_model
from typer.testing import CliRunner

from hetflow.cli import BUNDLED_MODELS, app, bundled_models_dir, emitted_ir_ops, top_k
from hetflow.frontends.onnx.table import table

runner = CliRunner()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.onnx"
    _small_model(path)
    return path


def _expected(model_path: Path, x: np.ndarray) -> np.ndarray:
    from onnx import load, numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in load(model_path).graph.initializer}
    return np.maximum(x @ inits["w"] + inits["b"], 0)


def test_run_small_model_with_input_file(tmp_path: Path, small: Path) -> None:
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    result = runner.invoke(app, ["run", str(small), "--input", f"x={tmp_path / 'x.npy'}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "top-5" in result.stdout
    assert re.search(r"time: [\d.]+ ms \(measured", result.stdout)
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["y"], _expected(small, x), rtol=1e-5, atol=1e-6)


def test_run_random_is_seeded(tmp_path: Path, small: Path) -> None:
    outs = []
    for name in ("a.npz", "b.npz"):
        result = runner.invoke(app, ["run", str(small), "--random", "--seed", "3", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        with np.load(tmp_path / name) as saved:
            outs.append(saved["y"])
    np.testing.assert_array_equal(*outs)


def test_run_bundled_squeezenet_random() -> None:
    result = runner.invoke(app, ["run", "squeezenet", "--random"])
    assert result.exit_code == 0, result.output
    assert "softmaxout_1" in result.stdout and "top-5" in result.stdout
    ranks = re.findall(r"^\S\s+(\d)\s+\S\s+(\d+)\s+\S\s+([\d.e-]+)\s+\S$", result.stdout, re.MULTILINE)
    assert [r[0] for r in ranks] == ["1", "2", "3", "4", "5"], result.stdout
    assert "measured" in result.stdout


def test_bundled_models_ship_with_onnx() -> None:
    for name, file in BUNDLED_MODELS.items():
        assert (bundled_models_dir() / file).is_file(), name


def test_top_k_takes_sample_zero() -> None:
    y = np.array([[0.1, 0.7, 0.2], [0.9, 0.0, 0.1]], np.float32)
    assert [i for i, _ in top_k(y, 2)] == [1, 2]


def test_ops_lists_the_mapping_table() -> None:
    result = runner.invoke(app, ["ops"], terminal_width=200)
    assert result.exit_code == 0, result.output
    op_types = {m.op_type for m in table()}
    assert {"Add", "MatMul", "Relu"} <= op_types
    for op in ("Add", "MatMul", "Relu"):
        assert re.search(rf"^\S\s{op}\s", result.stdout, re.MULTILINE), op
    assert f"{len({(m.domain, m.op_type) for m in table()})} ONNX ops" in result.stdout


def test_emitted_ir_ops_reads_mapping_source() -> None:
    relu = next(m for m in table() if m.op_type == "Relu")
    assert emitted_ir_ops(relu.fn) == {"relu"}


@pytest.mark.parametrize("grain", ["op", "layer", "block", "network"])
def test_inspect_at_each_grain(small: Path, grain: str) -> None:
    result = runner.invoke(app, ["inspect", str(small), "--granularity", grain], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "input x: float32[2,4]" in result.stdout
    assert f"{grain} grain" in result.stdout
    # 3 nodes; 60 FLOPs = 2*2*4*3 for the matmul + 6 + 6 elementwise; 60 B of weights and bias
    assert re.search(r"^total\s.*\s3\s+60\s+60 B$", result.stdout, re.MULTILINE), result.stdout
    if grain == "op":
        for node in ("matmul", "bias", "act"):
            assert node in result.stdout


def test_inspect_rejects_unknown_grain(small: Path) -> None:
    result = runner.invoke(app, ["inspect", str(small), "--granularity", "neuron"])
    assert result.exit_code == 2


@pytest.mark.parametrize("verb", [[], ["run"], ["ops"], ["inspect"]])
def test_help(verb: list[str]) -> None:
    result = runner.invoke(app, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_python_dash_m_entry_point(small: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hetflow", "run", str(small), "--random"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "top-5" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "hetflow", "run", str(small)], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


def test_targets_lists_and_shows_presets() -> None:
    listing = runner.invoke(app, ["targets"])
    assert listing.exit_code == 0, listing.output
    assert "xilinx/alveo-u250" in listing.output and "nvidia/nvdla-full" in listing.output
    one = runner.invoke(app, ["targets", "nvidia/h200"])
    assert one.exit_code == 0 and "HBM3e" in one.output


def test_targets_unknown_preset_is_one_line_exit_2() -> None:
    result = runner.invoke(app, ["targets", "acme/nothing"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown machine preset 'acme/nothing'" in lines[0]
