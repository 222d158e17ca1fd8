"""Bad input gets one clear line: the right exception from the API, exit code 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import hetflow as hf
from hetflow.cli import app
from hetflow.onnx_backend import HetflowBackend

runner = CliRunner()


def _small_model(path: Path | None = None) -> onnx.ModelProto:
    """y = relu(x @ w + b) with x: float32[2, 4]."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["pre"], name="bias"),
        helper.make_node("Relu", ["pre"], ["y"], name="act"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if path is not None:
        onnx.save(model, path)
    return model


def _unmapped_model(path: Path) -> None:
    """A valid model whose only op (a string op) is outside hetflow's IR."""
    node = helper.make_node("StringNormalizer", ["s"], ["t"], name="normalize", case_change_action="LOWER")
    graph = helper.make_graph(
        [node], "strings", [helper.make_tensor_value_info("s", TensorProto.STRING, [3])],
        [helper.make_tensor_value_info("t", TensorProto.STRING, [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _assert_one_line_error(result, *words: str) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in result.output
    for word in words:
        assert word in err, f"{word!r} missing from {err!r}"
    return err


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.onnx"
    _small_model(path)
    return path


# ---------------------------------------------------------------- a file that is not ONNX
def test_not_onnx_api(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are my notes, not a model\n" * 10)
    with pytest.raises(hf.ModelError, match="not an ONNX model") as info:
        hf.load(path)
    assert str(path) in str(info.value)


def test_not_onnx_cli(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are my notes, not a model\n" * 10)
    _assert_one_line_error(runner.invoke(app, ["run", str(path), "--random"]), str(path), "not an ONNX model")


# ---------------------------------------------------------------- a truncated model
def _truncated(tmp_path: Path, small: Path) -> Path:
    data = small.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def test_truncated_api(tmp_path: Path, small: Path) -> None:
    with pytest.raises(hf.ModelError, match="truncated|not an ONNX model"):
        hf.load(_truncated(tmp_path, small))


def test_truncated_cli(tmp_path: Path, small: Path) -> None:
    path = _truncated(tmp_path, small)
    _assert_one_line_error(runner.invoke(app, ["run", str(path), "--random"]), str(path))


def test_missing_file_cli(tmp_path: Path) -> None:
    _assert_one_line_error(runner.invoke(app, ["run", str(tmp_path / "absent.onnx")]), "absent.onnx", "no such file")


# ---------------------------------------------------------------- an op hetflow does not map
def test_unmapped_op_api(tmp_path: Path) -> None:
    path = tmp_path / "strings.onnx"
    _unmapped_model(path)
    with pytest.raises(hf.UnsupportedOpError) as info:
        hf.load(path)
    message = str(info.value)
    for word in ("StringNormalizer", "opset 17", "normalize", "hetflow ops"):
        assert word in message, message


def test_unmapped_op_onnx_backend(tmp_path: Path) -> None:
    path = tmp_path / "strings.onnx"
    _unmapped_model(path)
    with pytest.raises(hf.UnsupportedOpError, match="StringNormalizer"):
        HetflowBackend.prepare(onnx.load(path))


def test_unmapped_op_cli(tmp_path: Path) -> None:
    path = tmp_path / "strings.onnx"
    _unmapped_model(path)
    result = runner.invoke(app, ["run", str(path), "--random"])
    _assert_one_line_error(result, "StringNormalizer", "opset 17", "'normalize'", "hetflow ops")


def test_unmapped_op_of_a_custom_domain_does_not_claim_the_main_opset(tmp_path: Path) -> None:
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="frob", domain="com.example")
    graph = helper.make_graph([node], "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    with pytest.raises(hf.UnsupportedOpError) as info:
        hf.load(model)
    assert "domain 'com.example', opset 1)" in str(info.value) and "opset 17" not in str(info.value)


# ---------------------------------------------------------------- inputs of the wrong shape or dtype
def test_wrong_shape_api(small: Path) -> None:
    plan = hf.compile(hf.load(small))
    with pytest.raises(hf.InputError, match=r"input 'x'.*shape"):
        plan.run({"x": np.zeros((3, 4), np.float32)})


def test_wrong_dtype_api(small: Path) -> None:
    plan = hf.compile(hf.load(small))
    with pytest.raises(hf.InputError, match=r"input 'x'.*float32.*float64"):
        plan.run({"x": np.zeros((2, 4), np.float64)})


def test_wrong_shape_onnx_backend(small: Path) -> None:
    rep = HetflowBackend.prepare(onnx.load(small))
    with pytest.raises(hf.InputError, match="input 'x'"):
        rep.run([np.zeros((2, 5), np.float32)])


def test_wrong_shape_cli(tmp_path: Path, small: Path) -> None:
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((3, 4), np.float32))
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", f"x={npy}"]), "input 'x'", "shape")


def test_wrong_dtype_cli(tmp_path: Path, small: Path) -> None:
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((2, 4), np.int32))
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", f"x={npy}"]), "input 'x'", "int32")


# ---------------------------------------------------------------- input files and names
def test_bad_npy_cli(tmp_path: Path, small: Path) -> None:
    npy = tmp_path / "x.npy"
    npy.write_text("not numpy")
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", f"x={npy}"]), "x.npy")


def test_missing_npy_cli(tmp_path: Path, small: Path) -> None:
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", f"x={tmp_path / 'gone.npy'}"]), "gone.npy")


def test_unknown_input_name_cli(tmp_path: Path, small: Path) -> None:
    npy = tmp_path / "z.npy"
    np.save(npy, np.zeros((2, 4), np.float32))
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", f"z={npy}"]), "z", "['x']")


def test_missing_input_cli(small: Path) -> None:
    _assert_one_line_error(runner.invoke(app, ["run", str(small)]), "input 'x'", "--random")


def test_malformed_input_spec_cli(small: Path) -> None:
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--input", "x"]), "NAME=FILE.npy")


def test_unknown_backend_cli(small: Path) -> None:
    _assert_one_line_error(runner.invoke(app, ["run", str(small), "--random", "--backend", "abacus"]), "abacus")


# ---------------------------------------------------------------- --debug shows the traceback as well
def test_debug_shows_the_traceback_with_the_same_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "strings.onnx"
    _unmapped_model(path)
    result = runner.invoke(app, ["run", str(path), "--random", "--debug"])
    assert result.exit_code == 2  # as without --debug: scripts see the same status
    assert "Traceback" in result.stderr and "UnsupportedOpError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")
