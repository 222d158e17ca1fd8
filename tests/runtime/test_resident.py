"""Device-resident data: each cut tensor moves once, values stay on their device, arenas stop allocating after warm-up."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import numpy as np
import pytest

import hetflow as hf
from hetflow.devices import BaseDevice
from hetflow.ir import Graph
from hetflow.ir.registry import _sample_bytes
from hetflow.runtime import Arena, TransferLog, release, session
from hetflow.runtime.transfer import copy
from hetflow.targets import get_preset

DATACENTER = "datacenter-node"
CPU, GPU = "node0/cpu:0", "node0/h200:0"


def shared_cut(batch: int | str = 8, *, expose: bool = False) -> Graph:
    """``a`` is made on the CPU and read by two subgraphs on the GPU, with a CPU subgraph between them.

    ``expose``: ``b`` (made on the GPU, read on the CPU) is also a graph output."""
    rng = np.random.default_rng(0)
    g = Graph("shared_cut")
    x = g.add_input("x", "float32", (batch, 64))
    w = g.constant(rng.standard_normal((64, 64)).astype(np.float32) * 0.1, "w")
    a = g.add_node("matmul", [x, w], name="mm").outputs[0]
    b = g.add_node("relu", [a], name="gpu_relu").outputs[0]
    c = g.add_node("tanh", [b], name="cpu_tanh").outputs[0]
    g.outputs = [g.add_node("add", [a, c], name="gpu_join").outputs[0], *([b] if expose else [])]
    return g


PINS = {"mm": CPU, "gpu_relu": GPU, "cpu_tanh": CPU, "gpu_join": GPU}


def compile_shared(batch: int | str = 8) -> hf.Plan:
    return hf.compile(shared_cut(batch), DATACENTER, pins=PINS, emulate_with="reference")


def feeds(batch: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((batch, 64)).astype(np.float32)}


def cut_bytes(graph: Graph, placement: dict[str, str], samples: int) -> int:
    """Independently of the plan's transfer list: every value made on one device, once per other device reading it."""
    total = 0
    for node in graph.nodes:
        for out in node.outputs:
            readers = {placement[n.name] for n in graph.nodes if any(v is out for v in n.inputs)}
            total += samples * _sample_bytes(out.type) * len(readers - {placement[node.name]})
    return total


def test_each_cut_tensor_moves_exactly_once():
    plan = compile_shared()
    assert [s.device for s in plan.subgraphs] == [CPU, GPU, CPU, GPU]
    out = plan.run(feeds())
    want = hf.compile(plan.graph, backend="reference").run(feeds())
    name = plan.graph.outputs[0].name
    np.testing.assert_allclose(out[name], want[name], rtol=1e-5, atol=1e-5)
    report = plan.last_run
    expected = cut_bytes(plan.graph, plan.placement(), 1)
    assert expected == 3 * 8 * 64 * 4  # a to the GPU once (read there twice), b back to the CPU, c to the GPU
    assert report.bytes_between_devices(plan.home) == expected
    planned: dict[str, list[int]] = {}
    for t in plan.transfers:
        planned.setdefault(f"{t.src} -> {t.dst}", []).append(t.nbytes)
    moved = {link: (count.transfers, count.nbytes) for link, count in report.moved.links.items()}
    assert moved == {link: (len(sizes), sum(sizes)) for link, sizes in planned.items()}  # what the plan said, once
    assert moved[f"{CPU} -> {GPU}"] == (2, 2 * 8 * 64 * 4)  # a and c; a is read twice there


def test_values_stay_on_their_device_until_needed_elsewhere():
    plan = compile_shared()
    plan.run(feeds())
    executor = session(plan)
    reads = {d.id: d.stats().bytes_out for d in executor.devices}
    assert reads[CPU] == 0  # a and c went to the GPU device to device, nothing came back to the host
    assert reads[GPU] == 8 * 64 * 4  # only the graph's output was read home
    moved = plan.last_run.moved
    assert moved.bytes_by_route("peer") == plan.last_run.bytes_between_devices(plan.home)  # both in this process
    assert moved.bytes_by_route("staged") == 0
    release(plan)


def test_nothing_is_allocated_per_item_after_warm_up():
    plan = compile_shared()
    plan.run(feeds(seed=0))
    warm = plan.last_run.allocations
    assert warm > 0
    executor = session(plan)
    before = {d.id: d.stats().allocations for d in executor.devices}
    outs = plan.run_stream([feeds(seed=s) for s in range(1, 6)])
    assert plan.last_run.allocations == 0
    assert {d.id: d.stats().allocations for d in executor.devices} == before
    oracle = hf.compile(plan.graph, backend="reference")
    for s, out in zip(range(1, 6), outs):
        for name, array in oracle.run(feeds(seed=s)).items():
            np.testing.assert_allclose(out[name], array, rtol=1e-5, atol=1e-5)
    release(plan)


def test_a_new_batch_size_warms_up_once_more():
    plan = compile_shared("N")
    plan.run(feeds(4))
    plan.run(feeds(4))
    assert plan.last_run.allocations == 0
    plan.run(feeds(3))
    assert plan.last_run.allocations > 0  # other shapes: other buffers
    plan.run(feeds(3))
    assert plan.last_run.allocations == 0
    release(plan)


def test_a_session_lives_with_its_plan():
    plan = compile_shared()
    plan.run(feeds())
    executor = session(plan)
    devices = executor.devices
    plan.run(feeds())
    assert session(plan) is executor
    del plan, executor
    gc.collect()
    assert all(d.info().state == "closed" for d in devices)


def test_a_replaced_artifact_gets_a_new_session():
    plan = compile_shared()
    plan.run(feeds())
    first = session(plan)
    plan.subgraphs[0].executable = hf.compile(plan.subgraphs[0].graph, backend="reference").subgraphs[0].executable
    plan.run(feeds())
    assert session(plan) is not first and not first.devices
    release(plan)


class OtherMemory(BaseDevice):
    """Buffers in memory no peer of the default domain reaches: transfers must be staged through the host."""

    memory_domain = "elsewhere"


def test_transfers_without_a_direct_path_are_staged_through_the_host_and_counted():
    desc = get_preset("host/cpu")
    a, b, c = BaseDevice(desc, "a"), BaseDevice(desc, "b"), OtherMemory(desc, "c")
    try:
        log = TransferLog()
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        src = a.alloc((x.shape, x.dtype))
        a.write(src, x)
        for dst_dev, route in ((b, "peer"), (c, "staged")):
            dst = dst_dev.alloc((x.shape, x.dtype))
            assert copy(a, src, dst_dev, dst, log) == route
            np.testing.assert_array_equal(dst_dev.read(dst), x)
        assert log.links["a -> b"].routes == {"peer": x.nbytes}
        assert log.links["a -> c"].routes == {"staged": x.nbytes}
        assert a.stats().bytes_peer == x.nbytes and a.stats().bytes_out == x.nbytes  # the staged copy was a read
    finally:
        for d in (a, b, c):
            d.close()


def test_the_arena_reuses_buffers_by_shape():
    with BaseDevice(get_preset("host/cpu"), "a") as dev:
        arena = Arena(dev)
        first = arena.take((2, 3), "float32")
        arena.give(first)
        assert arena.take((2, 3), np.float32) is first
        other = arena.take((3, 2), "float32")
        assert other is not first and arena.allocations == 2 == dev.stats().allocations


def test_an_output_read_elsewhere_too_goes_home_once_and_its_buffer_is_reused():
    plan = hf.compile(shared_cut(expose=True), DATACENTER, pins=PINS, emulate_with="reference")
    oracle = hf.compile(plan.graph, backend="reference")
    for seed in range(3):
        out = plan.run(feeds(seed=seed))
        for name, array in oracle.run(feeds(seed=seed)).items():
            np.testing.assert_allclose(out[name], array, rtol=1e-5, atol=1e-5)
    links = plan.last_run.moved.links
    assert (links[f"{GPU} -> {plan.home}"].transfers, links[f"{GPU} -> {CPU}"].transfers) == (2, 1)
    assert plan.last_run.allocations == 0
    release(plan)


def test_without_a_registered_runtime_a_plan_says_so(monkeypatch):
    import hetflow.partition.plan as plan_module

    plan = compile_shared()
    monkeypatch.setattr(plan_module, "_RUNNER", [])
    with pytest.raises(hf.HetflowError, match="no runtime is registered"):
        plan.run(feeds())


def test_partition_never_imports_the_runtime_or_the_compiler():
    root = Path(hf.__file__).parent / "partition"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("hetflow.runtime", "hetflow.compiler", "hetflow.api")), \
                    f"{path.name}: {node.module}"


@pytest.mark.parametrize("items", [1, 3])
def test_run_report_names_links_and_allocations(items):
    plan = compile_shared()
    plan.run_stream([feeds(seed=s) for s in range(items)])
    text = str(plan.last_run)
    assert f"{CPU} -> {GPU}: {2 * items} transfer(s)" in text and "device buffers allocated" in text
    release(plan)
