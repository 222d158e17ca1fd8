"""Whole models through the generated kernels (Triton's interpreter here) against the reference backend.

Sizes keep CI time down: SqueezeNet at its shipped 224x224, the encoder block of
``benchmarks/cpu_vs_ort.py`` at sequence 32, ResNet-50 at 32x32 (its final 7x7 average pool made global,
so that the network is the same one at a reduced resolution). Together about two minutes of interpreter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import onnx
from models.zoo import randomized

import hetflow as hf
from hetflow.backends.gpu_triton import GpuTritonBackend
from hetflow.backends.reference import ReferenceExecutable

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from cpu_vs_ort import transformer_model  # noqa: E402


def _compare(graph: hf.Graph, feeds: dict[str, np.ndarray], rtol: float = 1e-4, atol: float = 1e-4) -> int:
    started = time.perf_counter()
    exe = GpuTritonBackend().compile(graph)
    got = exe.run(feeds)
    want = ReferenceExecutable(graph).run(feeds)
    for name, w in want.items():
        scale = float(np.abs(w).max()) or 1.0
        np.testing.assert_allclose(got[name], w, rtol=rtol, atol=atol * scale, err_msg=name)
    assert all(p.backend == "gpu_triton" for p in exe.placement()), [p for p in exe.placement() if p.backend != "gpu_triton"]
    print(f"{graph.name}: {len(exe.kernels())} kernels for {len(graph.nodes)} nodes, "
          f"{time.perf_counter() - started:.1f} s through the interpreter")
    return len(exe.kernels())


def _load(model: onnx.ModelProto, tmp_path: Path, name: str) -> hf.Graph:
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return hf.load(path)


def resnet50_reduced(tmp_path: Path, size: int = 32) -> tuple[hf.Graph, dict[str, np.ndarray]]:
    """ResNet-50 from the zoo at ``size`` x ``size``: the input dims changed, AveragePool made global."""
    zoo = randomized("resnet50", seed=0)
    model = zoo.model
    for node in model.graph.node:
        if node.op_type == "AveragePool":
            node.op_type = "GlobalAveragePool"
            del node.attribute[:]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    del model.graph.value_info[:]
    feeds = {model.graph.input[0].name: np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)}
    return _load(model, tmp_path, "resnet50_reduced"), feeds


def test_squeezenet(tmp_path: Path) -> None:
    zoo = randomized("squeezenet", seed=0)
    n = _compare(_load(zoo.model, tmp_path, "squeezenet"), zoo.feeds)
    assert n < 60  # 26 convs with their relus fused, concats, pools


def test_transformer_block_with_fused_attention(tmp_path: Path) -> None:
    model, feeds = transformer_model(seq=32)
    graph = _load(model, tmp_path, "encoder_block")
    _compare(graph, feeds)
    exe = GpuTritonBackend().compile(graph)
    assert "attention" in [k.template for k in exe.kernels()]


def test_resnet50_reduced_resolution(tmp_path: Path) -> None:
    graph, feeds = resnet50_reduced(tmp_path)
    _compare(graph, feeds, rtol=1e-3, atol=1e-3)
