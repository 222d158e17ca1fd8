"""Running a loadable: the engine scheduler and the functional engine models over one DRAM image.

The scheduler is NVDLA's firmware model: an op fires when its dependency count reaches zero; each engine has
one queue and two register groups, so programming the next op (``PROGRAM_CYCLES``, an estimate of the CSB
register writes) overlaps the op running, and costs time only when the engine was idle. A CONV op and the
SDP / PDP ops fused behind it run as one pipeline over the same interval, on each of their engines. Times
are the performance model's (``model:nvdla-perf``); the event timeline, one track per engine, is written as
Chrome trace JSON by ``write_engine_trace``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hetflow.backends.nvdla import engines
from hetflow.backends.nvdla.hw import NvdlaConfig
from hetflow.backends.nvdla.loadable import Loadable, OpDesc, TensorDesc
from hetflow.backends.nvdla.perf import TIME_SOURCE, PerfReport, program_perf
from hetflow.ir import Graph
from hetflow.ir.errors import InputError

PROGRAM_CYCLES = 200
"""Cycles to program one op's registers over CSB: an estimate (a few dozen 32-bit writes), not a datasheet figure."""
REGISTER_GROUPS = 2


@dataclass(frozen=True)
class EngineEvent:
    """One op on one engine in modelled time."""

    engine: str
    op: int
    name: str
    start: float
    end: float


class Dram:
    """The DRAM image the surfaces live in: int8 or float16 NCHW cubes at their byte offsets and strides."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(size, np.int8)

    def view(self, t: TensorDesc) -> np.ndarray:
        n, c, h, w = t.dims
        size = t.itemsize
        return np.ndarray((n, c, h, w), np.dtype(t.dtype), buffer=self.data, offset=t.offset,
                          strides=(t.batch_stride, t.channel_stride, w * size, size))

    def write(self, t: TensorDesc, array: np.ndarray) -> None:
        self.view(t)[...] = array.reshape(t.dims)

    def read(self, t: TensorDesc) -> np.ndarray:
        return self.view(t).copy()


def schedule(loadable: Loadable, perf: PerfReport, config: NvdlaConfig) -> list[EngineEvent]:
    """Issue each pipeline (an op and its fused children) in program order once its dependencies are done and its
    engines are free; pipelines on different engines overlap. In-order issue keeps every surface's readers ahead
    of the op that reuses its memory."""
    cycles = {layer.ops[0]: layer.cycles for layer in perf.layers if layer.ops}
    ops = {op.id: op for op in loadable.ops}
    parents: dict[int, list[int]] = {op.id: [] for op in loadable.ops}
    for op in loadable.ops:
        for c in op.consumers:
            parents[c].append(op.id)
    free: dict[str, float] = {}
    done_at: dict[int, float] = {}
    events: list[EngineEvent] = []
    last_start = 0.0
    for head, chain in sorted(_chains(loadable).items()):
        ready = max((done_at[p] for o in chain for p in parents[o] if p not in chain), default=0.0)
        busy_until = max((free.get(ops[o].engine, 0.0) for o in chain), default=0.0)
        start = max(ready, busy_until, last_start)
        if ready >= busy_until:  # the engine sat idle: the second register group had nothing to hide
            start += PROGRAM_CYCLES / config.clock_hz
        end = start + cycles.get(head, 0.0) / config.clock_hz
        for o in chain:
            events.append(EngineEvent(ops[o].engine, o, ops[o].name, start, end))
            free[ops[o].engine] = end
            done_at[o] = end
        last_start = start
    return events


def _chains(loadable: Loadable) -> dict[int, list[int]]:
    chains: dict[int, list[int]] = {}
    head: dict[int, int] = {}
    for op in loadable.ops:
        h = head[op.fused_parent] if op.fused_parent is not None else op.id
        head[op.id] = h
        chains.setdefault(h, []).append(op.id)
    return chains


class NvdlaExecutable:
    """A loaded program: runs the engine models in schedule order over one DRAM image."""

    def __init__(self, graph: Graph, loadable: Loadable, blobs: dict[str, np.ndarray], config: NvdlaConfig) -> None:
        self.graph = graph
        self.loadable = loadable
        self.blobs = blobs
        self.config = config
        self.perf = program_perf(loadable, config)
        self.events = schedule(loadable, self.perf, config)
        self.time_source = TIME_SOURCE

    @property
    def seconds(self) -> float:
        """Modelled time of one run: the end of the last engine event."""
        return max((e.end for e in self.events), default=0.0)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dram = Dram(self.loadable.memory[0].size)
        for name in self.loadable.inputs:
            if name not in feeds:
                raise InputError(f"NVDLA program: input {name!r} is missing; it takes {', '.join(self.loadable.inputs)}")
            t = self.loadable.tensor(name)
            array = np.asarray(feeds[name])
            if array.dtype != np.dtype(t.dtype) or array.size != np.prod(t.dims):
                raise InputError(f"NVDLA program: input {name!r} must be {t.dtype} with {np.prod(t.dims)} elements "
                                 f"{t.dims}, got {array.dtype} {array.shape}")
            dram.write(t, array)
        streams: dict[int, np.ndarray] = {}
        ops = {op.id: op for op in self.loadable.ops}
        for event in sorted(self.events, key=lambda e: (e.start, e.op)):
            op = ops[event.op]
            result = _RUN[op.engine](self, op, dram, streams)
            if op.output is None:
                streams[op.id] = result
            else:
                dram.write(self.loadable.tensor(op.output), result)
        values = {v.name: v for v in self.graph.outputs}
        return {name: dram.read(self.loadable.tensor(name)).reshape(values[name].type.shape)  # type: ignore[arg-type]
                for name in self.loadable.outputs}

    def blob(self, op: OpDesc, key: str) -> np.ndarray | None:
        return self.blobs.get(f"op{op.id}.{key}")


def _input(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray], i: int = 0) -> np.ndarray:
    if op.fused_parent is not None and i == 0:
        return streams.pop(op.fused_parent)
    return dram.read(exe.loadable.tensor(op.inputs[i - (1 if op.fused_parent is not None else 0)]))


def _conv(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray]) -> np.ndarray:
    p = op.params
    if p.get("precision") == "fp16":
        acc = engines.conv_fp16(_input(exe, op, dram, streams), exe.blob(op, "weights"), strides=tuple(p["strides"]),  # type: ignore[arg-type]
                                pads=tuple(p["pads"]), dilations=tuple(p["dilations"]),  # type: ignore[arg-type]
                                k_splits=[tuple(s) for s in p["k_splits"]],  # type: ignore[misc]
                                row_chunks=[tuple(c) for c in p["row_chunks"]])  # type: ignore[misc]
        return acc[:, :p["kernels"]]
    acc = engines.conv(_input(exe, op, dram, streams), exe.blob(op, "weights"), strides=tuple(p["strides"]),  # type: ignore[arg-type]
                       pads=tuple(p["pads"]), dilations=tuple(p["dilations"]),
                       k_splits=[tuple(s) for s in p["k_splits"]],  # type: ignore[misc]
                       row_chunks=[tuple(c) for c in p["row_chunks"]])  # type: ignore[misc]
    return acc[:, :p["kernels"]]  # the padded MAC cells' zeros are dropped


def _sdp(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray]) -> np.ndarray:
    p = op.params
    if p.get("precision") == "fp16":
        if p["mode"] == "ew":
            return engines.sdp_fp16(_input(exe, op, dram, streams, 0), bias=None, relu=p["relu"],
                                    other=_input(exe, op, dram, streams, 1))
        return engines.sdp_fp16(_input(exe, op, dram, streams, 0), bias=exe.blob(op, "bias"), relu=p["relu"])
    if p["mode"] == "ew":
        return engines.sdp_eltwise(_input(exe, op, dram, streams, 0), _input(exe, op, dram, streams, 1),
                                   a_offset=0, b_offset=0, a_multiplier=p["a_multiplier"],
                                   b_multiplier=p["b_multiplier"], shift=p["shift"], relu=p["relu"], offset=0)
    x = _input(exe, op, dram, streams, 0)
    y = engines.sdp(x.astype(np.int32), bias=exe.blob(op, "bias"), multiplier=exe.blob(op, "multiplier"),  # type: ignore[arg-type]
                    shift=exe.blob(op, "shift"), relu=p["relu"])  # type: ignore[arg-type]
    ew = p.get("ew")
    if ew:  # the EW stage after the BS stage, in the same pass
        other = _input(exe, op, dram, streams, 1)
        a, b = (y, other) if ew["operand"] == 0 else (other, y)
        y = engines.sdp_eltwise(a, b, a_offset=0, b_offset=0, a_multiplier=ew["a_multiplier"],
                                b_multiplier=ew["b_multiplier"], shift=ew["shift"], relu=ew["relu"], offset=0)
    return y


def _pdp(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray]) -> np.ndarray:
    p = op.params
    return engines.pdp_max(_input(exe, op, dram, streams), kernel=tuple(p["kernel"]), strides=tuple(p["strides"]),  # type: ignore[arg-type]
                           pads=tuple(p["pads"]))  # type: ignore[arg-type]


def _cdp(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray]) -> np.ndarray:
    p = op.params
    return engines.cdp_lrn(_input(exe, op, dram, streams), exe.blob(op, "lut"), size=p["size"],  # type: ignore[arg-type]
                           index_shift=p["index_shift"], multiplier=p["multiplier"], shift=p["shift"])


def _rubik(exe: NvdlaExecutable, op: OpDesc, dram: Dram, streams: dict[int, np.ndarray]) -> np.ndarray:
    p = op.params
    out = exe.loadable.tensor(op.output).dims  # type: ignore[arg-type]
    return engines.rubik_contract(_input(exe, op, dram, streams), blocksize=p["blocksize"], order=p["order"],
                                  crop=tuple(p["crop"]), out_hw=(out[2], out[3]))  # type: ignore[arg-type]


_RUN = {"CONV": _conv, "SDP": _sdp, "PDP": _pdp, "CDP": _cdp, "RUBIK": _rubik}


def write_engine_trace(events: list[EngineEvent], path: str | Path, *, title: str = "nvdla") -> Path:
    """Chrome / Perfetto trace JSON: one track per engine, one slice per op, times from ``model:nvdla-perf``."""
    engines_seen = sorted({e.engine for e in events})
    tids = {e: i + 1 for i, e in enumerate(engines_seen)}
    trace = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": tids[e], "args": {"name": e}} for e in engines_seen]
    trace += [{"ph": "X", "name": e.name, "cat": "nvdla", "pid": 1, "tid": tids[e.engine], "ts": e.start * 1e6,
               "dur": (e.end - e.start) * 1e6, "args": {"op": e.op}} for e in events]
    path = Path(path)
    path.write_text(json.dumps({"traceEvents": trace, "otherData": {"title": title, "clock": TIME_SOURCE}}))
    return path
