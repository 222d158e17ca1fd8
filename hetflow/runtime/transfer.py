"""Explicit transfers between endpoints, and the counters that prove every byte moved was meant to.

Three moves exist: a graph input written from the host onto a device, a value copied from one device
to another (directly when the source device has a path to the destination, ``copy_to_peer``; else
staged through the host: read, then written), and a graph output read home. Each is counted once,
on its link (``"src -> dst"``), with how it went.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from hetflow.devices import Buffer, Device

ROUTES = ("write", "peer", "staged", "read")
"""How a transfer went: host -> device (``write``), device -> device directly (``peer``) or through host
memory (``staged``: a read and a write), device -> host (``read``)."""


@dataclass
class LinkCount:
    """What crossed one link during a run."""

    transfers: int = 0
    nbytes: int = 0
    routes: dict[str, int] = field(default_factory=dict)  # route -> bytes


@dataclass
class TransferLog:
    """Bytes and transfers per link for one run; thread-safe (every device worker records into it)."""

    links: dict[str, LinkCount] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, src: str, dst: str, nbytes: int, route: str) -> None:
        assert route in ROUTES, route
        link = f"{src} -> {dst}"
        with self._lock:
            count = self.links.get(link)
            if count is None:
                count = self.links[link] = LinkCount()
            count.transfers += 1
            count.nbytes += nbytes
            count.routes[route] = count.routes.get(route, 0) + nbytes

    def bytes_by_route(self, route: str) -> int:
        """Total bytes that went by ``route``."""
        return sum(c.routes.get(route, 0) for c in self.links.values())

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.links.values())


def upload(device: Device, buffer: Buffer, array: np.ndarray, log: TransferLog, src: str) -> str:
    """Host -> device: ``array`` from host ``src`` into ``buffer``. Returns the route (``write``)."""
    device.write(buffer, array)
    log.record(src, device.id, buffer.nbytes, "write")
    return "write"


def copy(src_device: Device, src: Buffer, dst_device: Device, dst: Buffer, log: TransferLog) -> str:
    """Device -> device: directly when the source device can reach the destination, else through the host.

    Returns the route taken.
    """
    route = "peer"
    if not src_device.copy_to_peer(src, dst_device, dst):
        dst_device.write(dst, src_device.read(src))
        route = "staged"
    log.record(src_device.id, dst_device.id, src.nbytes, route)
    return route


def download(device: Device, buffer: Buffer, log: TransferLog, dst: str) -> np.ndarray:
    """Device -> host ``dst``: the buffer's contents as a host array."""
    array = device.read(buffer)
    log.record(device.id, dst, buffer.nbytes, "read")
    return array
