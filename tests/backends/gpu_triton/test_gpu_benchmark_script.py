"""benchmarks/gpu_vs_torch.py is known to work before a GPU run: one line without a GPU, and a dry run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.backends.gpu_triton import runtime

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu_vs_torch.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(not runtime.load_runtime().interpret, reason="a CUDA GPU is here: the script would time it")
def test_without_a_gpu_the_benchmark_exits_with_one_line() -> None:
    done = run("--quick")
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "--dry-run" in lines[0], lines


def test_dry_run_builds_compiles_and_checks_the_encoder_layer_against_torch() -> None:
    done = run("--dry-run", "--models", "bert_layer")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bert_layer  float32" in done.stdout and "ran in the interpreter" in done.stdout, done.stdout
    assert "bert_layer  float16" in done.stdout and "dry run ok" in done.stdout


@pytest.mark.slow
def test_dry_run_of_resnet50() -> None:
    done = run("--dry-run", "--models", "resnet50")
    assert done.returncode == 0 and "resnet50    float32" in done.stdout, done.stdout + done.stderr
