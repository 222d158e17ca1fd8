"""Control flow on the host: hetflow's loop / scan / if (bodies run by the reference interpreter) vs onnxruntime.

Each row is one model run on the same inputs by a hetflow plan and by an onnxruntime session at one
thread; medians of ``--reps`` runs, side by side, with their ratio. The recurrent rows compare the
loop over time (a dynamic sequence length) with the same layer unrolled at import (the length fixed),
both interpreted, so that the loop's own cost per step shows apart from the interpreter's per-op cost.

    python benchmarks/control_flow.py
    python benchmarks/control_flow.py --reps 21
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hetflow.partition.profile import median_seconds  # noqa: E402 - after the standard imports, as the others

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "frontends" / "onnx"))


def median_ms(fn: Callable[[], object], reps: int) -> float:
    return median_seconds(fn, reps, warmup=1) * 1e3


def rows() -> list[tuple[str, object, dict[str, np.ndarray], object | None]]:
    """(label, ONNX model, feeds, the same model with its sequence length fixed, or None)."""
    from test_control_flow import (
        _nested_if_loop_model,
        _rand,
        _recurrent_feeds,
        _recurrent_model,
        _scan_model,
    )

    out = []
    for steps in (50, 200):
        model = _recurrent_model("LSTM", "bidirectional", states=True, lens=False)
        fixed = _recurrent_model("LSTM", "bidirectional", states=True, lens=False)
        for i, d in enumerate(fixed.graph.input[0].type.tensor_type.shape.dim[:2]):
            d.dim_value = (steps, 4)[i]
        out.append((f"LSTM bidir T={steps} B=4 H=6", model, _recurrent_feeds(model, steps, 4), fixed))
    loop = _nested_if_loop_model()
    out.append(("Loop M=100 with nested If", loop,
                {"x": _rand(8, 4), "acc0": _rand(8, 4, seed=1), "M": np.array(100, np.int64)}, None))
    scan = _scan_model(1, 0, 0)
    out.append(("Scan T=100 (reverse)", scan, {"s0": _rand(3), "x": _rand(3, 100), "k": _rand(3, seed=2)}, None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    import onnxruntime as ort

    import hetflow as hf
    from hetflow.frontends.onnx import import_model

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    print(f"{'model':32} {'hetflow ms':>11} {'ort ms':>9} {'ratio':>7} {'unrolled ms':>12} {'loop/unrolled':>14}")
    for label, model, feeds, fixed in rows():
        plan = hf.compile(import_model(model), backend="reference")
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        ours = median_ms(lambda: plan.run(feeds), args.reps)  # noqa: B023 - called before the next iteration
        theirs = median_ms(lambda: session.run(None, feeds), args.reps)  # noqa: B023
        line = f"{label:32} {ours:11.2f} {theirs:9.3f} {ours / theirs:6.0f}x"
        if fixed is not None:
            unrolled = hf.compile(import_model(fixed), backend="reference")
            ms = median_ms(lambda: unrolled.run(feeds), args.reps)  # noqa: B023
            line += f" {ms:12.2f} {ours / ms:13.2f}x"
        print(line)
    print("time source: measured (wall clock, this host); hetflow bodies run by the reference interpreter")


if __name__ == "__main__":
    main()
