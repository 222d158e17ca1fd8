"""The CLI reads a .tflite like an ONNX file; bad TFLite input is one line with exit code 2; ops --frontend."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tflite")

from hetflow.cli import app  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from builder import T, one_op  # noqa: E402

runner = CliRunner()


def test_run_tflite_model(tmp_path: Path) -> None:
    model = tmp_path / "relu.tflite"
    model.write_bytes(one_op("RELU", [T("x", (2, 3))], [T("y", (2, 3))]))
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(model), "--input", f"x={tmp_path / 'x.npy'}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    saved = list(out.glob("*.npy")) if out.is_dir() else [out.with_suffix(".npz")]
    assert saved, result.output


def test_custom_op_on_the_cli_is_one_line(tmp_path: Path) -> None:
    model = tmp_path / "custom.tflite"
    model.write_bytes(one_op("CUSTOM", [T("x", (2, 2))], [T("y", (2, 2))], custom="MyFancyOp"))
    result = runner.invoke(app, ["run", str(model), "--random"])
    assert result.exit_code == 2
    assert "MyFancyOp" in result.output and "Traceback" not in result.output


def test_truncated_tflite_on_the_cli_is_one_line(tmp_path: Path) -> None:
    data = one_op("RELU", [T("x", (2, 3))], [T("y", (2, 3))])
    model = tmp_path / "cut.tflite"
    model.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["run", str(model), "--random"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cut.tflite" in result.output


@pytest.mark.parametrize("frontend,first", [("torch", "ATen ops mapped"), ("tflite", "TFLite ops mapped"),
                                            ("onnx", "ONNX ops mapped")])
def test_ops_per_frontend(frontend: str, first: str) -> None:
    result = runner.invoke(app, ["ops", "--frontend", frontend], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert first in result.output


def test_ops_unknown_frontend() -> None:
    result = runner.invoke(app, ["ops", "--frontend", "caffe"])
    assert result.exit_code == 2 and "caffe" in result.output
