"""``hetflow profile``: time ops on the devices that are really here, to replace the roofline for them.

For every device of a cluster that is this machine (the detected host CPU), each distinct node
shape of a model (or of a small built-in suite of matmuls, convolutions and elementwise ops)
is compiled alone with the backend the device would use and timed: the median of several runs
after a warm-up. The profile keeps those times by shape (``measured``) and, per op family, the
median ratio of measured to roofline time, which scales the roofline for shapes it has not
seen (``model:profile``). Emulated devices are never profiled: their host wall clock says
nothing about the chip they stand for.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from hetflow.backends import get_backend
from hetflow.ir import Graph, Node, get_op
from hetflow.ir.subgraph import extract
from hetflow.partition.capability import device_capabilities, is_present
from hetflow.partition.cost import Profile, roofline, shape_key
from hetflow.targets import Cluster, DeviceInstance, MachineDescription


def builtin_suite() -> Graph:
    """Representative shapes of the op families that dominate CNNs and MLPs."""
    rng = np.random.default_rng(0)
    g = Graph("profile-suite")
    for n in (128, 256, 512):
        a = g.add_input(f"mm{n}", "float32", (n, n))
        g.add_node("matmul", [a, g.constant(rng.random((n, n), np.float32), f"w{n}")], name=f"matmul_{n}")
    for c, hw in ((64, 56), (128, 28)):
        x = g.add_input(f"img{c}", "float32", (1, c, hw, hw))
        w = g.constant(rng.random((c, c, 3, 3), np.float32), f"k{c}")
        y = g.add_node("conv", [x, w], {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1)},
                       name=f"conv_{c}").outputs[0]
        g.add_node("relu", [y], name=f"relu_{c}")
        g.add_node("add", [y, x], name=f"add_{c}")
    return g


def profile_cluster(cluster: Cluster, graph: Graph | None = None, *, repeats: int = 5,
                    progress: Callable[[str], None] | None = None) -> Profile:
    """Measure every distinct node shape of ``graph`` (default: the built-in suite) on the present devices."""
    graph = graph or builtin_suite()
    present = present_devices(cluster)
    profile = Profile(machine=present[0].description.model if present else "")
    for device, capability in zip(present, device_capabilities(present)):
        times: dict[str, float] = {}
        ratios: dict[str, list[float]] = {}
        for node in _distinct(graph):
            backend, why = capability.check(node)
            if backend is None or not _static(node):
                continue
            seconds = time_node(graph, node, backend, repeats)
            times[shape_key(node)] = seconds
            model = roofline(node, device.description)
            if model > 0:
                ratios.setdefault(get_op(node.op).family, []).append(seconds / model)
            if progress is not None:
                progress(f"{device.id}: {node.name} ({node.op}) {seconds * 1e6:.1f} us with {backend}")
        profile.times[device.description.name] = times
        profile.family_ratio[device.description.name] = {f: statistics.median(r) for f, r in ratios.items()}
    return profile


def add_measured(profile: Profile, description: MachineDescription, graph: Graph,
                 measure: Callable[[Graph, Node], float | None],
                 progress: Callable[[str], None] | None = None) -> int:
    """File ``measure``'s seconds for each distinct static node shape of ``graph`` under ``description``: they
    replace the modelled time of that shape (``measured``), and per op family the median measured / roofline
    ratio scales the roofline for other shapes (``model:profile``). A None from ``measure`` (a node with no kernel
    of its own) leaves that shape modelled. Returns how many shapes were measured."""
    times = profile.times.setdefault(description.name, {})
    count = 0
    for node in _distinct(graph):
        if not _static(node):
            continue
        seconds = measure(graph, node)
        if seconds is None:
            continue
        times[shape_key(node)] = seconds
        count += 1
        if progress is not None:
            progress(f"{description.name}: {node.name} ({node.op}) {seconds * 1e6:.1f} us (measured)")
    profile.family_ratio[description.name] = _family_ratios(graph, description, times)
    return count


def _family_ratios(graph: Graph, description: MachineDescription, times: dict[str, float]) -> dict[str, float]:
    ratios: dict[str, list[float]] = {}
    for node in _distinct(graph):
        seconds = times.get(shape_key(node))
        model = roofline(node, description) if seconds is not None else 0.0
        if model > 0:
            ratios.setdefault(get_op(node.op).family, []).append(seconds / model)  # type: ignore[operator]
    return {family: statistics.median(r) for family, r in ratios.items()}


def time_node(graph: Graph, node: Node, backend: str, repeats: int) -> float:
    """Median seconds of ``node`` alone, compiled by ``backend``, after one warm-up run."""
    sub = extract(graph, [node], {id(o) for o in node.outputs}, f"profile.{node.name}")
    executable = get_backend(backend).compile(sub)
    rng = np.random.default_rng(0)
    feeds = {v.name: _random(v.type.shape, v.type.dtype.numpy, rng) for v in sub.inputs}
    return median_seconds(lambda: executable.run(feeds), repeats, warmup=1)


def median_seconds(run: Callable[[], object], repeats: int, *, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``run()`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _random(shape: tuple, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(0, 4, shape).astype(dtype)


def _static(node: Node) -> bool:
    return all(v is None or v.type.is_static for v in (*node.inputs, *node.outputs))


def _distinct(graph: Graph) -> list[Node]:
    seen: set[str] = set()
    out = []
    for node in graph.nodes:
        key = shape_key(node)
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def present_devices(cluster: Cluster) -> list[DeviceInstance]:
    """The devices of ``cluster`` that are this machine (and so can be profiled)."""
    return [d for d in cluster.devices if is_present(d)]
