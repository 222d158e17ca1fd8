"""Run the ONNX importer fuzzer by hand (from tests/): ``python -m fuzz.run --cases 5000 --backend reference``.

``--case N`` replays one case in this process and prints its outcome (and the traceback of a defect).
"""

from __future__ import annotations

import argparse
import time
import traceback
import warnings

import numpy as np
from fuzz.harness import Fuzzer, feeds_for, load_seeds, make_case, run_case

from hetflow.api import compile as compile_graph
from hetflow.frontends.onnx.importer import import_model

BASE_SEED = 20261206


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: no limit)")
    parser.add_argument("--backend", default="reference")
    parser.add_argument("--base-seed", type=int, default=BASE_SEED)
    parser.add_argument("--time-limit", type=float, default=20.0, help="per-case limit (s)")
    parser.add_argument("--case", type=int, help="replay one case here, with its traceback")
    args = parser.parse_args()
    seeds = load_seeds()
    if args.case is not None:
        seed, mutation, data = make_case(seeds, args.base_seed, args.case)
        warnings.simplefilter("ignore")
        np.seterr(all="ignore")
        outcome = run_case(data, args.backend, args.case)
        print(f"case {args.case}: {seed} {mutation} ({len(data)} bytes): {outcome}")
        if outcome.kind == "defect":
            _trace(data, args.backend, args.case)
        return
    started = time.perf_counter()
    deadline = started + args.seconds if args.seconds else float("inf")
    fuzzer = Fuzzer(seeds, args.base_seed, args.backend, args.time_limit)
    report = fuzzer.run(range(args.start, args.start + args.cases), lambda: time.perf_counter() < deadline)
    print(report.summary(), f"in {time.perf_counter() - started:.1f} s")
    for line in report.defects:
        print("  " + line)


def _trace(data: bytes, backend: str, index: int) -> None:
    """The case's steps again, uncaught, so that the exception's traceback shows where to fix it."""
    try:
        graph = import_model(data)
        plan = compile_graph(graph, backend=backend)
        feeds = feeds_for(graph, np.random.default_rng(index))
        if feeds is not None:
            plan.run(feeds)
    except Exception:  # noqa: BLE001 - printed for the person replaying the case
        traceback.print_exc()


if __name__ == "__main__":
    main()
