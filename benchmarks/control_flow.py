"""Control flow on the host: hetflow's loop / scan / if on cpu_c (and on the reference interpreter) vs onnxruntime.

Each row is one model run on the same inputs by hetflow plans (cpu_c, whose host code runs the iteration
with each body compiled by cpu_c; and the reference backend, whose interpreter runs the bodies) and by an
onnxruntime session, all at one thread, timed in turns (``timing.interleaved_medians``); medians of
``--reps`` rounds side by side, with the ratio hetflow cpu_c / onnxruntime. The last row is a loop whose
body does nothing (a carried scalar passed through): its time per iteration is the cost of one trip through
the host loop and one call of the compiled body.

    python benchmarks/control_flow.py
    python benchmarks/control_flow.py --reps 21
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "frontends" / "onnx"))
sys.path.insert(0, str(ROOT / "tests"))

from timing import interleaved_medians  # noqa: E402

EMPTY_TRIPS = 1000
"""Iterations of the empty loop (its time is divided by this)."""


def empty_loop_model() -> onnx.ModelProto:
    """for i < M: v = v (a one-element carried value, passed straight through)."""
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["co"]), helper.make_node("Identity", ["v"], ["vo"])],
                             "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                                      helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                                      helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
                             [helper.make_tensor_value_info("co", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("vo", TensorProto.FLOAT, [1])])
    graph = helper.make_graph([helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)], "empty_loop",
                              [helper.make_tensor_value_info("M", TensorProto.INT64, []),
                               helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def rows() -> list[tuple[str, onnx.ModelProto, dict[str, np.ndarray], int]]:
    """(label, ONNX model, feeds, what the time is divided by)."""
    from test_control_flow import (
        _nested_if_loop_model,
        _rand,
        _recurrent_feeds,
        _recurrent_model,
        _scan_model,
    )

    out = []
    for op in ("LSTM", "GRU"):
        model = _recurrent_model(op, "bidirectional", states=True, lens=False)
        for steps in (50, 200):
            out.append((f"{op} bidir T={steps} B=4 H=6", model, _recurrent_feeds(model, steps, 4), 1))
    out.append(("Loop M=100 with nested If", _nested_if_loop_model(),
                {"x": _rand(8, 4), "acc0": _rand(8, 4, seed=1), "M": np.array(100, np.int64)}, 1))
    out.append(("Scan T=100 (reverse)", _scan_model(1, 0, 0),
                {"s0": _rand(3), "x": _rand(3, 100), "k": _rand(3, seed=2)}, 1))
    out.append((f"empty loop, per iteration (M={EMPTY_TRIPS})", empty_loop_model(),
                {"M": np.array(EMPTY_TRIPS, np.int64), "v0": np.ones(1, np.float32)}, EMPTY_TRIPS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    import onnxruntime as ort

    import hetflow as hf
    from hetflow.config import get_config, set_config
    from hetflow.frontends.onnx import import_model

    set_config(dataclasses.replace(get_config(), num_threads=1))  # generated code on one thread, as onnxruntime
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    print(f"{'model':40} {'cpu_c ms':>10} {'ort ms':>9} {'cpu_c/ort':>10} {'reference ms':>13} {'ref/ort':>8}")
    for label, model, feeds, per in rows():
        cpu_c = hf.compile(import_model(model), backend="cpu_c")
        reference = hf.compile(import_model(model), backend="reference")
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        times = interleaved_medians([lambda: cpu_c.run(feeds), lambda: session.run(None, feeds),  # noqa: B023
                                     lambda: reference.run(feeds)], args.reps)  # noqa: B023
        ours, theirs, ref = (t * 1e3 / per for t in times)
        unit = "ms" if per == 1 else "ms/it"
        print(f"{label:40} {ours:10.4f} {theirs:9.4f} {ours / theirs:9.1f}x {ref:13.4f} {ref / theirs:7.1f}x  {unit}")
    print("time source: measured (wall clock, this host, 1 thread each); medians of interleaved rounds")


if __name__ == "__main__":
    main()
