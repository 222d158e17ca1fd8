"""Capability: which device can run which node, asked before anything is lowered.

A device can run a node when its description's capability rules allow it (ops, dtypes, per-op
constraints) and, where the description's backend is installed, that backend's table does too.
A CPU may also run what its own backend cannot on the NumPy reference backend: that is the
host fallback, which ``no_fallback`` turns off, as it turns off placing anything on a CPU when
the cluster has an accelerator (ONNX Runtime users' complaint: silent CPU fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetflow.backends import Backend, get_backend
from hetflow.ir import Graph, Node
from hetflow.ir.errors import HetflowError
from hetflow.targets import DeviceInstance, is_this_host

FALLBACK_BACKEND = "reference"
"""What the host runs when its own backend cannot: the NumPy interpreter runs every IR op."""


class PlacementError(HetflowError):
    """No placement exists: some node has no device, a pin cannot be honoured, a bad objective."""


def is_present(device: DeviceInstance) -> bool:
    """Whether ``device`` is this machine itself (its time can be measured), not a description to emulate."""
    return is_this_host(device.description)


def backend_or_none(name: str) -> Backend | None:
    """The backend called ``name``, or None when it is not installed (its description rules still apply)."""
    try:
        return get_backend(name)
    except HetflowError:
        return None


@dataclass
class DeviceCapability:
    """What one device can run, with the backends it would use."""

    device: DeviceInstance
    backends: list[tuple[str, Backend]]  # in order of preference; empty when none is installed
    fallback: bool  # whether this device also takes the reference backend
    _cache: dict[tuple, tuple[str | None, str | None]] = field(default_factory=dict, repr=False)

    def check(self, node: Node, key: tuple | None = None) -> tuple[str | None, str | None]:
        """(backend that would run ``node``, None) or (None, why the device cannot run it).

        ``key`` stands for ``signature(node)`` when the caller has it already (any hashable that is
        equal exactly when the signatures are).
        """
        key = signature(node) if key is None else key
        if key not in self._cache:
            self._cache[key] = self._check(node)
        return self._cache[key]

    def _check(self, node: Node) -> tuple[str | None, str | None]:
        reason = self.device.description.check(node)
        if reason is not None:
            return None, reason
        if not self.backends:
            return self.device.backend, None  # not installed: the description's rules are the answer
        reasons = []
        for name, backend in self.backends:
            why = backend.supports(node)
            if why is None:
                return name, None
            reasons.append(f"backend {name}: {why}")
        return None, "; ".join(reasons)


def device_capabilities(devices: list[DeviceInstance], *, no_fallback: bool = False) -> list[DeviceCapability]:
    """One DeviceCapability per device, the host fallback included unless ``no_fallback``."""
    out = []
    for device in devices:
        backends = []
        own = backend_or_none(device.backend)
        if own is not None:
            backends.append((device.backend, own))
        fallback = device.kind == "cpu" and not no_fallback and device.backend != FALLBACK_BACKEND
        if fallback or (is_present(device) and own is None):
            backends.append((FALLBACK_BACKEND, get_backend(FALLBACK_BACKEND)))
        out.append(DeviceCapability(device, backends, fallback))
    return out


@dataclass
class CapabilityTable:
    """Per node and device: the backend to use, or the reason the device cannot run the node."""

    graph: Graph
    devices: list[DeviceInstance]
    backend: list[list[str | None]]  # [node][device]
    reason: list[list[str | None]]  # [node][device]
    excluded: list[bool]  # devices ruled out wholesale (no_fallback: CPUs when accelerators exist)

    def can_run(self, n: int, d: int) -> bool:
        return self.backend[n][d] is not None and not self.excluded[d]

    def why_not(self, n: int, d: int) -> str:
        if self.excluded[d]:
            return "a CPU, and no_fallback keeps work on the accelerators"
        return self.reason[n][d] or ""

    def unplaceable(self, n: int) -> str:
        """The one-line error for a node no device can run."""
        node = self.graph.nodes[n]
        why = "; ".join(f"{dev.id}: {self.why_not(n, d)}" for d, dev in enumerate(self.devices))
        return f"node {node.name!r} ({node.op}) cannot run on any device of the cluster: {why}"


def build_capability(graph: Graph, devices: list[DeviceInstance], *, no_fallback: bool = False) -> CapabilityTable:
    """Ask every device about every node; raise PlacementError naming the first node nobody can run."""
    caps = device_capabilities(devices, no_fallback=no_fallback)
    has_accelerator = any(d.kind != "cpu" for d in devices)
    excluded = [no_fallback and has_accelerator and d.kind == "cpu" for d in devices]
    backend: list[list[str | None]] = []
    reason: list[list[str | None]] = []
    interned: dict[tuple, int] = {}
    for node in graph.nodes:
        key = interned.setdefault(signature(node), len(interned))  # hash the signature once, not per device
        answers = [cap.check(node, (key,)) for cap in caps]
        backend.append([b for b, _ in answers])
        reason.append([r for _, r in answers])
    table = CapabilityTable(graph, devices, backend, reason, excluded)
    for n in range(len(graph.nodes)):
        if not any(table.can_run(n, d) for d in range(len(devices))):
            prefix = "no_fallback: " if no_fallback else ""
            raise PlacementError(prefix + table.unplaceable(n))
    return table


def signature(node: Node) -> tuple:
    """What a capability answer or a cost estimate can depend on: op, attributes, operand types, constness."""
    attrs = tuple(sorted((k, repr(v)) for k, v in node.attrs.items()))
    operands = tuple(None if v is None else (v.type, v.is_const) for v in node.inputs)
    return node.op, attrs, operands, tuple(v.type for v in node.outputs)
