"""The GPU's bad-input cases at the command line: one line, exit code 2, no traceback.

(The same cases through the Python API are in ``test_gpu_front_door.py``.)
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from hetflow.backends.gpu_triton import runtime
from hetflow.cli import app

GPU_NODE = """
name = "gpu-node"
[[hosts]]
name = "node0"
devices = [{ preset = "intel/xeon-platinum-8480", id = "cpu" }, { preset = "nvidia/h200" }]
"""


def cumsum_model(tmp_path: Path) -> Path:
    """relu -> CumSum (no gpu_triton template) -> sigmoid, as an ONNX file."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r"),
             helper.make_node("CumSum", ["r", "axis"], ["c"], name="running_total"),
             helper.make_node("Sigmoid", ["c"], ["y"], name="s")]
    axis = helper.make_tensor("axis", TensorProto.INT64, [], [1])
    graph = helper.make_graph(nodes, "cum", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])], [axis])
    path = tmp_path / "cum.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def one_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_no_fallback_on_the_command_line_names_the_node_and_op(tmp_path: Path) -> None:
    cluster = tmp_path / "gpu-node.toml"
    cluster.write_text(GPU_NODE)
    model = cumsum_model(tmp_path)
    ok = CliRunner().invoke(app, ["plan", str(model), "--cluster", str(cluster), "--explain", "running_total"])
    assert ok.exit_code == 0, ok.output  # with fallback it runs on the host, and the plan says why
    assert "op 'cumsum' has no gpu_triton kernel template" in ok.output, ok.output
    refused = CliRunner().invoke(app, ["plan", str(model), "--cluster", str(cluster), "--no-fallback"])
    assert refused.exit_code == 2
    line = one_line(refused.output)
    assert "running_total" in line and "cumsum" in line, line


def test_missing_torch_on_the_command_line_is_one_line_naming_the_extra(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = runtime.importlib.import_module

    def no_torch(name: str, *args: object) -> object:
        if name.split(".")[0] in ("triton", "torch"):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args)

    runtime.load_runtime.cache_clear()
    monkeypatch.setattr(runtime.importlib, "import_module", no_torch)
    try:
        result = CliRunner().invoke(app, ["run", str(cumsum_model(tmp_path)), "--random", "--backend", "gpu_triton"])
    finally:
        monkeypatch.undo()
        runtime.load_runtime.cache_clear()
    assert result.exit_code == 2
    assert 'pip install -e ".[gpu]"' in one_line(result.output)
