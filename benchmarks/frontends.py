"""The PyTorch frontend against PyTorch itself, side by side: import time, first-run latency, steady latency.

For each model of the PyTorch set (tests/frontends/pytorch/test_torch_models.py; small configs, ResNet-50 at
64x64): the first run from a fresh model object (hetflow: torch.export + import + cpu_c compile + first run;
eager: first call; inductor: torch.compile + first call), then the median of ``--reps`` interleaved steady
runs of hetflow cpu_c, torch.compile (inductor) and eager, all on 1 thread, and the ratios. Import time is
``import hetflow`` and ``import torch`` in fresh processes (median of 5). All times are ``measured`` (wall clock).

    OMP_NUM_THREADS=1 python benchmarks/frontends.py --models bert,lstm_gru --reps 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "frontends" / "torch"))


def import_time(module: str, reps: int = 5) -> float:
    """Median seconds to ``import module`` in a fresh interpreter (interpreter start subtracted)."""
    def run(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - started
    base = statistics.median(run("pass") for _ in range(reps))
    return statistics.median(run(f"import {module}") for _ in range(reps)) - base


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def bench_model(name: str, reps: int) -> dict[str, float]:
    import numpy as np
    import torch
    from test_torch_models import MODELS, _first, _seeded

    import hetflow as hf

    make, inputs = MODELS[name]
    model = _seeded(make)
    args = inputs(1)
    feeds_of = lambda g: {v.name: a.numpy() for v, a in zip(g.inputs, args)}  # noqa: E731
    with torch.no_grad():
        eager_first, expected = _timed(lambda: _first(model(*args)))
        graph_s, graph = _timed(lambda: hf.from_torch(model, args))
        compile_s, plan = _timed(lambda: hf.compile(graph, backend="cpu_c"))
        run_s, out = _timed(lambda: plan.run(feeds_of(graph)))
        torch._dynamo.reset()
        compiled = torch.compile(model)
        inductor_first, _ = _timed(lambda: compiled(*args))
        error = float(np.abs(out[graph.outputs[0].name] - expected.numpy()).max())
        feeds = feeds_of(graph)
        steady: dict[str, list[float]] = {"hetflow": [], "inductor": [], "eager": []}
        for _ in range(reps):  # interleaved, so that load from other processes hits all three alike
            steady["hetflow"].append(_timed(lambda: plan.run(feeds))[0])
            steady["inductor"].append(_timed(lambda: compiled(*args))[0])
            steady["eager"].append(_timed(lambda: model(*args))[0])
    medians = {k: statistics.median(v) for k, v in steady.items()}
    return {"export_import_s": graph_s, "cpu_c_compile_s": compile_s, "hetflow_first_s": graph_s + compile_s + run_s,
            "eager_first_s": eager_first, "inductor_first_s": inductor_first, "max_abs_err": error,
            **{f"{k}_ms": v * 1e3 for k, v in medians.items()}}


def main() -> None:
    from test_torch_models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(sorted(MODELS)))
    parser.add_argument("--reps", type=int, default=15)
    opts = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"import (measured, median of 5): hetflow {import_time('hetflow'):.2f}s, torch {import_time('torch'):.2f}s")
    header = (f"{'model':22} {'first: hetflow':>15} {'eager':>8} {'inductor':>9}   {'steady ms: hetflow':>19} "
              f"{'inductor':>9} {'eager':>8}   {'hetflow/inductor':>16} {'hetflow/eager':>13}  max|err|")
    print(header)
    for name in opts.models.split(","):
        r = bench_model(name, opts.reps)
        print(f"{name:22} {r['hetflow_first_s']:14.2f}s {r['eager_first_s']:7.3f}s {r['inductor_first_s']:8.2f}s   "
              f"{r['hetflow_ms']:19.2f} {r['inductor_ms']:9.2f} {r['eager_ms']:8.2f}   "
              f"{r['hetflow_ms'] / r['inductor_ms']:16.2f} {r['hetflow_ms'] / r['eager_ms']:13.2f}  {r['max_abs_err']:.1e}")
        print(f"{'':22} (hetflow first = export+import {r['export_import_s']:.2f}s + cpu_c compile "
              f"{r['cpu_c_compile_s']:.2f}s + first run)")


if __name__ == "__main__":
    main()
