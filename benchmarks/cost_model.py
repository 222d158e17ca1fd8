"""The cost model against the clock: estimated and measured latency of cpu_c plans on this host, side by side.

For every model: ``hf.compile(graph, "host-only")`` places it on this host's CPU (cpu_c, with the
reference interpreter for what cpu_c refuses); the plan's end-to-end estimate (cpu_c's and the
interpreter's own models, calibrated on this host on a fixed synthetic suite, plus the launch
overheads of the host's description and ``plan.run``'s own cost per run, measured on a one-node plan)
is printed beside the median wall-clock latency of ``plan.run`` and their ratio. Bars (issue 8): 0.7-1.4x
for cpu_c on the zoo models; 1.5x for the symbolic-batch LeNet, which cpu_c refuses (symbolic shapes) and the interpreter runs.

    python benchmarks/cost_model.py                       # the zoo, the MLP and the LeNet
    python benchmarks/cost_model.py --models squeezenet,lenet --reps 21
    python benchmarks/cost_model.py --threads 1           # cpu_c on one core (a host shared with other work)

The header prints the host's load average: on a host whose cores other processes also use, OpenMP
threads wait at every barrier for a time slice, and both the calibration and the runs say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

ZOO = ["resnet50", "squeezenet", "densenet121", "inception_v1", "shufflenet"]
MODELS = [*ZOO, "mlp", "lenet"]
BARS = {"lenet": (1 / 1.5, 1.5)}
DEFAULT_BAR = (0.7, 1.4)
REPS = {"resnet50": 11, "densenet121": 11, "inception_v1": 11}


def load(name: str):  # noqa: ANN201 - (Graph, feeds); hetflow is imported lazily
    import hetflow as hf

    if name == "lenet":
        from backends.fpga_hls.fpga_helpers import lenet_onnx

        x = np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)
        return hf.load(lenet_onnx(0, batch="N")), {"x": x}
    from cpu_vs_ort import load as load_onnx

    model, feeds = load_onnx(name)
    return hf.load(model), feeds


def measure(plan, feeds: dict[str, np.ndarray], reps: int) -> float:  # noqa: ANN001
    """Median wall-clock seconds of ``plan.run`` after two warm-up runs."""
    from hetflow.partition.profile import median_seconds

    return median_seconds(lambda: plan.run(feeds), reps, warmup=2)


def host_cluster(threads: int | None):  # noqa: ANN201 - a Cluster
    """This host's CPU alone, with ``threads`` OpenMP threads for cpu_c when given (else the description's)."""
    from hetflow.targets import Cluster, detect_host

    host = detect_host()
    if threads is not None:
        host = host.model_copy(update={"compute": host.compute.model_copy(update={"threads": threads})})
    return Cluster.of(host, name="host-only")


def recalibrate() -> None:
    """Forget the backends' host calibrations and the runtime's measured cost per run, so that the next estimate
    measures them again."""
    from hetflow.backends.cpu_c.cost import host_calibration as cpu_c
    from hetflow.backends.reference.cost import host_calibration as reference
    from hetflow.compiler import forget_run_overhead

    cpu_c.cache_clear()
    reference.cache_clear()
    forget_run_overhead()


def main() -> int:
    import os

    import hetflow as hf
    from hetflow.compiler import run_overhead
    from hetflow.targets import detect_host

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--reps", type=int, default=0, help="runs per model (default: by model size)")
    parser.add_argument("--threads", type=int, default=None, help="cpu_c threads (default: the host's)")
    args = parser.parse_args()
    cluster = host_cluster(args.threads)
    host = cluster.devices[0].description
    print(f"host: {host.model}, {host.compute.units} cores, cpu_c threads {host.compute.threads}; "
          f"load average {os.getloadavg()[0]:.1f}; launch {detect_host().launch.kernel * 1e6:.2f} us per kernel, "
          f"{host.launch.subgraph * 1e6:.1f} us per subgraph (measured)")
    print(f"{'model':<14}{'backends':<20}{'estimated':>12}{'(per run)':>11}{'measured':>12}{'est/meas':>10}   bar"
          f"        source")
    within = 0
    names = args.models.split(",")
    for name in names:
        graph, feeds = load(name)
        recalibrate()  # under the load of now, which the runs below meet too
        plan = hf.compile(graph, cluster)
        measured = measure(plan, feeds, args.reps or REPS.get(name, 21))
        estimated = plan.estimate.latency
        ratio = estimated / measured
        low, high = BARS.get(name, DEFAULT_BAR)
        ok = low <= ratio <= high
        within += ok
        backends = "+".join(sorted({s.backend for s in plan.subgraphs}))
        print(f"{name:<14}{backends:<20}{estimated * 1e3:>10.3f}ms{run_overhead(plan) * 1e3:>9.3f}ms"
              f"{measured * 1e3:>10.3f}ms{ratio:>10.2f}   "
              f"{low:.2f}-{high:.2f} {'ok ' if ok else 'OUT'} {plan.estimate.source}", flush=True)
    print(f"{within}/{len(names)} within their bars; measured = median wall clock of plan.run (measured), "
          f"estimated = the plan's end-to-end estimate, of which (per run) is plan.run's own cost (measured)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
