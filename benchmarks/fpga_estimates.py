"""fpga_hls estimates for the MLP, the LeNet CNN and SqueezeNet (64x64) at reuse factors 1, 4, 16, 64.

    python benchmarks/fpga_estimates.py [--target xilinx/alveo-u250] [--models mlp,lenet,squeezenet] [--repeat 5]

For each model and reuse factor: estimated latency, initiation interval, throughput and resources
(all ``model:hls-cycles``: the cycle and resource model, not synthesis and not a measurement), and
whether the design fits the board. Then, per model, the C simulation's host wall time per sample
against the NumPy reference backend's (both ``measured`` on this host; neither is FPGA time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "backends" / "fpga_hls"))

from fpga_helpers import LENET_CONFIG, SQUEEZENET_CONFIG, lenet, mlp, squeezenet64  # noqa: E402

from hetflow.backends.fpga_hls import FpgaHlsBackend, ReuseFactorWarning  # noqa: E402
from hetflow.backends.reference import ReferenceBackend  # noqa: E402

REUSE_FACTORS = (1, 4, 16, 64)


def models() -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    sq, sq_x = squeezenet64()
    return {
        "mlp": (mlp(), {"x": rng.standard_normal((1, 16)).astype(np.float32)}, {"architecture": "parallel"}),
        "lenet": (lenet(), {"x": rng.standard_normal((1, 1, 28, 28)).astype(np.float32)}, LENET_CONFIG),
        "squeezenet": (sq, {sq.inputs[0].name: sq_x}, SQUEEZENET_CONFIG),
    }


def _config(base: dict, rf: int) -> dict:
    model = dict(base.get("model", {}))
    model["reuse_factor"] = rf
    return {**base, "model": model}


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _row(name: str, rf: str, est) -> None:  # noqa: ANN001 - a DesignEstimate
    u = est.usage
    bram = next((u[k] for k in ("bram_36k", "m20k", "bram_18k") if k in u), 0)
    logic = u.get("lut", u.get("alm", 0))
    fits = "yes" if est.fits else f"no ({', '.join(est.overflows())})"
    print(f"{name:<11} {est.architecture:<8} {rf:>4} {est.latency_s * 1e6:>11.2f} {est.ii_cycles:>10,} "
          f"{est.throughput:>11,.0f} {u.get('dsp', 0):>7,.0f} {logic:>10,.0f} {u.get('ff', 0):>10,.0f} {bram:>6,.0f}  "
          f"{fits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="xilinx/alveo-u250")
    parser.add_argument("--models", default="mlp,lenet,squeezenet")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chosen = models()
    backend = FpgaHlsBackend()
    print(f"fpga_hls estimates on {args.target} (model:hls-cycles; not synthesis, not measured)")
    head = f"{'model':<11} {'arch':<8} {'RF':>4} {'latency us':>11} {'II cycles':>10} {'samples/s':>11} " \
           f"{'DSP':>7} {'LUT':>10} {'FF':>10} {'BRAM':>6}  fits"
    print(head)
    print("-" * len(head))
    for name in args.models.split(","):
        graph, feeds, base = chosen[name]
        for rf in REUSE_FACTORS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ReuseFactorWarning)  # per-layer snapping is expected in a sweep
                exe = backend.compile(graph, config=_config(base, rf), target=args.target, build=False, fit="ignore")
            est = exe.estimate
            _row(name, str(rf), est)
        if not est.fits:  # the last (largest) reuse factor still does not fit: let the compiler fold from it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ReuseFactorWarning)
                folded = backend.compile(graph, config=_config(base, REUSE_FACTORS[-1]), target=args.target,
                                         build=False, fit="fold")
            _row(name, "fold", folded.estimate)
    print()
    print("C simulation vs reference backend, host wall time per sample (measured on this host; not FPGA time)")
    print(f"{'model':<11} {'csim ms':>9} {'reference ms':>13} {'ratio':>7}  (compile s)")
    for name in args.models.split(","):
        graph, feeds, base = chosen[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReuseFactorWarning)
            start = time.perf_counter()
            exe = backend.compile(graph, config=base, target=args.target, fit="fold")
            compile_s = time.perf_counter() - start
        ref = ReferenceBackend().compile(graph)
        csim_ms = _median_ms(lambda: exe.run(feeds), args.repeat)  # noqa: B023
        ref_ms = _median_ms(lambda: ref.run(feeds), args.repeat)  # noqa: B023
        print(f"{name:<11} {csim_ms:>9.2f} {ref_ms:>13.2f} {csim_ms / ref_ms:>7.1f}  ({compile_s:.1f})")


if __name__ == "__main__":
    main()
