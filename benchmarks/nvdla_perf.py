"""The NVDLA performance model (``model:nvdla-perf``) on int8 ResNet-50, beside NVIDIA's published figures.

    python benchmarks/nvdla_perf.py --macs 2048 --cbuf-kib 512 --dram-gbps 20          # one configuration
    python benchmarks/nvdla_perf.py --macs 2048 --cbuf-kib 512 --dram-gbps 20 --json   # {"fps": ..., ...}
    python benchmarks/nvdla_perf.py                                                     # NVIDIA's table

ResNet-50 is the ONNX model zoo's (tests/models/zoo.py, seeded random weights: the model's time does not depend
on the weights), calibrated on one random input, quantized to int8 (hetflow.passes.quantize) and compiled by the
nvdla backend for each configuration; the model then reads the compiled program. The published figures are the
"Int8 ResNet-50 (frames/sec)" column of NVIDIA's primer (nvdla/doc doc/primer.rst, "Example area and
performance"), at 1 GHz, no on-chip SRAM. The performance rules are those of nvdla/hw
perf/NVDLA_OpenSource_Performance.xlsx; nothing was fitted to the published column. Bandwidth follows the
spreadsheet's unit convention (KiB of traffic over "GB/s" times MHz, i.e. a GB/s of 1.024e9 bytes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hetflow.backends.nvdla.hw import NvdlaConfig, sweep_config  # noqa: E402
from hetflow.backends.nvdla.lower import lower, nvdla_part  # noqa: E402
from hetflow.backends.nvdla.perf import PerfReport, program_perf  # noqa: E402
from hetflow.ir import Graph  # noqa: E402

PUBLISHED = [  # (MACs, conv buffer KiB, SDRAM GB/s, int8 ResNet-50 frames/s) -- nvdla/doc doc/primer.rst
    (2048, 512, 20, 269), (1024, 256, 15, 153), (512, 256, 10, 93), (256, 256, 5, 46),
    (128, 256, 2, 20), (64, 128, 1, 7.3), (32, 128, 0.5, 3.6),
]
SPREADSHEET_GB = 1.024e9
"""Bytes per 'GB' in the spreadsheet's DRAM-cycle formula (KiB / GB/s x MHz)."""


def quantized_resnet50() -> Graph:
    from models.zoo import randomized

    import hetflow as hf
    from hetflow.passes.calibrate import collect_statistics
    from hetflow.passes.quantize import quantize

    zoo = randomized("resnet50", seed=0)
    graph = hf.load(zoo.model)
    name = graph.inputs[0].name
    sample = {name: np.random.default_rng(0).standard_normal(zoo.feeds[name].shape, dtype=np.float32)}
    return quantize(graph, collect_statistics(graph, [sample], bins=128))[0]


def model(graph: Graph, config: NvdlaConfig, fc_batch: int) -> PerfReport:
    part = nvdla_part(graph, config)
    loadable, _ = lower(part, config)
    return program_perf(loadable, config, fc_batch)


def configuration(macs: int, cbuf_kib: float, dram_gbps: float, clock_hz: float, winograd: bool) -> NvdlaConfig:
    return sweep_config(macs, cbuf_kib, dram_gbps * SPREADSHEET_GB / 1e9, clock_hz=clock_hz, winograd=winograd)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--macs", type=int, help="int8 MACs (atomic-C x atomic-K)")
    ap.add_argument("--cbuf-kib", type=float, help="convolution buffer, KiB")
    ap.add_argument("--dram-gbps", type=float, help="DRAM bandwidth, GB/s")
    ap.add_argument("--clock-ghz", type=float, default=1.0)
    ap.add_argument("--fc-batch", type=int, default=1, help="batch over which fully-connected weights are amortized")
    ap.add_argument("--winograd", action="store_true", help="3x3 stride-1 convolutions in Winograd mode")
    ap.add_argument("--json", action="store_true", help="one configuration as JSON")
    args = ap.parse_args(argv)
    given = [args.macs, args.cbuf_kib, args.dram_gbps]
    if any(v is not None for v in given) and not all(v is not None for v in given):
        ap.error("give --macs, --cbuf-kib and --dram-gbps together (or none, for NVIDIA's table)")
    graph = quantized_resnet50()
    if args.macs is not None:
        report = model(graph, configuration(args.macs, args.cbuf_kib, args.dram_gbps, args.clock_ghz * 1e9,
                                            args.winograd), args.fc_batch)
        summary = report.summary()
        if args.json:
            print(json.dumps({k: summary[k] for k in ("fps", "cycles", "mac_bound_layers", "dram_bound_layers")}))
        else:
            print(f"int8 ResNet-50 on {report.config} at {args.clock_ghz:g} GHz: {report.fps:.1f} frames/s "
                  f"({report.cycles:,.0f} cycles; {summary['mac_bound_layers']} MAC-bound, "
                  f"{summary['dram_bound_layers']} DRAM-bound, {summary['engine_bound_layers']} engine-bound layers; "
                  f"{report.dram_bytes / 2**20:.1f} MiB moved; model:nvdla-perf)")
        return 0
    print("int8 ResNet-50, model:nvdla-perf vs NVIDIA's published figure (nvdla/doc primer.rst), 1 GHz, no SRAM")
    print(f"{'MACs':>5} {'CBUF KiB':>8} {'DRAM GB/s':>9} {'model fps':>10} {'published':>10} {'ratio':>6} "
          f"{'MAC-bound':>9} {'DRAM-bound':>10}")
    for macs, cbuf, bw, published in PUBLISHED:
        report = model(graph, configuration(macs, cbuf, bw, args.clock_ghz * 1e9, args.winograd), args.fc_batch)
        print(f"{macs:>5} {cbuf:>8g} {bw:>9g} {report.fps:>10.1f} {published:>10g} {report.fps / published:>6.2f} "
              f"{report.count('MAC'):>9} {report.count('DRAM'):>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
