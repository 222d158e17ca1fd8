"""The cost model: seconds per node per device and per transfer, each with where the number comes from.

In order of preference a node's time on a device is:

1. ``measured``: a profile (``hetflow profile``) timed this op at this shape on this device;
2. the device's backend's own model, with the source it names: a backend may define
   ``estimate_node(node, description) -> (seconds, source) | (seconds, source, interval) | None``
   (fpga_hls: its cycle model at the description's clock, ``model:hls-cycles``); None, or no such
   method, falls through;
3. ``model:profile``: the roofline scaled by what the profile measured for the op's family;
4. ``model:roofline``: ``max(flops / peak[dtype], bytes / memory bandwidth)``.

A transfer costs ``latency + bytes / bandwidth`` of the link between two endpoints (``model:link``).
Symbolic dims (a batch) count as 1: estimates are per sample.

An estimate also carries its ``interval``: how long the node occupies its device per item of a
stream, which the throughput objective charges. It is the latency unless a backend knows better
(a pipelined FPGA design takes a new item every initiation interval, long before the first is done).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from hetflow.backends import Backend
from hetflow.ir import DType, Node, get_op
from hetflow.ir.errors import HetflowError
from hetflow.partition.capability import backend_or_none
from hetflow.targets import Link, MachineDescription
from hetflow.targets.units import format_seconds

PROFILE_VERSION = 1


@dataclass(frozen=True)
class Estimate:
    """A time in seconds and its source: ``measured`` or ``model:<name>``; ``interval``: seconds the device is
    busy per item of a stream (the latency, unless the source models pipelining)."""

    seconds: float
    source: str
    interval: float | None = None

    def __post_init__(self) -> None:
        if self.interval is None:
            object.__setattr__(self, "interval", self.seconds)

    def __str__(self) -> str:
        return f"{format_seconds(self.seconds)} ({self.source})"


def compute_dtype(node: Node) -> DType:
    """The dtype a node computes in: its first non-boolean operand's, else its first output's."""
    for v in (*node.inputs, *node.outputs):
        if v is not None and v.type.dtype is not DType.bool:
            return v.type.dtype
    return node.outputs[0].type.dtype if node.outputs else DType.float32


def roofline(node: Node, desc: MachineDescription) -> float:
    """Seconds for ``node`` at the chip's peak: compute-bound or memory-bound, whichever is slower."""
    opdef = get_op(node.op)
    flops = opdef.flop_count(node)
    read, written = opdef.bytes_moved(node)
    peak = desc.peak(compute_dtype(node)) or min(desc.peak_ops.values())
    return max(flops / peak, (read + written) / desc.memory.bandwidth)


def shape_key(node: Node) -> str:
    """What a measured time is filed under: op, operand types and a hash of the attributes."""
    attrs = json.dumps(sorted((k, repr(v)) for k, v in node.attrs.items()))
    digest = hashlib.sha1(attrs.encode()).hexdigest()[:10]
    operands = ",".join("_" if v is None else f"{v.type}{'c' if v.is_const else ''}" for v in node.inputs)
    return f"{node.op}({operands})#{digest}"


@dataclass
class Profile:
    """Measured seconds per device description, per node shape, and per op family (measured / roofline)."""

    times: dict[str, dict[str, float]] = field(default_factory=dict)  # description name -> shape key -> seconds
    family_ratio: dict[str, dict[str, float]] = field(default_factory=dict)  # description name -> family -> ratio
    machine: str = ""  # the CPU model it was measured on

    def save(self, path: str | Path) -> None:
        data = {"version": PROFILE_VERSION, "machine": self.machine, "times": self.times, "family_ratio": self.family_ratio}
        Path(path).write_text(json.dumps(data, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise HetflowError(f"{path}: no such profile") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HetflowError(f"{path}: not a profile (invalid JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION:
            got = data.get("version") if isinstance(data, dict) else None
            raise HetflowError(f"{path}: profile version {got!r} is not supported (expected {PROFILE_VERSION})")
        return cls(data.get("times", {}), data.get("family_ratio", {}), data.get("machine", ""))


class CostModel:
    """Node and transfer estimates, with their sources; one per compile."""

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile or Profile()
        self._backends: dict[str, Backend | None] = {}

    def node(self, node: Node, desc: MachineDescription) -> Estimate:
        measured = self.profile.times.get(desc.name)
        if measured:
            seconds = measured.get(shape_key(node))
            if seconds is not None:
                return Estimate(seconds, "measured")
        estimator = getattr(self._backend(desc.backend), "estimate_node", None)
        found = estimator(node, desc) if estimator is not None else None
        if found is not None:
            seconds, source, *interval = found
            return Estimate(float(seconds), source, float(interval[0]) if interval else None)
        ratio = self.profile.family_ratio.get(desc.name, {}).get(get_op(node.op).family)
        if ratio is not None:
            return Estimate(roofline(node, desc) * ratio, "model:profile")
        return Estimate(roofline(node, desc), "model:roofline")

    @staticmethod
    def transfer(nbytes: int, link: Link) -> Estimate:
        return Estimate(link.time(nbytes), "model:link")

    def _backend(self, name: str) -> Backend | None:
        if name not in self._backends:
            self._backends[name] = backend_or_none(name)
        return self._backends[name]


def link_tables(link: Link) -> tuple[float, float]:
    """(latency, seconds per byte) of a link; zero for a link within one device."""
    if math.isinf(link.bandwidth):
        return 0.0, 0.0
    return link.latency, 1.0 / link.bandwidth
