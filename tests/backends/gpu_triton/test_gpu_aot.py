"""Ahead-of-time builds: every kernel of a model compiled for sm_90 and sm_80 without a GPU.

CI compiles the encoder block's kernels (matmul with epilogues, fused attention, row norms, pointwise) and a
small CNN's (implicit-GEMM conv with batch norm, depthwise conv, pooling, reduction) for both targets; the
full sweep over ResNet-50 and DenseNet-121 (hundreds of kernels, minutes of ptxas on a shared machine) is
marked slow. Kernels are deduplicated by (code, configuration, pointer types) before compiling.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest
from models.zoo import randomized

import hetflow as hf
from hetflow.backends.gpu_triton import GpuCompileError, table
from hetflow.backends.gpu_triton.aot import export_aot

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from cpu_vs_ort import transformer_model  # noqa: E402

TARGETS = [("nvidia/h200", 90), ("nvidia/a100", 80)]


def _graph(name: str, tmp_path: Path) -> hf.Graph:
    if name == "transformer":
        model, _ = transformer_model()
    else:
        model = randomized(name, seed=0).model
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return hf.load(path)


def _build(name: str, target: str, sm: int, tmp_path: Path) -> None:
    report = export_aot(_graph(name, tmp_path), tmp_path / f"{name}_{sm}", target)
    manifest = json.loads((report.directory / "manifest.json").read_text())
    assert manifest["sm"] == sm and len(manifest["kernels"]) == len(report.kernels) > 0
    for row in manifest["kernels"]:
        for f in row["files"]:
            assert (report.directory / f).stat().st_size > 0
        assert row["registers"] is not None and row["spill_bytes"] is not None
    ptx = next(report.directory.glob("*.ptx")).read_text()
    assert f".target sm_{sm}" in ptx
    print(f"{name} for {target} (sm_{sm}): {len(report.kernels)} kernels, {report.unique} distinct, "
          f"{report.seconds:.1f} s")


@pytest.mark.parametrize("target,sm", TARGETS)
def test_transformer_block_kernels_compile_for_hopper_and_ampere(target: str, sm: int, tmp_path: Path) -> None:
    _build("transformer", target, sm, tmp_path)


def small_cnn() -> hf.Graph:
    import numpy as np

    rng = np.random.default_rng(0)
    g = hf.Graph("small_cnn")
    x = g.add_input("x", "float16", (2, 8, 16, 16))

    def c(*shape: int) -> object:
        return g.constant(rng.standard_normal(shape).astype(np.float16))

    h = g.add_node("conv", [x, c(16, 8, 3, 3), c(16)], {"strides": (1, 1), "pads": (1, 1, 1, 1), "group": 1,
                                                         "dilations": (1, 1)}).outputs[0]
    h = g.add_node("batch_norm", [h, c(16), c(16), c(16), g.constant(np.ones(16, np.float16))]).outputs[0]
    h = g.add_node("relu", [h]).outputs[0]
    h = g.add_node("conv", [h, c(16, 1, 3, 3)], {"strides": (2, 2), "pads": (1, 1, 1, 1), "group": 16,
                                                   "dilations": (1, 1)}).outputs[0]
    h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}).outputs[0]
    g.outputs = [g.add_node("reduce_mean", [h], {"axes": (2, 3), "keepdims": False}).outputs[0]]
    return g


@pytest.mark.parametrize("target,sm", TARGETS)
def test_cnn_template_kernels_compile_for_hopper_and_ampere(target: str, sm: int, tmp_path: Path) -> None:
    report = export_aot(small_cnn(), tmp_path / "cnn", target)
    assert sorted({k.template for k in report.kernels}) == ["conv", "reduce", "window"]
    assert all(k.registers for k in report.kernels)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet50", "densenet121"])
@pytest.mark.parametrize("target,sm", TARGETS)
def test_every_kernel_of_resnet50_and_densenet121_compiles(model: str, target: str, sm: int, tmp_path: Path) -> None:
    _build(model, target, sm, tmp_path)


def test_a_kernel_that_fails_to_compile_is_named_with_its_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = hf.Graph("broken")
    x = g.add_input("x", "float32", (4, 8))
    g.outputs = [g.add_node("relu", [x], name="my_relu").outputs[0]]
    monkeypatch.setitem(table.POINTWISE, "relu", table.Pointwise("tl.no_such_function({0})"))
    with pytest.raises(GpuCompileError, match=r"kernel k0_pointwise_my_relu \(from node\(s\) my_relu\).*sm_90.*no_such_function"):
        export_aot(g, tmp_path / "out", "nvidia/h200")


def test_a_cpu_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(hf.HetflowError, match="no compute capability"):
        export_aot(_graph("transformer", tmp_path), tmp_path / "x", "intel/xeon-platinum-8480")
