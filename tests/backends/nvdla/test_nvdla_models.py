"""Zoo models quantized to int8 and run on emulated NVDLA through hf.compile and the runtime, against the float
reference (benchmarks/nvdla_accuracy.py). SqueezeNet on nv_small with a few inputs is the default-suite check; the
50-input ResNet-50 run on nv_full is marked slow (``pytest -m slow tests/backends/nvdla``)."""

from __future__ import annotations

import json

import pytest
from benchmarks_path import accuracy_main


def _run(tmp_path, *args: str) -> dict:
    out = tmp_path / "r.json"
    assert accuracy_main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_squeezenet_on_nv_small(tmp_path):
    r = _run(tmp_path, "--model", "squeezenet", "--cluster", "edge-soc", "--inputs", "1", "--calibration", "1")
    assert r["top1_agreement"] == 1.0 and r["max_rel_logit_error"] < 0.05
    done, total = map(int, r["nodes_on_nvdla"].split("/"))
    assert done >= total - 3  # all but the input's quantization, the output's dequantization and the global pool


@pytest.mark.slow
def test_resnet50_on_nv_full_over_50_inputs(request, tmp_path):
    if "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("50 ResNet-50 inputs through the engine models: run with -m slow")
    r = _run(tmp_path, "--model", "resnet50", "--cluster", "datacenter-node", "--inputs", "50")
    assert r["top1_agreement"] >= 0.9 and r["median_rel_logit_error"] < 0.1
