"""``hetflow codegen MODEL --target nvidia/nvdla-*``: a float model calibrated, quantized and compiled to a loadable.

The NVDLA part of the model (every node the configuration runs) becomes ``loadable.json`` + ``weights.npz`` +
``loadable.txt``; what stays on the CPU (the input's quantization, float layers such as softmax) is listed.
Calibration uses the inputs given, else seeded standard-normal samples (which says nothing about real data:
give real inputs for scales worth shipping).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hetflow.backends.nvdla import NvdlaExecutable, from_description, resolve_target, save_artifact
from hetflow.backends.nvdla.lower import lower, nvdla_part
from hetflow.ir import Graph
from hetflow.passes.calibrate import collect_statistics
from hetflow.passes.quantize import quantize
from hetflow.passes.scales import ScaleChoice

RANDOM_SAMPLES = 4


def export_loadable(graph: Graph, output: Path, *, target: str, feeds: Mapping[str, np.ndarray] | None = None,
                    seed: int = 0, method: str = "percentile") -> list[str]:
    """Write the loadable of ``graph``'s NVDLA part for ``target`` into ``output``; returns the report lines."""
    description = resolve_target(target)
    config = from_description(description)
    samples = [dict(feeds)] if feeds else _random_samples(graph, seed)
    quantized, qreport = quantize(graph, collect_statistics(graph, samples), ScaleChoice(method))  # type: ignore[arg-type]
    part = nvdla_part(quantized, config)
    loadable, blobs = lower(part, config)
    exe = NvdlaExecutable(part, loadable, blobs, config)
    paths = save_artifact(exe, Path(output))
    on_cpu = sorted({n.op for n in quantized.nodes} - {n.op for n in part.nodes})
    perf = exe.perf
    source = "the given inputs" if feeds else f"{RANDOM_SAMPLES} seeded random inputs (give real ones with --input)"
    return [f"NVDLA loadable for {description.name}: {len(loadable.ops)} engine ops from {len(part.nodes)} nodes",
            *[f"  wrote {p}" for p in paths],
            f"  calibrated on {source}",
            *qreport.format().splitlines(),
            f"  left on the CPU: {', '.join(on_cpu) or 'nothing'}",
            f"  model:nvdla-perf: {perf.cycles:,.0f} cycles = {perf.seconds * 1e3:.3f} ms per run at "
            f"{config.clock_hz / 1e9:g} GHz; {perf.count('MAC')} MAC-bound, {perf.count('DRAM')} DRAM-bound layers"]


def _random_samples(graph: Graph, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(RANDOM_SAMPLES):
        out.append({v.name: rng.standard_normal(tuple(d if isinstance(d, int) else 1 for d in v.type.shape or ()))
                    .astype(v.type.dtype.numpy) for v in graph.inputs})
    return out
