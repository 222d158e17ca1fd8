"""The cycle and resource model ``model:hls-cycles``: per layer from trip counts, II and reuse factor.

Built the way FINN and hls4ml estimate before synthesis, and faithful to the code the
generator writes:

* a dense or convolution step (a row, an output pixel) runs ``reuse_factor`` cycles on
  ``mults_per_step / reuse_factor`` multipliers, plus its pipeline depth (multiply, adder tree);
  other layers process one element per cycle;
* ``stream``: every layer is a dataflow stage that reads its input frame, computes and writes its
  output frame; stages overlap across samples, so the design's II is its slowest stage;
* ``parallel``: the top function is one pipeline with every loop unrolled; a layer's II is its
  reuse factor and its multipliers are replicated over all its steps;
* latency is the longest path through the layer graph; throughput is clock / II.

Resources: DSP slices per multiplier from the operand widths (27x18 per slice; products of at
most 20 bits go to LUTs), LUTs for adders, comparators and control, block RAM for weight banks
deep enough to need it, stream frame buffers and FIFOs and lookup tables. All figures are
estimates of what synthesis would report, labelled ``model:hls-cycles``; a design that exceeds
the board's resources (from its machine description) is refused with the layer and knob to turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hetflow.backends.fpga_hls.config import legal_reuse_factors
from hetflow.backends.fpga_hls.layers import Layer, Work
from hetflow.backends.fpga_hls.lower import Design
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription

TIME_SOURCE = "model:hls-cycles"

MEMORY_BLOCKS: dict[str, tuple[tuple[int, int], ...]] = {
    "bram_36k": ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72)),
    "bram_18k": ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
    "m20k": ((16384, 1), (8192, 2), (4096, 5), (2048, 10), (1024, 20), (512, 40)),
}
"""Block-RAM resource names a description may list, with the (depth, width) shapes one block takes."""
LOGIC_CELLS = {"lut": 1.0, "alm": 0.5}
"""Logic resource names, in cells per LUT6-equivalent (an ALM holds about two)."""
BRAM_MIN_BITS = 1024
"""Arrays smaller than this go to LUTs or registers, as synthesis does."""
BRAM_MIN_DEPTH = 64
"""Weight banks shallower than this are LUT ROM."""
LAYER_CONTROL_LUT = 200
TOP_CONTROL_LUT = 1000


class DesignDoesNotFit(HetflowError):
    """The estimated design needs more of a resource than the board has."""


@dataclass(frozen=True)
class LayerEstimate:
    name: str
    op: str
    template: str
    reuse: int
    multipliers: int
    dsp: int
    lut: int
    ff: int
    bram: list[tuple[int, int]]
    """(depth, width in bits) of each array this layer keeps in block RAM."""
    ii: int
    latency: int


@dataclass
class DesignEstimate:
    """Cycles, time and resources of a design on one board; times are ``model:hls-cycles``."""

    design: str
    target: str
    architecture: str
    clock_hz: float
    layers: list[LayerEstimate]
    ii_cycles: int
    latency_cycles: int
    usage: dict[str, float] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    time_source: str = TIME_SOURCE

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / self.clock_hz

    @property
    def ii_s(self) -> float:
        return self.ii_cycles / self.clock_hz

    @property
    def throughput(self) -> float:
        """Samples per second once the pipeline is full."""
        return self.clock_hz / max(self.ii_cycles, 1)

    def run_seconds(self, samples: int) -> float:
        """Device time for ``samples`` samples streamed back to back: fill, then one II each."""
        if samples <= 0:
            return 0.0
        return (self.latency_cycles + (samples - 1) * self.ii_cycles) / self.clock_hz

    @property
    def fits(self) -> bool:
        return not self.overflows()

    def overflows(self) -> list[str]:
        return [k for k, used in self.usage.items() if k in self.capacity and used > self.capacity[k]]

    def utilization(self) -> dict[str, float]:
        return {k: used / self.capacity[k] for k, used in self.usage.items() if self.capacity.get(k)}

    def summary(self) -> str:
        res = ", ".join(f"{k} {self.usage[k]:,.0f}/{self.capacity[k]:,} ({u:.1%})" for k, u in self.utilization().items())
        return (f"{self.design} on {self.target} ({self.architecture}, {self.clock_hz / 1e6:g} MHz): latency "
                f"{self.latency_cycles:,} cycles = {self.latency_s * 1e6:.2f} us, II {self.ii_cycles:,} cycles = "
                f"{self.ii_s * 1e6:.2f} us, throughput {self.throughput:,.0f} samples/s [{self.time_source}]; {res}")

    def table(self) -> str:
        head = f"{'layer':<22} {'op':<12} {'template':<14} {'RF':>5} {'mults':>8} {'DSP':>7} {'LUT':>9} " \
               f"{'BRAM bits':>11} {'II':>9} {'latency':>9}"
        rows = [head, "-" * len(head)]
        for e in self.layers:
            rows.append(f"{e.name[:22]:<22} {e.op[:12]:<12} {e.template[:14]:<14} {e.reuse:>5} {e.multipliers:>8,} "
                        f"{e.dsp:>7,} {e.lut:>9,} {sum(d * w for d, w in e.bram):>11,} {e.ii:>9,} {e.latency:>9,}")
        rows.append(self.summary())
        return "\n".join(rows)

    def check_fit(self, design: Design) -> None:
        """Raise DesignDoesNotFit naming the resource, the layer using most of it and the knob to turn."""
        over = self.overflows()
        if not over:
            return
        kind = max(over, key=lambda k: self.usage[k] / self.capacity[k])  # the most over-subscribed resource
        others = [k for k in over if k != kind]
        worst = max(self.layers, key=lambda e: _layer_usage(e, kind, self))
        layer = next(lay for lay in design.layers if lay.name == worst.name and lay.template == worst.template)
        share = _layer_usage(worst, kind, self)
        raise DesignDoesNotFit(
            f"design {self.design!r} does not fit {self.target}: it needs {self.usage[kind]:,.0f} {kind} of "
            f"{self.capacity[kind]:,} ({self.architecture} architecture{'; also over: ' + ', '.join(others) if others else ''}); "
            f"layer {worst.name!r} ({worst.op}) alone "
            f"uses {share:,.0f} at reuse_factor={worst.reuse}. {_advice(kind, layer, self.architecture)}")


def _layer_usage(e: LayerEstimate, kind: str, est: DesignEstimate) -> float:
    if kind == "dsp":
        return e.dsp
    if kind in LOGIC_CELLS:
        return e.lut * LOGIC_CELLS[kind]
    if kind == "ff":
        return e.ff
    if kind in MEMORY_BLOCKS:
        return sum(blocks(shape, kind) for shape in e.bram)
    return 0.0


def _advice(kind: str, layer: Layer, architecture: str) -> str:
    work = layer.work()
    if work.mults_per_step > 1 and kind in ("dsp", "ff", *LOGIC_CELLS):
        larger = [r for r in legal_reuse_factors(work.mults_per_step) if r > layer.reuse_factor]
        hint = f" (legal values above it: {', '.join(map(str, larger[:5]))})" if larger else ""
        text = (f"Raise its reuse factor: HLSConfig name[{layer.name!r}].reuse_factor, or reuse_factor for the whole "
                f"model{hint}")
        if architecture == "parallel" and work.steps > 1:
            text += "; or use architecture='stream', which does not replicate a layer over its output pixels"
        return text + "; or narrow its precision (weight, result)."
    return (f"Narrow the precision of {layer.name!r} (HLSConfig name[{layer.name!r}].precision), or reduce the input "
            f"size; the stream architecture buffers each layer's frame in block RAM.")


def blocks(shape: tuple[int, int], kind: str) -> int:
    """Memory blocks of ``kind`` for an array of (depth, width): the best of the block's aspect ratios."""
    depth, width = shape
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in MEMORY_BLOCKS[kind])


def _dsp_per_mult(a: int, b: int) -> int:
    if a + b <= 20:
        return 0
    hi, lo = max(a, b), min(a, b)
    return math.ceil(hi / 27) * math.ceil(lo / 18)


def _storage(depth: int, width: int) -> tuple[int, list[tuple[int, int]]]:
    """(LUTs, block-RAM arrays) to hold an array of ``depth`` words of ``width`` bits: small or shallow ones go to LUTs."""
    if depth * width < BRAM_MIN_BITS or depth < BRAM_MIN_DEPTH:
        return math.ceil(depth * width / 64), []
    return 0, [(depth, width)]


def layer_estimate(layer: Layer, design: Design) -> LayerEstimate:
    """Cycles and resources of one layer in ``design``'s architecture."""
    work: Work = layer.work()
    stream = design.architecture == "stream"
    mac = work.mults_per_step > 0 and work.reuse >= 1 and layer.template in ("dense", "conv2d")
    replicas = 1 if stream else work.steps
    reuse = work.reuse if mac else 1
    units = math.ceil(work.mults_per_step / reuse) * replicas if work.mults_per_step else 0
    dsp = units * _dsp_per_mult(*work.mult_widths) if units else 0
    lut = LAYER_CONTROL_LUT
    if units and not dsp:
        lut += units * math.ceil(work.mult_widths[0] * work.mult_widths[1] * 0.6)
    lut += units * work.acc_width
    lut += replicas * work.lanes * work.lane_width
    bram: list[tuple[int, int]] = []
    ff = lut
    for p in layer.params:
        if mac and p is layer.params[0]:
            if reuse == 1:
                lut += math.ceil(p.bits / 64)  # weights fold into the multipliers as constants
                continue
            # ARRAY_RESHAPE block: reuse_factor words, each as wide as all the multipliers' weights together
            shape = (reuse, math.ceil(work.mults_per_step / reuse) * p.type.width)
        else:
            shape = (p.size, p.type.width)
        lut_cells, arrays = _storage(*shape)
        lut += lut_cells
        bram += arrays
    if not stream:
        ff += layer.output.size * layer.output.type.width  # partitioned arrays are registers
    elif not layer.pointwise:  # the stage's frame buffers
        for t in (*layer.inputs, layer.output):
            lut_cells, arrays = _storage(t.size, t.type.width)
            lut += lut_cells
            bram += arrays
    if mac:
        ii = work.steps * (reuse + work.depth) if stream else reuse
        latency = ii if stream else reuse + work.depth
    else:
        ii = work.steps if stream else 1
        latency = work.steps + work.depth if stream else work.depth
    if stream and not layer.pointwise:  # a stage reads its input frame, computes, writes its output frame
        io = sum(t.size for t in layer.inputs) + layer.output.size
        ii += io
        latency += io
    return LayerEstimate(layer.name, layer.op, layer.template, reuse, units, dsp, int(lut), int(ff), bram, int(ii),
                         int(latency))


def estimate(design: Design, target: MachineDescription) -> DesignEstimate:
    """The design's cycles, time and resource use on ``target`` (clock and capacity from its description)."""
    layers = [layer_estimate(layer, design) for layer in design.layers]
    finish: dict[str, int] = {t.name: 0 for t in design.inputs}
    for layer, est in zip(design.layers, layers):
        start = max((finish.get(t.name, 0) for t in layer.inputs), default=0)
        finish[layer.output.name] = start + est.latency
    latency = max((finish[t.name] for t in design.outputs), default=0)
    ii = max((e.ii for e in layers), default=1)
    if design.architecture == "stream":
        ii = max([ii] + [t.size for t in design.inputs])
    usage: dict[str, float] = {}
    capacity = dict(target.resources)
    fifos = _fifos(design) if design.architecture == "stream" else []
    for key in capacity:
        if key == "dsp":
            usage[key] = sum(e.dsp for e in layers)
        elif key in LOGIC_CELLS:
            usage[key] = (sum(e.lut for e in layers) + TOP_CONTROL_LUT) * LOGIC_CELLS[key]
        elif key == "ff":
            usage[key] = sum(e.ff for e in layers) + TOP_CONTROL_LUT
        elif key in MEMORY_BLOCKS:
            arrays = [shape for e in layers for shape in e.bram] + fifos
            usage[key] = sum(blocks(shape, key) for shape in arrays)
    return DesignEstimate(design.name, target.name, design.architecture, target.clock_hz, layers, int(ii),
                          int(latency), usage, capacity)


def _fifos(design: Design) -> list[tuple[int, int]]:
    """Block RAM of the deep FIFOs (those feeding a stage with two inputs)."""
    tensors = design.tensors()
    arrays = []
    for name, readers in design.consumers().items():
        for reader, slot in readers:
            arrays += _storage(design.fifo_depth(tensors[name], reader, slot), tensors[name].type.width)[1]
    return arrays


def fold_to_fit(design: Design, target: MachineDescription, max_rounds: int = 2000) -> tuple[DesignEstimate, list[str]]:
    """Raise the reuse factor of the layer using most of an exhausted resource until the design fits.

    Returns the final estimate and one line per change. Stops (leaving the design as is) when no
    layer can fold further; the caller's fit check then reports what still does not fit.
    """
    changes: list[str] = []
    est = estimate(design, target)
    for _ in range(max_rounds):
        over = [k for k in est.overflows() if k in ("dsp", "ff") or k in LOGIC_CELLS or k in MEMORY_BLOCKS]
        if not over:
            break
        kind = over[0]  # weight banks get narrower as a layer folds, so block RAM can fold too
        candidates = []
        for layer, e in zip(design.layers, est.layers):
            work = layer.work()
            larger = [r for r in legal_reuse_factors(work.mults_per_step) if r > layer.reuse_factor] \
                if layer.template in ("dense", "conv2d") else []
            if larger:
                candidates.append((_layer_usage(e, kind, est), layer, larger))
        if not candidates:
            break
        _, layer, larger = max(candidates, key=lambda c: c[0])
        target_rf = next((r for r in larger if r >= 2 * layer.reuse_factor), larger[-1])
        changes.append(f"{layer.name}: reuse_factor {layer.reuse_factor} -> {target_rf} ({kind})")
        layer.reuse_factor = target_rf
        est = estimate(design, target)
    return est, changes
