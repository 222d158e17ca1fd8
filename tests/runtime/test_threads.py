"""Which thread runs what: the host's share of a plan on the caller's thread, every other device on one thread that
outlives the run (a thread that launches OpenMP code owns a team of OpenMP threads for as long as it lives); one item
through devices of which at most one is present runs wholly on the caller's thread, in plan order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import hetflow as hf
from hetflow.devices import ExecutableDevice
from hetflow.ir import Graph
from hetflow.runtime import release
from hetflow.runtime.executor import Executor
from hetflow.targets import Cluster, detect_host

CPU, GPU = "node0/cpu:0", "node0/h200:0"


def two_device_graph() -> Graph:
    g = Graph("two_devices")
    x = g.add_input("x", "float32", (4, 16))
    a = g.add_node("relu", [x], name="on_cpu").outputs[0]
    b = g.add_node("tanh", [a], name="on_gpu").outputs[0]
    g.outputs = [g.add_node("neg", [b], name="back_on_cpu").outputs[0]]
    return g


@pytest.fixture
def threads_by_device(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = {}
    step = Executor._step

    def recording(self, plan, item, sub, state):  # noqa: ANN001, ANN202 - Executor._step's own signature
        seen.setdefault(sub.key[0], set()).add(threading.get_ident())
        return step(self, plan, item, sub, state)

    monkeypatch.setattr(Executor, "_step", recording)
    return seen


def feeds() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)}


def test_a_host_plan_computes_on_the_callers_thread(threads_by_device: dict[str, set[int]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    computed: set[int] = set()
    execute = ExecutableDevice.execute

    def recording(self, program, inputs):  # noqa: ANN001, ANN202 - ExecutableDevice.execute's own signature
        computed.add(threading.get_ident())
        return execute(self, program, inputs)

    monkeypatch.setattr(ExecutableDevice, "execute", recording)
    plan = hf.compile(two_device_graph(), Cluster.of(detect_host(), name="host-only"))
    assert len(plan.devices) == 1
    for _ in range(3):
        plan.run(feeds())
    assert list(threads_by_device.values()) == [{threading.get_ident()}]
    assert computed == {threading.get_ident()}  # not on the device's worker thread: the kernels share one OpenMP team
    release(plan)


def test_other_devices_keep_one_thread_across_runs(threads_by_device: dict[str, set[int]]) -> None:
    plan = hf.compile(two_device_graph(), "datacenter-node", emulate_with="reference",
                      pins={"on_cpu": CPU, "on_gpu": GPU, "back_on_cpu": CPU})
    want = -np.tanh(np.maximum(feeds()["x"], 0))
    for _ in range(3):  # a stream: pipelined, a thread per device
        for out in plan.run_stream([feeds(), feeds()]):
            np.testing.assert_allclose(out[plan.graph.outputs[0].name], want, rtol=1e-6)
    gpu_threads = threads_by_device[GPU]
    assert len(gpu_threads) == 1 and threading.get_ident() not in gpu_threads  # one thread, the same every run
    release(plan)
    assert not any(t.ident in gpu_threads for t in threading.enumerate())  # closed with the session


def test_one_item_on_emulated_devices_runs_on_the_callers_thread_as_a_stream_would(
        threads_by_device: dict[str, set[int]]) -> None:
    plan = hf.compile(two_device_graph(), "datacenter-node", emulate_with="reference",
                      pins={"on_cpu": CPU, "on_gpu": GPU, "back_on_cpu": CPU})
    name = plan.graph.outputs[0].name
    alone = plan.run(feeds())[name]
    report = plan.last_run
    assert report is not None and report.modelled
    assert set(threads_by_device) == {CPU, GPU}
    assert all(seen == {threading.get_ident()} for seen in threads_by_device.values())  # no hand-off to a worker
    threads_by_device.clear()
    (streamed, _) = plan.run_stream([feeds(), feeds()])
    assert threading.get_ident() not in threads_by_device[GPU]  # a stream hands the GPU's share to its thread
    np.testing.assert_array_equal(alone, streamed[name])
    first = [s for s in plan.last_run.spans if s.item == 0]
    # the same discrete-event clock either way: every track's spans placed in its device's order
    assert sorted((s.track, s.start, s.end, s.kind, s.name) for s in report.spans) == \
           sorted((s.track, s.start, s.end, s.kind, s.name) for s in first)
    assert report.moved.links.keys() <= plan.last_run.moved.links.keys()
    release(plan)
