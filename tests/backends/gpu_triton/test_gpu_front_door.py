"""The front door through gpu_triton: hf.compile, hetflow run and codegen, and bad input (one clear line each)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import check
from typer.testing import CliRunner

import hetflow as hf
from hetflow.backends.gpu_triton import (
    GpuCompileError,
    GpuExtraMissingError,
    GpuFallbackError,
    GpuMemoryError,
    GpuTritonBackend,
    runtime,
    table,
)
from hetflow.cli import app
from hetflow.partition.capability import PlacementError
from hetflow.targets import Cluster, get_preset

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from cpu_vs_ort import transformer_model  # noqa: E402

GPU_NODE = """
name = "gpu-node"
[[hosts]]
name = "node0"
devices = [{ preset = "intel/xeon-platinum-8480", id = "cpu" }, { preset = "nvidia/h200" }]
"""


def with_unsupported_op() -> hf.Graph:
    g = hf.Graph("cum")
    x = g.add_input("x", "float32", (4, 16))
    h = g.add_node("relu", [x], name="r").outputs[0]
    h = g.add_node("cumsum", [h], {"axis": 1}, name="running_total").outputs[0]
    g.outputs = [g.add_node("sigmoid", [h], name="s").outputs[0]]
    return g


def small_model(tmp_path: Path) -> Path:
    model, _ = transformer_model(seq=8, hidden=32, heads=2, ffn=64)
    path = tmp_path / "block.onnx"
    onnx.save(model, path)
    return path


def test_hf_compile_with_the_gpu_backend_runs_generated_kernels_and_says_how() -> None:
    g = with_unsupported_op()
    plan = hf.compile(g, backend="gpu_triton")
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    out = plan.run({"x": x})["s"]
    np.testing.assert_allclose(out, hf.compile(g, backend="reference").run({"x": x})["s"], rtol=1e-5, atol=1e-6)
    report = plan.report()
    assert "running_total (cumsum): op 'cumsum' has no gpu_triton kernel template" in report  # it stayed on the host
    if runtime.load_runtime().interpret:
        assert "interpreter on the host CPU" in report


def test_no_fallback_names_the_node_and_op() -> None:
    with pytest.raises(GpuFallbackError, match=r"node 'running_total' \(cumsum\) cannot run on gpu_triton"):
        GpuTritonBackend().compile(with_unsupported_op(), fallback="error")


def test_on_a_cluster_the_unsupported_node_stays_on_the_host_unless_no_fallback(tmp_path: Path) -> None:
    path = tmp_path / "gpu-node.toml"
    path.write_text(GPU_NODE)
    plan = hf.compile(with_unsupported_op(), Cluster.load(path))
    assert "has no gpu_triton kernel template" in plan.explain("running_total")
    assert next(s.device for s in plan.subgraphs if any(n.name == "running_total" for n in s.nodes)) == "node0/cpu:0"
    with pytest.raises(PlacementError, match=r"node 'running_total' \(cumsum\).*no gpu_triton kernel template"):
        hf.compile(with_unsupported_op(), Cluster.load(path), no_fallback=True)


def test_a_plan_bigger_than_device_memory_is_refused_before_any_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    desc = get_preset("nvidia/a100")
    small = desc.model_copy(update={"memory": desc.memory.model_copy(update={"capacity": 4096})})
    launched = []
    monkeypatch.setattr("hetflow.backends.gpu_triton.executable.Compiled._launch", lambda *a: launched.append(a))
    with pytest.raises(GpuMemoryError, match=r"graph 'cum' needs .* bytes of device memory .* more than the device's 4,096"):
        GpuTritonBackend().compile(_big(), small)
    assert launched == []


def _big() -> hf.Graph:
    g = hf.Graph("cum")
    x = g.add_input("x", "float32", (64, 64))
    g.outputs = [g.add_node("relu", [g.add_node("exp", [x]).outputs[0]]).outputs[0]]
    return g


def test_missing_triton_or_torch_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = runtime.importlib.import_module

    def no_triton(name: str, *args: object) -> object:
        if name.split(".")[0] in ("triton", "torch"):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args)

    runtime.load_runtime.cache_clear()
    monkeypatch.setattr(runtime.importlib, "import_module", no_triton)
    try:
        with pytest.raises(GpuExtraMissingError) as info:
            GpuTritonBackend().compile(_big())
        assert 'pip install -e ".[gpu]"' in str(info.value) and "\n" not in str(info.value)
        assert runtime.available() == str(info.value)
    finally:
        monkeypatch.undo()
        runtime.load_runtime.cache_clear()


def test_a_kernel_that_fails_names_itself_its_node_and_tritons_message(monkeypatch: pytest.MonkeyPatch) -> None:
    g = hf.Graph("broken")
    x = g.add_input("x", "float32", (4, 8))
    g.outputs = [g.add_node("relu", [x], name="my_relu").outputs[0]]
    monkeypatch.setitem(table.POINTWISE, "relu", table.Pointwise("tl.no_such_function({0})"))
    exe = GpuTritonBackend().compile(g)
    message = r"kernel k0_pointwise_my_relu \(from node\(s\) my_relu\) failed: .*no_such_function"
    with pytest.raises(GpuCompileError, match=message):
        exe.run({"x": np.ones((4, 8), np.float32)})


def test_hetflow_run_with_the_gpu_backend(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(small_model(tmp_path)), "--random", "--backend", "gpu_triton"])
    assert result.exit_code == 0, result.output
    assert "backend gpu_triton" in result.output
    if runtime.load_runtime().interpret:
        assert "interpreter on the host CPU" in result.output


def test_hetflow_codegen_for_a_gpu_target(tmp_path: Path) -> None:
    out = tmp_path / "aot"
    result = CliRunner().invoke(app, ["codegen", str(small_model(tmp_path)), "--target", "nvidia/h200", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(sm_90)" in result.output and (out / "manifest.json").exists()


def test_symbolic_batch_is_specialized_per_shape() -> None:
    g = hf.Graph("sym")
    x = g.add_input("x", "float32", ("N", 12))
    g.outputs = [g.add_node("softmax", [g.add_node("matmul", [x, g.constant(np.ones((12, 5), np.float32))]).outputs[0]],
                            {"axis": -1}).outputs[0]]
    for n in (1, 3):
        check(g, {"x": np.random.default_rng(n).standard_normal((n, 12)).astype(np.float32)})


def test_arena_reuses_memory_by_liveness() -> None:
    g = hf.Graph("chain")
    h = g.add_input("x", "float32", (256, 256))
    for _ in range(6):  # softmax between matmuls: nothing fuses, every intermediate is a buffer
        h = g.add_node("matmul", [h, g.constant(np.eye(256, dtype=np.float32))]).outputs[0]
        h = g.add_node("softmax", [h], {"axis": -1}).outputs[0]
    g.outputs = [h]
    exe = check(g)
    memory = exe._latest().memory
    assert memory.arena_bytes <= 3 * 256 * 256 * 4 < memory.naive_bytes


def test_an_emulated_gpu_subgraph_can_be_computed_by_the_generated_kernels(tmp_path: Path) -> None:
    path = tmp_path / "gpu-node.toml"
    path.write_text(GPU_NODE)
    g = _big()
    plan = hf.compile(g, Cluster.load(path), pins=["*=node0/h200:0"], emulate_with="auto")
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    np.testing.assert_allclose(plan.run({"x": x})[g.outputs[0].name], np.maximum(np.exp(x), 0), rtol=1e-5)
    report = plan.report()
    assert "computed by backend gpu_triton" in report and "model:gpu-cost" in report
    if runtime.load_runtime().interpret:
        assert "interpreter on the host CPU" in report
