"""What calibrating FPGA subgraphs costs a plan: compile time with calibrated precision (the default) next to the
old uncalibrated fixed<16,6> build, and each plan's worst output error against the reference backend.

    python benchmarks/fpga_plan_calibration.py [--repeat N] [--resnet50]

Times are measured wall clock of ``hf.compile`` (medians of N, g++ results cached after the first build).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "fpga_hls"))
from fpga_helpers import conv_gemm_onnx, lenet_onnx  # noqa: E402

import hetflow as hf  # noqa: E402
import hetflow.compiler as compiler  # noqa: E402
from hetflow.cli import resolve_model  # noqa: E402

CLUSTER = """
name = "arm-fpga"
[[hosts]]
name = "box0"
devices = [{ preset = "arm/cortex-a72", id = "cpu" }, { preset = "xilinx/alveo-u250", id = "fpga" }]
"""


def measure(graph: hf.Graph, cluster: str, objective: str, calibrated: bool, repeat: int) -> tuple[float, float]:
    """(median compile seconds, worst |plan - reference| over 5 random inputs)."""
    compiler.CALIBRATED_BACKENDS = frozenset({"fpga_hls"}) if calibrated else frozenset()
    times, plan = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        plan = hf.compile(graph, cluster, objective=objective)
        times.append(time.perf_counter() - start)
    oracle = hf.compile(graph, backend="reference")
    worst = 0.0
    for seed in range(100, 105):
        feeds = {v.name: np.random.default_rng(seed).standard_normal(
            [d if isinstance(d, int) else 1 for d in v.type.shape]).astype(np.float32) for v in graph.inputs}
        got, want = plan.run(feeds), oracle.run(feeds)
        worst = max(worst, max(float(np.abs(got[k] - want[k]).max()) for k in want))
    return statistics.median(times), worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resnet50", action="store_true", help="also ResNet-50 on datacenter-node (slow)")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "arm-fpga.toml"
    path.write_text(CLUSTER)
    cases = [("conv_gemm", hf.load(conv_gemm_onnx()), str(path), "throughput"),
             ("lenet", hf.load(lenet_onnx(batch=1)), str(path), "throughput")]
    if args.resnet50:
        cases.append(("resnet50", hf.load(resolve_model("resnet50")), "datacenter-node", "throughput"))
    print(f"{'model':<10} {'old s':>8} {'calibrated s':>13} {'ratio':>6} {'old max err':>12} {'calibrated max err':>19}")
    for name, graph, cluster, objective in cases:
        old_s, old_err = measure(graph, cluster, objective, False, args.repeat)
        new_s, new_err = measure(graph, cluster, objective, True, args.repeat)
        print(f"{name:<10} {old_s:>8.2f} {new_s:>13.2f} {new_s / old_s:>6.2f} {old_err:>12.4g} {new_err:>19.4g}")


if __name__ == "__main__":
    main()
