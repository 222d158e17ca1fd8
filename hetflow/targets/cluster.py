"""Cluster descriptions: hosts, the devices on them (by preset and count), and the links between them.

A device reaches its own host over its description's host link (capped by the cluster's
``defaults.intra_host`` slot, or replaced by the entry's own ``link``). Hosts reach each other over
``[[links]]`` or ``defaults.inter_host``. ``Cluster.link(a, b)`` answers the bandwidth and latency
between any two devices or hosts: a direct link if one is declared, otherwise the lowest-latency
route through hosts (latency adds up, the narrowest hop sets the bandwidth).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, field_validator, model_validator

from hetflow.targets.catalog import get_preset
from hetflow.targets.schema import (
    BytesPerSecond,
    DescriptionError,
    MachineDescription,
    Seconds,
    _Model,
    load_description,
    read_toml,
    validate,
)
from hetflow.targets.units import format_quantity, format_seconds

CLUSTER_DIR = Path(__file__).parent / "clusters"
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


# ---------------------------------------------------------------- the file format


class LinkSpec(_Model):
    """A link's figures."""

    kind: str = Field("", description='e.g. "PCIe 4.0 x16", "100 GbE", "WAN"')
    bandwidth: BytesPerSecond = Field(description="bytes per second in one direction, e.g. '100 Mbit/s'")
    latency: Seconds = Field(description="one-way latency, e.g. '20 ms'")


class NamedLink(LinkSpec):
    """A link between two endpoints: host names or device instance ids."""

    a: str = Field(description="a host name or a device id such as node0/h200:0")
    b: str = Field(description="a host name or a device id")


class DeviceEntry(_Model):
    """Devices of one kind on a host."""

    preset: str | None = Field(None, description='a machine preset name, e.g. "nvidia/h200"')
    description: str | None = Field(None, description="a machine description TOML path, relative to this file")
    count: PositiveInt = Field(1, description="how many")
    id: str | None = Field(None, description='the instance id stem, e.g. "gpu" gives node0/gpu:0 (default: the model name)')
    link: LinkSpec | None = Field(None, description="how these devices attach to the host (default: their host_link)")

    @model_validator(mode="after")
    def _one_source(self) -> DeviceEntry:
        if (self.preset is None) == (self.description is None):
            raise ValueError("expected exactly one of preset or description")
        return self


class HostSpec(_Model):
    name: str = Field(description='a host name such as "node0"')
    devices: tuple[DeviceEntry, ...] = Field(min_length=1, description="the devices on this host")

    @field_validator("name")
    @classmethod
    def _name_form(cls, v: str) -> str:
        if not _HOST_NAME.match(v):
            raise ValueError(f"expected a lower-case host name such as node0, got {v!r}")
        return v


class Defaults(_Model):
    intra_host: LinkSpec | None = Field(None, description="the slot accelerators sit in; caps their own host link")
    inter_host: LinkSpec | None = Field(None, description="the network between hosts that have no [[links]] entry")


class ClusterSpec(_Model):
    name: str = Field(description="the cluster's name")
    description: str = Field("", description="what it models")
    defaults: Defaults = Field(default_factory=Defaults)
    hosts: tuple[HostSpec, ...] = Field(min_length=1, description="[[hosts]] tables, each with devices")
    links: tuple[NamedLink, ...] = Field((), description="[[links]] tables between hosts or devices")


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Link:
    """Bandwidth (bytes/s, one direction) and latency (s) between two endpoints, and the route taken."""

    bandwidth: float
    latency: float
    kind: str
    path: tuple[str, ...] = ()

    def time(self, nbytes: int | float) -> float:
        """Seconds to move ``nbytes`` over this link (0 within one device)."""
        return 0.0 if math.isinf(self.bandwidth) else self.latency + nbytes / self.bandwidth

    def __str__(self) -> str:
        if math.isinf(self.bandwidth):
            return self.kind
        return f"{self.kind}: {format_quantity(self.bandwidth, 'B/s')}, {format_seconds(self.latency)}"


@dataclass(frozen=True)
class DeviceInstance:
    """One device in a cluster: its id (``host/stem:index``), description and host."""

    id: str
    description: MachineDescription
    host: str
    attach: Link = field(repr=False)
    """How this device reaches its host's memory."""

    @property
    def backend(self) -> str:
        return self.description.backend

    @property
    def kind(self) -> str:
        return self.description.kind

    def __str__(self) -> str:
        return f"{self.id} ({self.description.name})"

    def __repr__(self) -> str:
        return f"DeviceInstance({self.id!r}, {self.description.name}, host={self.host!r})"


@dataclass(frozen=True)
class Placement:
    """Devices of one description on a host, before instance ids are given out."""

    description: MachineDescription
    count: int = 1
    id: str | None = None
    link: LinkSpec | None = None


class Cluster:
    """Hosts, their devices and the links between them. Build with ``load``, ``local`` or ``of``."""

    def __init__(self, name: str, hosts: dict[str, list[Placement]], *, links: tuple[NamedLink, ...] = (),
                 defaults: Defaults | None = None, source: str = "<cluster>", description: str = "") -> None:
        self.name = name
        self.source = source
        self.description = description
        self.defaults = defaults or Defaults()
        self.devices: list[DeviceInstance] = []
        self.hosts: dict[str, list[DeviceInstance]] = {}
        for host, placements in hosts.items():
            self.hosts[host] = self._place(host, placements)
            self.devices += self.hosts[host]
        self._by_id = {d.id: d for d in self.devices}
        self._direct: dict[frozenset[str], Link] = {}
        self._edges: dict[str, list[tuple[str, Link]]] = {n: [] for n in [*self.hosts, *self._by_id]}
        for d in self.devices:
            self._connect(d.id, d.host, d.attach)
        for i, spec in enumerate(links):
            a, b = (self._endpoint(e, f"links[{i}].{k}") for e, k in ((spec.a, "a"), (spec.b, "b")))
            link = Link(spec.bandwidth, spec.latency, spec.kind or "link", (a, b))
            self._direct[frozenset((a, b))] = link
            self._connect(a, b, link)
        inter = self.defaults.inter_host
        if inter is not None:
            names = list(self.hosts)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    if frozenset((a, b)) not in self._direct:
                        self._connect(a, b, Link(inter.bandwidth, inter.latency, inter.kind or "network", (a, b)))
        self._routes: dict[tuple[str, str], Link] = {}

    # ------------------------------------------------------------ construction
    @classmethod
    def load(cls, path_or_name: str | Path) -> Cluster:
        """A cluster from a TOML file, or a preset name from ``list_clusters()``."""
        path = Path(path_or_name)
        if path.suffix != ".toml" and not path.is_file():
            path = CLUSTER_DIR / f"{path_or_name}.toml"
            if not path.is_file():
                raise DescriptionError(f"unknown cluster {str(path_or_name)!r}: not a file, and not a preset "
                                       f"({', '.join(list_clusters())})")
        return cls.from_dict(read_toml(path), source=str(path), base_dir=path.parent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<cluster>", base_dir: Path | None = None) -> Cluster:
        """A cluster from parsed TOML; ``source`` names it in errors, ``base_dir`` anchors description paths."""
        spec = validate(ClusterSpec, data, source)
        hosts: dict[str, list[Placement]] = {}
        for h, host in enumerate(spec.hosts):
            if host.name in hosts:
                raise DescriptionError(f"{source}: hosts[{h}].name: host {host.name!r} is listed twice")
            hosts[host.name] = [Placement(_resolve(e, f"{source}: hosts[{h}].devices[{d}]", base_dir), e.count, e.id, e.link)
                                for d, e in enumerate(host.devices)]
        return cls(spec.name, hosts, links=spec.links, defaults=spec.defaults, source=source, description=spec.description)

    @classmethod
    def local(cls) -> Cluster:
        """This host only: the detected host CPU, as ``host0/cpu:0``."""
        return cls.load("host-only")

    @classmethod
    def of(cls, *devices: str | MachineDescription, host: str = "host0", name: str = "custom") -> Cluster:
        """One host holding the given presets or descriptions (one device each), with no defaults."""
        placements = [Placement(get_preset(d) if isinstance(d, str) else d) for d in devices]
        return cls(name, {host: placements}, source=f"Cluster.of({', '.join(p.description.name for p in placements)})")

    # ------------------------------------------------------------ queries
    def device(self, ref: str) -> DeviceInstance:
        """A device by id (``node0/h200:0``), by ``host/stem`` when only one matches, or by preset name when unique."""
        found = self._find(ref)
        if isinstance(found, str):
            raise DescriptionError(f"cluster {self.name!r} ({self.source}): {found}")
        return found

    def link(self, a: str, b: str) -> Link:
        """Bandwidth and latency between two devices or hosts; free within one device."""
        a, b = self._endpoint(a), self._endpoint(b)
        if a == b:
            return Link(math.inf, 0.0, "same device" if a in self._by_id else "same host", (a,))
        key = (a, b)
        if key not in self._routes:
            self._routes[key] = self._direct.get(frozenset(key)) or self._route(a, b)
        return self._routes[key]

    def __iter__(self) -> Iterator[DeviceInstance]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, {len(self.devices)} devices on {len(self.hosts)} hosts)"

    def render(self) -> str:
        """A text overview: hosts, devices with their host links, and declared links."""
        lines = [f"cluster {self.name}" + (f": {self.description}" if self.description else "")]
        for host, devs in self.hosts.items():
            lines.append(f"  host {host}")
            lines += [f"    {d.id:<28} {d.description.name:<26} {d.attach}" for d in devs]
        for link in self._direct.values():
            lines.append(f"  link {' <-> '.join(link.path)}: {link}")
        if self.defaults.inter_host is not None:
            lines.append(f"  other hosts: {self.defaults.inter_host.kind or 'network'}")
        return "\n".join(lines)

    # ------------------------------------------------------------ internals
    def _place(self, host: str, placements: list[Placement]) -> list[DeviceInstance]:
        counters: dict[str, int] = {}
        out = []
        for p in placements:
            stem = p.id or p.description.short_name
            attach = self._attach(p)
            for _ in range(p.count):
                index = counters.get(stem, 0)
                counters[stem] = index + 1
                out.append(DeviceInstance(f"{host}/{stem}:{index}", p.description, host, attach))
        return out

    def _attach(self, p: Placement) -> Link:
        if p.link is not None:
            return Link(p.link.bandwidth, p.link.latency, p.link.kind or "link")
        own, slot = p.description.host_link, self.defaults.intra_host
        if slot is None or own.shared_memory:
            return Link(own.bandwidth, own.latency, own.kind)
        kind = own.kind if not slot.kind or slot.kind == own.kind else f"{own.kind} in a {slot.kind} slot"
        return Link(min(own.bandwidth, slot.bandwidth), max(own.latency, slot.latency), kind)

    def _connect(self, a: str, b: str, link: Link) -> None:
        self._edges[a].append((b, link))
        self._edges[b].append((a, link))

    def _find(self, ref: str) -> DeviceInstance | str:
        """The device ``ref`` names, or why there is none."""
        if ref in self._by_id:
            return self._by_id[ref]
        matches = [d for d in self.devices if d.id.rsplit(":", 1)[0] == ref or d.description.name == ref]
        if len(matches) == 1:
            return matches[0]
        what = "is ambiguous" if matches else "is not a device"
        return f"{ref!r} {what}; devices: {', '.join(d.id for d in (matches or self.devices))}"

    def _endpoint(self, ref: str, where: str | None = None) -> str:
        """A host name or a device id; ``where`` (a field of the file) is named in the error."""
        if ref in self.hosts:
            return ref
        found = self._find(ref)
        if isinstance(found, str):
            prefix = f"{self.source}: {where}" if where else f"cluster {self.name!r} ({self.source})"
            raise DescriptionError(f"{prefix}: {found}; hosts: {', '.join(self.hosts)}")
        return found.id

    def _route(self, a: str, b: str) -> Link:
        """Dijkstra on latency; devices are ends of a route, never stops along it."""
        best: dict[str, float] = {a: 0.0}
        prev: dict[str, tuple[str, Link]] = {}
        queue = [(0.0, a)]
        while queue:
            latency, node = heapq.heappop(queue)
            if node == b:
                break
            if latency > best[node] or (node != a and node in self._by_id):
                continue
            for nxt, link in self._edges[node]:
                cand = latency + link.latency
                if cand < best.get(nxt, math.inf):
                    best[nxt], prev[nxt] = cand, (node, link)
                    heapq.heappush(queue, (cand, nxt))
        if b not in prev:
            hosts = {self._host_of(a), self._host_of(b)}
            raise DescriptionError(f"cluster {self.name!r} ({self.source}): no route between {a} and {b}; hosts "
                                   f"{' and '.join(sorted(hosts))} are not linked: add a [[links]] entry or "
                                   f"[defaults.inter_host]")
        hops: list[Link] = []
        path = [b]
        while path[-1] != a:
            node, link = prev[path[-1]]
            hops.append(link)
            path.append(node)
        hops.reverse()
        kinds = list(dict.fromkeys(h.kind for h in hops))
        return Link(min(h.bandwidth for h in hops), sum(h.latency for h in hops), " + ".join(kinds), tuple(reversed(path)))

    def _host_of(self, node: str) -> str:
        return self._by_id[node].host if node in self._by_id else node


def _resolve(entry: DeviceEntry, where: str, base_dir: Path | None) -> MachineDescription:
    """The description a device entry names; errors say which entry of which file."""
    try:
        if entry.preset is not None:
            return get_preset(entry.preset)
        path = Path(entry.description)  # type: ignore[arg-type]
        return load_description(path if path.is_absolute() or base_dir is None else base_dir / path)
    except DescriptionError as exc:
        field_name = "preset" if entry.preset is not None else "description"
        raise DescriptionError(f"{where}.{field_name}: {exc}") from None


def list_clusters() -> list[str]:
    """Names of the cluster presets in clusters/*.toml."""
    return sorted(p.stem for p in CLUSTER_DIR.glob("*.toml"))
