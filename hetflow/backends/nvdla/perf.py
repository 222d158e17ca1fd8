"""``model:nvdla-perf``: the NVDLA performance model, from NVIDIA's open performance spreadsheet.

The rules are those of nvdla/hw ``perf/NVDLA_OpenSource_Performance.xlsx`` (sheet "ResNet50", the DRAM-only
columns AO-AT), applied to the configuration's own atoms instead of the spreadsheet's fixed 16-channel
packing:

* MAC cycles = ``ceil_to(C * sy * sx, atomic_C) * ceil_to(K, atomic_K) * P * Q * R * S / (sy * sx) / MACs``
  (strided convolutions fold the stride into the channels, as the spreadsheet does), divided by 2.25 for a
  3x3 convolution where the build has Winograd (column AR).
* DRAM bytes = input + weights + output (+ the second operand of a fused element-wise sum), where the input
  is re-fetched once per kernel group when the weights do not fit the convolution buffer beside one input
  band, or the weights once per input chunk when the input does not fit beside one kernel group, whichever
  the smaller minimum footprint makes the resident one (columns X-AB, AN, AO); feature cubes have their
  channels padded to the memory atom. ``plan_split`` makes that choice concrete (kernel groups of whole
  atoms, chunks of whole output rows) and the lowering runs exactly those pieces, so the traffic charged is
  the traffic of the loadable, the halo rows each input chunk reads again included (the spreadsheet's
  ``ceil(x / room)`` passes leave them out).
* DRAM cycles = bytes / (DRAM bytes per second / clock) (column AQ); a layer takes the larger of its MAC and
  DRAM cycles (AS, "long pole" AT), and the network the sum over layers (AS66).

A layer is a CONV op with the SDP (and PDP) ops fused behind it; SDP or PDP ops reading memory on their own
are layers of their own, bounded by their engine throughput or by DRAM. Counters: MAC-busy cycles, bytes
moved and the bound each layer hit. Nothing here is a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hetflow.backends.nvdla.engines import pad_to
from hetflow.backends.nvdla.hw import NvdlaConfig
from hetflow.backends.nvdla.loadable import Loadable, OpDesc

TIME_SOURCE = "model:nvdla-perf"
WINOGRAD_GAIN = 2.25
"""Multiplications saved by Winograd F(2x2, 3x3): 36 instead of 16 per 4 outputs (the spreadsheet's 2.25)."""


@dataclass(frozen=True)
class LayerPerf:
    """One layer's modelled cost."""

    name: str
    ops: tuple[int, ...]
    mac_cycles: float
    dram_cycles: float
    dram_bytes: float
    engine_cycles: float = 0.0  # SDP / PDP throughput bound of a layer without a convolution

    @property
    def cycles(self) -> float:
        return max(self.mac_cycles, self.dram_cycles, self.engine_cycles)

    @property
    def bound(self) -> str:
        worst = max((self.mac_cycles, "MAC"), (self.dram_cycles, "DRAM"), (self.engine_cycles, "ENGINE"))
        return worst[1]


@dataclass
class PerfReport:
    """The model's answer for one program on one configuration."""

    config: str
    clock_hz: float
    layers: list[LayerPerf] = field(default_factory=list)

    @property
    def cycles(self) -> float:
        return sum(layer.cycles for layer in self.layers)

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def fps(self) -> float:
        return self.clock_hz / self.cycles if self.cycles else math.inf

    @property
    def mac_busy_cycles(self) -> float:
        return sum(layer.mac_cycles for layer in self.layers)

    @property
    def dram_bytes(self) -> float:
        return sum(layer.dram_bytes for layer in self.layers)

    def count(self, bound: str) -> int:
        return sum(1 for layer in self.layers if layer.bound == bound)

    def summary(self) -> dict[str, float | int | str]:
        return {"fps": self.fps, "cycles": self.cycles, "mac_bound_layers": self.count("MAC"),
                "dram_bound_layers": self.count("DRAM"), "engine_bound_layers": self.count("ENGINE"),
                "mac_busy_cycles": self.mac_busy_cycles, "dram_bytes": self.dram_bytes, "source": TIME_SOURCE}


@dataclass(frozen=True)
class ConvShape:
    """What the model needs of one convolution layer (input ``N x C x H x W``, ``K`` kernels ``R x S``)."""

    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    stride: tuple[int, int]
    out_hw: tuple[int, int]  # after the convolution
    final_hw: tuple[int, int]  # after a fused pooling
    eltwise: bool = False
    winograd: bool = False
    pad_top: int = 0  # rows of zero padding above: where an output-row chunk's input rows start
    dilation: int = 1  # vertical dilation: how many input rows one output row's taps span
    element_bytes: int = 1  # 1: int8; 2: fp16, at half the MAC rate (one fp16 MAC takes two int8 MAC cells)

    def input_rows(self, p0: int, p1: int) -> int:
        """Input rows (inside the image, halo included) that output rows ``[p0, p1)`` read."""
        top = p0 * self.stride[0] - self.pad_top
        bottom = (p1 - 1) * self.stride[0] - self.pad_top + (self.r - 1) * self.dilation + 1
        return max(0, min(self.h, bottom) - max(0, top))


@dataclass(frozen=True)
class ConvSplit:
    """How one convolution is cut to fit the convolution buffer: the lowering runs these pieces and the model
    charges their traffic, so the two agree by construction.

    ``mode``: ``none`` (one kernel group, one row chunk); ``stream`` (the input stays resident while the weights
    stream through in kernel groups, each read once); ``weights`` (one kernel group resident at a time, the
    input streamed again for each); ``features`` (chunks of output rows, each holding its input rows with the
    halo of ``R - 1`` rows while all the weights stream through again). Kernel groups are whole atomic-K
    multiples of the atom-padded K. ``overflow`` says even the smallest piece does not fit.
    """

    mode: str
    k_groups: tuple[tuple[int, int], ...]
    row_chunks: tuple[tuple[int, int], ...]
    overflow: bool = False

    @property
    def input_passes(self) -> int:
        """How often each input row chunk is read: once per kernel group only when no input stays resident."""
        return len(self.k_groups) if self.mode == "weights" else 1


@dataclass(frozen=True)
class _Footprint:
    x: float  # input cube bytes (channels padded to the memory atom, stride folded into channels)
    wt: float  # weight bytes
    z: float  # output bytes
    min_x: float  # one band of input rows: the least of the input the buffer must hold
    min_w: float  # one kernel group: the least of the weights the buffer must hold
    kernel_bytes: float  # one kernel


def _footprint(shape: ConvShape, config: NvdlaConfig) -> _Footprint:
    sy, sx = shape.stride
    eb = shape.element_bytes
    atom = max(1, config.memory_atomic // eb)  # the memory atom is bytes: half as many fp16 channels
    c_mem = pad_to(shape.c * sy * sx, atom) * eb
    hin, win = math.ceil(shape.h / sy), math.ceil(shape.w / sx)
    kernel = c_mem * math.ceil(shape.r / sy) * math.ceil(shape.s / sx)
    z = shape.n * shape.final_hw[0] * shape.final_hw[1] * pad_to(shape.k, atom) * eb
    return _Footprint(x=shape.n * c_mem * hin * win, wt=kernel * shape.k, z=z,
                      min_x=c_mem * min(shape.r + 1, hin) * win,
                      min_w=min(kernel * config.atomic_k, config.cbuf_bytes / 2), kernel_bytes=kernel)


def plan_split(shape: ConvShape, config: NvdlaConfig) -> ConvSplit:
    """Column AO's choice, made concrete: the smaller minimum footprint decides which operand stays resident;
    the other is cut into buffer-fulls (kernel groups of whole atoms, or output-row chunks with their halo)."""
    f = _footprint(shape, config)
    p, cbuf = shape.out_hw[0], config.cbuf_bytes
    whole_rows = ((0, p),)
    if f.min_x >= f.min_w:  # weights stream through what one input band leaves free
        room = cbuf - f.min_x
        if f.wt <= room:
            return ConvSplit("none", _k_groups(shape, config, f, cbuf), whole_rows)
        groups = _k_groups(shape, config, f, room)
        return ConvSplit("weights", groups, whole_rows, overflow=room < f.kernel_bytes * config.atomic_k)
    room = cbuf - f.min_w
    if f.x <= room:  # the whole input stays; the weights stream once through what it leaves
        groups = _k_groups(shape, config, f, cbuf - f.x)
        return ConvSplit("none" if len(groups) == 1 else "stream", groups, whole_rows)
    row_bytes = f.x / shape.h
    rows = 1  # output rows per chunk; an interior chunk reads (rows - 1) * stride + its kernel's span
    while rows < p and min(shape.h, rows * shape.stride[0] + (shape.r - 1) * shape.dilation + 1) * row_bytes <= room:
        rows += 1
    chunks = tuple((p0, min(p, p0 + rows)) for p0 in range(0, p, rows))
    held = max(shape.input_rows(a, b) for a, b in chunks) * row_bytes
    return ConvSplit("features", _k_groups(shape, config, f, cbuf - held), chunks, overflow=held > room)


def _k_groups(shape: ConvShape, config: NvdlaConfig, f: _Footprint, room: float) -> tuple[tuple[int, int], ...]:
    """Kernel groups of as many whole atomic-K multiples as ``room`` bytes hold (at least one atom)."""
    kp = pad_to(shape.k, config.atomic_k)
    atoms = int(room // (f.kernel_bytes * config.atomic_k)) if room > 0 and f.kernel_bytes > 0 else 0
    group = min(kp, max(1, atoms) * config.atomic_k)
    return tuple((k0, min(kp, k0 + group)) for k0 in range(0, kp, group))


def split_traffic(shape: ConvShape, split: ConvSplit, config: NvdlaConfig, fc_batch: int = 1) -> float:
    """DRAM bytes of a convolution run as ``split``: the input once per ``input_passes`` (row chunks with their
    halo), the weights once per row chunk, the output once."""
    f = _footprint(shape, config)
    wt = f.wt / fc_batch
    extra = f.z if shape.eltwise else 0.0  # the fused sum's second operand
    if shape.h == 0:
        return f.x + wt + f.z + extra
    x = sum(f.x * shape.input_rows(p0, p1) / shape.h for p0, p1 in split.row_chunks)
    return split.input_passes * x + len(split.row_chunks) * wt + f.z + extra


def conv_layer(name: str, shape: ConvShape, config: NvdlaConfig, ops: tuple[int, ...] = (),
               fc_batch: int = 1, split: ConvSplit | None = None) -> LayerPerf:
    """The spreadsheet's rules for one convolution (with fused SDP / PDP) on ``config``, run as ``split`` (by
    default the one ``plan_split`` chooses, which is the one the lowering uses)."""
    sy, sx = shape.stride
    fold = sy * sx
    atomic_c = max(1, config.atomic_c // shape.element_bytes)  # fp16: half the channels per atom and cycle
    c_mac = pad_to(shape.c * fold, atomic_c)
    p, q = shape.out_hw
    taps = shape.r * shape.s / fold
    gain = WINOGRAD_GAIN if shape.winograd else 1.0
    mac = shape.n * c_mac * pad_to(shape.k, config.atomic_k) * p * q * taps / (atomic_c * config.atomic_k) / gain
    traffic = split_traffic(shape, split or plan_split(shape, config), config, fc_batch)
    return LayerPerf(name, ops, mac, traffic / config.dram_bytes_per_cycle, traffic)


def engine_layer(name: str, elements_in: float, bytes_moved: float, throughput: int, config: NvdlaConfig,
                 ops: tuple[int, ...] = ()) -> LayerPerf:
    """An SDP or PDP op reading memory on its own: its engine's elements per cycle, or DRAM."""
    return LayerPerf(name, ops, 0.0, bytes_moved / config.dram_bytes_per_cycle, bytes_moved,
                     elements_in / throughput)


def program_perf(loadable: Loadable, config: NvdlaConfig, fc_batch: int = 1) -> PerfReport:
    """Per-layer cycles of a compiled program: CONV ops with what is fused behind them, then lone SDP/PDP ops."""
    report = PerfReport(config.name, config.clock_hz)
    children: dict[int, list[OpDesc]] = {}
    for op in loadable.ops:
        if op.fused_parent is not None:
            children.setdefault(op.fused_parent, []).append(op)
    for op in loadable.ops:
        if op.fused_parent is not None:
            continue
        chain = _chain(op, children)
        if op.engine == "CONV":
            split = ConvSplit(op.params["split"], tuple(map(tuple, op.params["k_splits"])),  # type: ignore[arg-type]
                              tuple(map(tuple, op.params["row_chunks"])))  # type: ignore[arg-type]
            report.layers.append(conv_layer(op.name, _conv_shape(op, chain, loadable, config), config,
                                            tuple(o.id for o in chain), fc_batch, split))
        else:
            report.layers.append(_lone(op, chain, loadable, config))
    return report


def _chain(op: OpDesc, children: dict[int, list[OpDesc]]) -> list[OpDesc]:
    out = [op]
    while children.get(out[-1].id):
        out.append(children[out[-1].id][0])
    return out


def _conv_shape(op: OpDesc, chain: list[OpDesc], loadable: Loadable, config: NvdlaConfig) -> ConvShape:
    n, c, h, w = loadable.tensor(op.inputs[0]).dims
    final = loadable.tensor(chain[-1].output).dims  # type: ignore[arg-type]
    r, s = op.params["kernel_size"]
    stride = tuple(op.params["strides"])
    pads = op.params["pads"]
    dil = op.params["dilations"]
    p = (h + pads[0] + pads[2] - (r - 1) * dil[0] - 1) // stride[0] + 1
    q = (w + pads[1] + pads[3] - (s - 1) * dil[1] - 1) // stride[1] + 1
    eltwise = any(o.engine == "SDP" and o.params.get("ew") for o in chain)
    return ConvShape(n, c, h, w, op.params["kernels"], r, s, stride, (p, q), (final[2], final[3]),  # type: ignore[arg-type]
                     eltwise, op.params["winograd"], pads[0], dil[0], 2 if op.params.get("precision") == "fp16" else 1)


def _lone(op: OpDesc, chain: list[OpDesc], loadable: Loadable, config: NvdlaConfig) -> LayerPerf:
    ins = [loadable.tensor(t) for t in op.inputs]
    out = loadable.tensor(chain[-1].output)  # type: ignore[arg-type]
    moved = sum(t.nbytes for t in ins) + out.nbytes
    elements = sum(math.prod(t.dims) for t in ins)
    return engine_layer(op.name, elements, moved, engine_throughput(op.engine, config), config,
                        tuple(o.id for o in chain))


def engine_throughput(engine: str, config: NvdlaConfig) -> int:
    """Elements per cycle of a planar or channel engine reading memory on its own (RUBIK moves one atom a cycle)."""
    return {"PDP": config.pdp_throughput, "CDP": config.cdp_throughput,
            "RUBIK": config.memory_atomic}.get(engine, config.sdp_throughput)


def network_perf(layers: Iterable[tuple[str, ConvShape]], config: NvdlaConfig, fc_batch: int = 1) -> PerfReport:
    """The model over a list of convolution layers given directly (no compiled program needed)."""
    report = PerfReport(config.name, config.clock_hz)
    report.layers = [conv_layer(name, shape, config, (), fc_batch) for name, shape in layers]
    return report
