"""The ONNX light model zoo (random weights) on cpu_c against the reference backend.

AlexNet, VGG-19 and ZFNet-512 carry 240-550 MB of fully-connected weights: marked slow, run with
``pytest -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
from models.zoo import MODELS, randomized

import hetflow as hf
from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.reference import ReferenceBackend

BIG = {"alexnet", "vgg19", "zfnet512"}
PARAMS = [pytest.param(name, marks=[pytest.mark.slow] if name in BIG else [], id=name) for name in MODELS]


@pytest.mark.parametrize("name", PARAMS)
def test_zoo_model_matches_the_reference(name: str, request: pytest.FixtureRequest) -> None:
    if name in BIG and "slow" not in (request.config.option.markexpr or ""):
        pytest.skip("large-weight model: run with -m slow")
    zoo = randomized(name, seed=0)
    graph = hf.load(zoo.model)
    exe = CpuCBackend().compile(graph, threads=2)
    got = exe.run(zoo.feeds)[zoo.logits]
    want = ReferenceBackend().compile(graph).run(zoo.feeds)[zoo.logits]
    assert got.shape == want.shape and got.dtype == want.dtype
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    assert all(p.backend == "cpu_c" for p in exe.placement()), exe.report()


def _benchmark_models():  # noqa: ANN202 - a module loaded from a file path
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "cpu_vs_ort.py"
    spec = importlib.util.spec_from_file_location("cpu_vs_ort", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["mlp", "transformer"])
def test_benchmark_models_match_the_reference(name: str) -> None:
    bench = _benchmark_models()
    model, feeds = bench.mlp_model() if name == "mlp" else bench.transformer_model()
    graph = hf.load(model)
    exe = CpuCBackend().compile(graph, fallback="error")
    got = exe.run(feeds)
    want = ReferenceBackend().compile(graph).run(feeds)
    for key, w in want.items():
        np.testing.assert_allclose(got[key], w, rtol=1e-4, atol=1e-5 * float(np.abs(w).max()), err_msg=key)
