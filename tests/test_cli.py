"""The ``hetflow`` command: its verbs on a small model and on a bundled one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_errors import _small_model
from typer.testing import CliRunner

from hetflow import zoo
from hetflow.cli import BUNDLED_MODELS, app, emitted_ir_ops, top_k
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
    for name in BUNDLED_MODELS:
        assert zoo.model_path(name).is_file(), name


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


# ---------------------------------------------------------------- issue 10: what a new user hits
def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Value error" not in result.output, result.output
    return result.output


def test_bad_numbers_are_refused_without_a_traceback(small: Path) -> None:
    assert "--seed" in _one_error_line(runner.invoke(app, ["run", str(small), "--random", "--seed", "-1"]))
    for repeats in ("0", "-3"):
        assert "--repeats" in _one_error_line(runner.invoke(app, ["profile", "--repeats", repeats]))
    assert "--repeat" in _one_error_line(runner.invoke(app, ["run", str(small), "--random", "--repeat", "0"]))


def test_debug_shows_the_traceback_and_keeps_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    plain = runner.invoke(app, ["inspect", str(bad)])
    debug = runner.invoke(app, ["inspect", str(bad), "--debug"])
    assert plain.exit_code == debug.exit_code == 2
    assert "Traceback" in debug.output and "error:" in debug.output and "Traceback" not in plain.output


def test_a_closed_pipe_is_not_an_error() -> None:
    proc = subprocess.run(f"{sys.executable} -m hetflow ops | head -1", shell=True, capture_output=True, text=True)
    assert proc.stdout.strip() and "Broken pipe" not in proc.stderr and "error" not in proc.stderr, proc.stderr


def test_choices_are_checked_without_a_cluster_and_name_the_flag(small: Path) -> None:
    out = _one_error_line(runner.invoke(app, ["run", str(small), "--random", "--objective", "bogus"]))
    assert "--objective bogus: unknown objective; expected one of latency, throughput, mincut" in out
    out = _one_error_line(runner.invoke(app, ["inspect", str(small), "-g", "bogus"]))
    assert out.strip() == "error: --granularity bogus: unknown grain; expected one of op, layer, block, network"


def test_an_output_in_a_missing_directory_fails_before_the_run(small: Path, monkeypatch) -> None:
    import hetflow.cli as cli

    monkeypatch.setattr(cli.hf, "compile", lambda *a, **k: pytest.fail("compiled before checking --output"))
    out = _one_error_line(runner.invoke(app, ["run", str(small), "--random", "-o", "/missing/dir/out.npz"]))
    assert "/missing/dir" in out


def test_explain_takes_layer_names_and_checks_names_before_placing() -> None:
    import hetflow as hf
    from hetflow.cli import resolve_model
    from hetflow.passes import regions

    graph = hf.load(resolve_model("squeezenet"))
    layers = [r.name for r in regions.summarize(graph, "layer") if r.name not in {n.name for n in graph.nodes}]
    result = runner.invoke(app, ["plan", "squeezenet", "--explain", layers[0]])
    assert result.exit_code == 0, result.output
    assert f"{layers[0]}:" in result.output and "node '" in result.output
    result = runner.invoke(app, ["plan", "squeezenet", "--explain", "no_such_layer"])
    out = _one_error_line(result)
    assert "subgraph" not in out and "its layers are" in out and layers[0] in out  # no plan printed first


def test_compiler_errors_are_short() -> None:
    from hetflow.backends.native import CompileError
    from hetflow.cli import _one_line

    exc = CompileError("g++ failed to compile d.cpp:\n" + "\n".join(f"d.cpp:{k}: error: bad {k}" for k in range(200))
                       + "\ncommand: g++ ...")
    line = _one_line(exc)
    assert len(line) < 500 and "d.cpp:0: error: bad 0" in line and "--debug" in line


def test_lists_version_and_json(small: Path) -> None:
    assert runner.invoke(app, ["-V"]).output.startswith("hetflow ")
    clusters = json.loads(runner.invoke(app, ["clusters", "--json"]).output)
    assert any(c["name"] == "datacenter-node" for c in clusters)
    models = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert {m["name"] for m in models} == set(BUNDLED_MODELS)
    assert any(t["name"] == "nvidia/h200" for t in json.loads(runner.invoke(app, ["targets", "--json"]).output))
    assert json.loads(runner.invoke(app, ["targets", "nvidia/h200", "--json"]).output)["kind"] == "gpu"
    inspected = json.loads(runner.invoke(app, ["inspect", str(small), "-g", "op", "--json"]).output)
    assert inspected["inputs"] == {"x": "float32[2,4]"} and len(inspected["units"]) == 3
    ran = json.loads(runner.invoke(app, ["run", str(small), "--random", "--json", "--repeat", "2"]).output)
    assert ran["outputs"]["y"]["shape"] == [2, 3] and ran["time"]["runs"] == 2 and ran["time"]["source"] == "measured"
    planned = json.loads(runner.invoke(app, ["plan", str(small), "--json", "--explain", "act"]).output)
    assert planned["subgraphs"] and planned["explain"]["act"]


def test_help_shows_metavars_not_python_types() -> None:
    for verb in ("run", "plan", "inspect", "codegen", "profile", "targets"):
        text = runner.invoke(app, [verb, "--help"], env={"COLUMNS": "200"}).output
        assert not re.search(r"<(bool|str|int|list\[str\]|path)>", text), (verb, text)
        assert "{model}" not in text
    assert "NAME=FILE.npy" in runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "HETFLOW_CACHE_DIR" in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output


def test_run_repeats_and_reports_median_and_spread(small: Path) -> None:
    result = runner.invoke(app, ["run", str(small), "--random", "--repeat", "5", "--warmup", "2"])
    assert result.exit_code == 0, result.output
    assert re.search(r"time: median [\d.]+ ms, min [\d.]+, max [\d.]+, stdev [\d.]+ \(measured: wall clock of 5 runs "
                     r"after 2 warm-up", result.stdout)


def test_saved_plans_store_each_weight_once(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "squeezenet", "--save", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    weights = (tmp_path / "p" / "graph.npz").stat().st_size
    total = sum(f.stat().st_size for f in (tmp_path / "p").rglob("*.npz"))
    assert total < 1.1 * weights, (total, weights)
    from hetflow.partition.plan import Plan

    loaded = Plan.load(tmp_path / "p")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    assert loaded.run({loaded.graph.inputs[0].name: x})[loaded.graph.outputs[0].name].shape == (1, 1000, 1, 1)


def test_dump_after_an_unknown_pass_is_refused(small: Path, monkeypatch) -> None:
    from hetflow.config import Config, get_config, set_config

    monkeypatch.setenv("HETFLOW_DUMP", "after:nosuchpass")
    before = get_config()
    set_config(Config())
    try:
        out = _one_error_line(runner.invoke(app, ["run", str(small), "--random"]))
    finally:
        set_config(before)
    assert "HETFLOW_DUMP=after:nosuchpass: no pass of that name" in out


def test_an_fpga_last_subgraph_keeps_the_models_output_shape(tmp_path: Path) -> None:
    out = tmp_path / "a.npz"
    result = runner.invoke(app, ["run", "squeezenet", "--cluster", "datacenter-node", "--objective", "throughput",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "alveo" in result.output  # the last subgraph ran on the (emulated) FPGA
    with np.load(out) as saved:
        assert saved["softmaxout_1"].shape == (1, 1000, 1, 1)


def test_warm_up_runs_are_not_timed() -> None:
    """The first run (compilation caches, the specialization of dynamic dims) happens in the warm-up."""
    from hetflow.cli import timed_runs

    calls = []

    def run() -> dict[str, np.ndarray]:
        calls.append(1)
        if len(calls) == 1:
            import time

            time.sleep(0.3)
        return {"y": np.zeros(1)}

    _, timing = timed_runs(run, repeat=3, warmup=1)
    assert len(calls) == 4 and len(timing.times) == 3 and max(timing.times) < 0.2
