"""Manual pins: put nodes on a device by node name, by region, or by op type.

A pin is written ``"<kind>:<pattern>=<device>"`` (``kind`` is ``node``, ``region`` or ``op``; a
bare pattern means a node name; patterns may use shell wildcards) or given as a mapping
``{"<kind>:<pattern>": "<device>"}``. The device is anything ``Cluster.device`` accepts: an
instance id (``node0/h200:0``), ``host/stem`` or a preset name. The most specific pin wins:
node name over region (innermost region first) over op type, as per-layer settings resolve in
hls4ml. A pin that matches no node is an error (it is most likely a typo).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError
from hetflow.partition.capability import PlacementError
from hetflow.targets import Cluster

PinKind = Literal["node", "region", "op"]
_KINDS: tuple[PinKind, ...] = ("node", "region", "op")


class PinError(PlacementError):
    """A pin that cannot be honoured: malformed, matching nothing, an unknown device, or one that cannot run the node."""


@dataclass(frozen=True)
class Pin:
    kind: PinKind
    pattern: str
    device: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}={self.device}"


def parse_pins(spec: Iterable[str] | Mapping[str, str] | None) -> list[Pin]:
    """Pins from ``["op:softmax=node0/cpu:0", ...]`` or ``{"op:softmax": "node0/cpu:0"}``."""
    if spec is None:
        return []
    items = list(spec.items()) if isinstance(spec, Mapping) else [_split(s) for s in spec]
    pins = []
    for target, device in items:
        kind, sep, pattern = target.partition(":")
        if not sep or kind not in _KINDS:
            kind, pattern = "node", target
        if not pattern or not device:
            raise PinError(f"pin {target}={device}: expected <node|region|op>:<pattern>=<device>")
        pins.append(Pin(kind, pattern, device))  # type: ignore[arg-type]
    return pins


def _split(text: str) -> tuple[str, str]:
    target, sep, device = text.rpartition("=")
    if not sep:
        raise PinError(f"pin {text!r}: expected <node|region|op>:<pattern>=<device>, e.g. op:softmax=node0/cpu:0")
    return target.strip(), device.strip()


def resolve_pins(pins: list[Pin], graph: Graph, cluster: Cluster) -> dict[int, tuple[int, Pin]]:
    """Node index -> (device index, the pin that decided it), the most specific pin winning."""
    index = {d.id: i for i, d in enumerate(cluster.devices)}
    devices: dict[Pin, int] = {}
    for pin in pins:
        try:
            devices[pin] = index[cluster.device(pin.device).id]
        except HetflowError as exc:
            raise PinError(f"pin {pin}: {exc}") from None
    chosen: dict[int, tuple[int, int, Pin]] = {}  # node -> (specificity, device, pin)
    for pin in pins:
        matched = False
        for n, node in enumerate(graph.nodes):
            score = _specificity(pin, node.name, node.op, graph.region_path(node.region))
            if score is None:
                continue
            matched = True
            if n not in chosen or score > chosen[n][0]:
                chosen[n] = (score, devices[pin], pin)
        if not matched:
            raise PinError(f"pin {pin}: no {pin.kind} of graph {graph.name!r} matches {pin.pattern!r}")
    return {n: (d, pin) for n, (_, d, pin) in chosen.items()}


def _specificity(pin: Pin, name: str, op: str, regions: list[str]) -> int | None:
    """How specific ``pin`` is for this node (higher wins), or None if it does not apply."""
    if pin.kind == "node":
        return 1000 if fnmatch.fnmatchcase(name, pin.pattern) else None
    if pin.kind == "op":
        return 0 if fnmatch.fnmatchcase(op, pin.pattern) else None
    for depth in range(len(regions) - 1, -1, -1):
        if fnmatch.fnmatchcase(regions[depth], pin.pattern):
            return 1 + depth
    return None
