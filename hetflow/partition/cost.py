"""The cost model: seconds per node per device and per transfer, each with where the number comes from.

In order of preference a node's time on a device is:

1. ``measured``: a profile (``hetflow profile``) timed this op at this shape on this device;
2. ``model:profile``: the roofline scaled by what the profile measured for the op's family there;
3. the own model of the backend that will run the node on that device (``Backend.estimate``; the
   fallback backend's for a node the device's backend refuses), with the source it names
   (fpga_hls: its cycle model, ``model:hls-cycles``; cpu_c and the reference interpreter: models
   calibrated on this host); None falls through;
4. ``model:roofline``: ``max(flops / peak[dtype], bytes / memory bandwidth)``.

2 and 4 add the description's per-kernel launch overhead (``launch.kernel``) to a node whose kernel pays one
at its size, as the running backend says (``Backend.launches_kernel``: cpu_c's small kernels fork no OpenMP
team); such a kernel runs on one compute unit, so 4 costs it at that unit's share of the peak
(``serial_roofline``). The partitioner charges ``launch.subgraph`` at every subgraph boundary.

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

from hetflow.backends import Backend, Estimate
from hetflow.backends.base import compute_dtype, roofline
from hetflow.ir import Node, get_op
from hetflow.ir.errors import HetflowError
from hetflow.partition.capability import backend_or_none
from hetflow.targets import Link, MachineDescription

__all__ = ["CostModel", "Estimate", "Profile", "compute_dtype", "link_tables", "roofline", "serial_roofline", "shape_key"]

PROFILE_VERSION = 1


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

    def node(self, node: Node, desc: MachineDescription, backend: str | None = None) -> Estimate:
        """``node``'s time on a chip of ``desc`` when ``backend`` runs it (default: the chip's own backend).

        Capability names the backend that will really run the node there, the host fallback included, so a
        node the chip's backend refuses is costed as the interpreter that takes it.
        """
        measured = self.profile.times.get(desc.name)
        if measured:
            seconds = measured.get(shape_key(node))
            if seconds is not None:
                return Estimate(seconds, "measured")
        runner = self._backend(backend or desc.backend)
        forks = runner is None or runner.launches_kernel(node, desc)
        launch = desc.launch.kernel if forks else 0.0
        ratio = self.profile.family_ratio.get(desc.name, {}).get(get_op(node.op).family)
        if ratio is not None:  # measured on this very device: preferred to any model
            return Estimate(launch + roofline(node, desc) * ratio, "model:profile")
        found = runner.estimate(node, desc) if runner is not None else None
        if found is not None:
            return found
        return Estimate(launch + (roofline(node, desc) if forks else serial_roofline(node, desc)), "model:roofline")

    @staticmethod
    def transfer(nbytes: int, link: Link) -> Estimate:
        return Estimate(link.time(nbytes), "model:link")

    def _backend(self, name: str) -> Backend | None:
        if name not in self._backends:
            self._backends[name] = backend_or_none(name)
        return self._backends[name]


def serial_roofline(node: Node, desc: MachineDescription) -> float:
    """Seconds for ``node`` run by a kernel that forks no team: on one of the chip's ``compute.units``, so at that
    unit's share of the peak. Memory time stays at the chip's bandwidth: below a fork threshold a kernel touches at
    most a few hundred KB, which one core reads from its caches at least that fast (an optimistic bound)."""
    opdef = get_op(node.op)
    peak = desc.peak(compute_dtype(node)) or min(desc.peak_ops.values())
    read, written = opdef.bytes_moved(node)
    return max(opdef.flop_count(node) * max(desc.compute.units, 1) / peak, (read + written) / desc.memory.bandwidth)


def link_tables(link: Link) -> tuple[float, float]:
    """(latency, seconds per byte) of a link; zero for a link within one device."""
    if math.isinf(link.bandwidth):
        return 0.0, 0.0
    return link.latency, 1.0 / link.bandwidth
