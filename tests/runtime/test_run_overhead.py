"""What one run costs the runtime: work that depends only on the plan is done once per session, a run executed inline
makes no synchronization objects, and the shortcuts keep every check and count they stand in for."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import hetflow as hf
import hetflow.runtime.executor as executor_module
from hetflow.devices import DeviceError, open_device
from hetflow.ir import Graph
from hetflow.runtime import release
from hetflow.runtime.clock import Clock


def relu(n: int = 4) -> Graph:
    g = Graph("relu")
    x = g.add_input("x", "float32", (n,))
    g.outputs = [g.add_node("relu", [x], name="r").outputs[0]]
    return g


def two_nodes() -> Graph:
    g = Graph("two")
    x = g.add_input("x", "float32", (4, 8))
    a = g.add_node("relu", [x], name="on_cpu").outputs[0]
    g.outputs = [g.add_node("tanh", [a], name="on_gpu").outputs[0]]
    return g


def test_what_depends_only_on_the_plan_is_worked_out_once_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"uses": 0, "bindable": 0}
    item_uses, bindable = executor_module._item_uses, executor_module._bindable_outputs

    def counting_uses(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - passes through
        calls["uses"] += 1
        return item_uses(*args, **kwargs)

    def counting_bindable(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - passes through
        calls["bindable"] += 1
        return bindable(*args, **kwargs)

    plan = hf.compile(relu(), "host-only")  # (compiling may run plans of its own: counted from here)
    monkeypatch.setattr(executor_module, "_item_uses", counting_uses)
    monkeypatch.setattr(executor_module, "_bindable_outputs", counting_bindable)
    x = np.array([-1.0, 2.0, -3.0, 4.0], np.float32)
    for _ in range(5):
        np.testing.assert_array_equal(plan.run({"x": x})[plan.graph.outputs[0].name], np.maximum(x, 0))
    assert calls == {"uses": 1, "bindable": len(plan.subgraphs)}
    release(plan)


def test_an_inline_run_makes_no_event_or_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = hf.compile(relu(), "host-only")
    x = np.ones(4, np.float32)
    plan.run({"x": x})  # warm: the session opens (its worker threads and their events are made here)
    made: list[str] = []
    event, condition = threading.Event, threading.Condition

    def counting(kind: type, name: str):  # noqa: ANN202 - a stand-in constructor
        def make(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            made.append(name)
            return kind(*args, **kwargs)
        return make

    monkeypatch.setattr(threading, "Event", counting(event, "Event"))
    monkeypatch.setattr(threading, "Condition", counting(condition, "Condition"))
    for _ in range(3):
        plan.run({"x": x})
    assert made == []
    assert plan.last_run is not None and plan.last_run.moved.nbytes == 2 * x.nbytes  # in and home, counted
    release(plan)


def test_a_run_is_waited_for_whether_it_ran_inline_or_on_the_devices_thread() -> None:
    device = open_device("host/cpu", driver="reference")
    try:
        g = relu()
        program = device.load(g)
        buf = device.alloc(((4,), "float32"))
        device.write(buf, np.array([-1, 1, -2, 2], np.float32))
        inline = device.run_here(program, {"x": buf})
        assert inline.done()  # finished before run_here returned: waiting blocks on nothing
        queued = device.launch(program, {"x": buf})
        got = [queued.wait(30), inline.wait()]
        for outputs in got:
            np.testing.assert_array_equal(device.read(outputs[g.outputs[0].name]), [0, 1, 0, 2])
        assert device.stats().completed == 2 and device.info().pending_runs == 0
    finally:
        device.close()


def test_a_static_port_refuses_a_wrong_buffer_after_good_launches() -> None:
    device = open_device("host/cpu", driver="reference")
    try:
        program = device.load(relu())
        good = device.alloc(((4,), "float32"))
        device.write(good, np.ones(4, np.float32))
        for _ in range(2):
            device.run_here(program, {"x": good}).wait()
        raw = device.alloc(16)  # a raw buffer of the right size: the full check accepts it
        device.write(raw, np.ones(4, np.float32))
        device.run_here(program, {"x": raw}).wait()
        for wrong, why in [(device.alloc(((5,), "float32")), "shape"), (device.alloc(((4,), "int32")), "int32"),
                           (device.alloc(12), "12 bytes")]:
            with pytest.raises(DeviceError, match=why):
                device.run_here(program, {"x": wrong})
    finally:
        device.close()


def test_clock_busy_time_is_the_sum_of_its_spans_and_spans_come_in_order() -> None:
    clock = Clock(detail=False)
    clock.transfer("h -> d", 0.0, 1.0, item=0, value="x", nbytes=4, route="write")
    end = clock.launch_whole("d", "s0", item=0, ready=1.0, seconds=2.0, nodes=3, source="measured")
    clock.launch("d", "s1", item=0, nodes=["a", "b"], ready=[end, end], seconds=[0.5, 0.5], atomic=False,
                 source="model:x")
    spans = clock.spans
    assert [(s.track, s.kind, s.name) for s in spans] == [
        ("h -> d", "transfer", "x"), ("d", "subgraph", "s0"), ("d", "subgraph", "s1"), ("d", "node", "a"),
        ("d", "node", "b")]
    for track in ("h -> d", "d"):
        assert clock.busy(track) == sum(s.end - s.start for s in spans if s.track == track and s.kind != "node")
    assert clock.spans is spans and clock.transfers == 1


def test_one_item_through_two_emulated_devices_reports_as_before() -> None:
    cpu, gpu = "node0/cpu:0", "node0/h200:0"
    plan = hf.compile(two_nodes(), "datacenter-node", emulate_with="reference", pins={"on_cpu": cpu, "on_gpu": gpu})
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8)
    out = plan.run({"x": x})[plan.graph.outputs[0].name]
    np.testing.assert_allclose(out, np.tanh(np.maximum(x, 0)), rtol=1e-6)
    report = plan.last_run
    assert report is not None and report.modelled and report.items == 1
    assert set(report.device_busy) == {cpu, gpu}
    assert report.moved.nbytes == 3 * x.nbytes  # in, across, home: each counted once
    assert report.latency == pytest.approx(max(s.end for s in report.spans))
    release(plan)
