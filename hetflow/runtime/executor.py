"""Execute a Plan through the device API: a worker per device, transfers between devices, pipelined items.

Each device gets one worker thread that walks its share of the schedule: for every item, the
subgraphs placed on it in plan order (for a replicated pipeline stage, every r-th item). A
subgraph waits for its inputs, has them written into buffers on its device (the transfer), is
launched, and its outputs are read back for whoever needs them next. Independent subgraphs on
different devices therefore run at once, and item k+1 enters the first device while item k is
still in the last: the stream is pipelined.

Timing is kept by a discrete-event clock (``runtime.clock``): devices contribute their own run
times (``measured`` on this machine, ``model:<name>`` when emulated) and links ``model:link``
times; the report says which, and never calls a modelled time measured. The host's wall clock
for the whole run is reported separately: for emulated devices it is the cost of emulating.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.devices import Buffer, Device, driver_factory, open_device
from hetflow.ir.errors import HetflowError
from hetflow.partition.plan import Plan, Subgraph, combine_sources
from hetflow.runtime.clock import Clock, Span
from hetflow.runtime.emulated import EmulatedArtifact, EmulatedDevice
from hetflow.runtime.trace import write_trace
from hetflow.targets.units import format_seconds


@dataclass
class RunReport:
    """What a run cost: end-to-end times from the clock, each device's busy time, and their sources."""

    items: int
    latency: float  # from inputs handed over to the first item's last output home
    makespan: float  # until the last item's last output is home
    source: str  # e.g. "model:discrete-event over model:roofline + model:link"
    wall_s: float  # this host's wall clock for the whole run: measured, but of the emulation when emulated
    device_busy: dict[str, tuple[float, str]]  # device -> (busy seconds, time source)
    spans: list[Span] = field(default_factory=list, repr=False)

    @property
    def throughput(self) -> float:
        return self.items / self.makespan if self.makespan > 0 else float("inf")

    @property
    def modelled(self) -> bool:
        return self.source != "measured"

    def __str__(self) -> str:
        lines = [f"{self.items} item(s): latency {format_seconds(self.latency)}, all done at "
                 f"{format_seconds(self.makespan)} ({self.throughput:,.1f} items/s); times are {self.source}"]
        if self.modelled:
            lines.append("  (modelled: a discrete-event simulation composed from the device and link times below, "
                         "not a wall-clock measurement)")
        for device, (busy, source) in self.device_busy.items():
            lines.append(f"  {device}: busy {format_seconds(busy)} ({source})")
        lines.append(f"  host wall clock for the run: {format_seconds(self.wall_s)} (measured"
                     + ("; the cost of emulating, not of the devices)" if self.modelled else ")"))
        return "\n".join(lines)


class _Abort(Exception):
    """Another worker failed; this one stops."""


class Executor:
    """Devices opened and programs loaded for one Plan; ``run`` may be called many times."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._devices: dict[tuple[str, str], Device] = {}
        self._programs: dict[tuple[str, str], tuple[Device, Any]] = {}
        self._plan_devices = {d.id: d for d in plan.devices}
        try:
            for sub in plan.subgraphs:
                artifact = self._artifact(sub)
                for replica in sub.replicas:
                    device = self._open(replica, sub.driver)
                    self._programs[(sub.name, replica)] = (device, device.load(artifact, name=sub.name))
        except BaseException:
            self.close()
            raise

    def _artifact(self, sub: Subgraph) -> Any:
        if sub.driver != "emulated":
            return sub.executable
        assert sub.graph is not None
        return EmulatedArtifact(sub.executable, sub.graph, [e.seconds for e in sub.node_estimates],
                                combine_sources(e.source for e in sub.node_estimates))

    def _open(self, device_id: str, driver: str) -> Device:
        key = (device_id, driver)
        if key not in self._devices:
            pd = self._plan_devices[device_id]
            if driver == "emulated":
                source = combine_sources(e.source for s in self.plan.subgraphs if device_id in s.replicas
                                         for e in s.node_estimates)
                self._devices[key] = EmulatedDevice(pd.description, device_id, pd.host, time_source=source)
            else:
                # a backend without a driver of its own still runs on this host, timed by the host driver
                name = driver if driver_factory(driver) is not None else "host"
                self._devices[key] = open_device(pd.description, driver=name, instance_id=device_id)
        return self._devices[key]

    def close(self) -> None:
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self._programs.clear()

    # ------------------------------------------------------------ running
    def run(self, items: list[dict[str, np.ndarray]], *, trace: str | Path | None = None
            ) -> tuple[list[dict[str, np.ndarray]], RunReport]:
        """Run every item (already checked against the graph's inputs); outputs in item order, and the report."""
        state = _RunState(self.plan, items)
        work: dict[str, list[tuple[int, Subgraph]]] = {}
        for i in range(len(items)):
            for sub in self.plan.subgraphs:
                work.setdefault(sub.replicas[i % len(sub.replicas)], []).append((i, sub))
        started = time.perf_counter()
        threads = [threading.Thread(target=self._worker, args=(device, tasks, state), name=f"hetflow-run:{device}")
                   for device, tasks in work.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if state.error is not None:
            raise state.error
        outputs, latencies = self._deliver(state)
        wall = time.perf_counter() - started
        report = self._report(state, latencies, wall)
        if trace is not None:
            links = sorted({s.track for s in state.clock.spans if s.kind == "transfer"})
            used = sorted({s.track for s in state.clock.spans if s.kind != "transfer"})
            write_trace(trace, state.clock.spans, used, links, title=f"{self.plan.graph.name} ({self.plan.objective})",
                        clock=report.source)
        return outputs, report

    def _worker(self, device_id: str, tasks: list[tuple[int, Subgraph]], state: _RunState) -> None:
        try:
            for item, sub in tasks:
                self._step(device_id, item, sub, state)
        except _Abort:
            return
        except BaseException as exc:
            state.fail(exc if isinstance(exc, HetflowError) else
                       HetflowError(f"subgraph on {device_id} failed: {type(exc).__name__}: {exc}"))

    def _step(self, device_id: str, item: int, sub: Subgraph, state: _RunState) -> None:
        device, program = self._programs[(sub.name, device_id)]
        pd = self._plan_devices[device_id]
        arrival: dict[str, float] = {}
        bindings: dict[str, Buffer] = {}
        for v in sub.inputs:
            array, src, at = state.wait(item, v)
            if src != device_id:
                seconds = self.plan.link_time(src, device_id, array.nbytes)
                at = state.clock.transfer(f"{src} -> {device_id}", at, seconds, item=item, value=v,
                                          nbytes=array.nbytes) + pd.penalty
            arrival[v] = at
            buffer = device.alloc((array.shape, array.dtype))
            device.write(buffer, array)
            bindings[v] = buffer
        run = device.launch(program, bindings)
        try:
            outputs = run.wait()
            results = {name: device.read(buf) for name, buf in outputs.items()}
        finally:
            for buf in bindings.values():
                device.free(buf)
        for buf in outputs.values():
            device.free(buf)
        finish = self._clock(state, device_id, item, sub, arrival, run)
        for v in sub.outputs:
            state.publish(item, v, results[v], device_id, finish[v])

    def _clock(self, state: _RunState, device_id: str, item: int, sub: Subgraph, arrival: dict[str, float],
               run: Any) -> dict[str, float]:
        """Place the run on the clock; returns when each output value is available on the device."""
        assert sub.graph is not None
        estimates = [e.seconds for e in sub.node_estimates]
        total = sum(estimates)
        busy = float(run.busy_s or 0.0)
        seconds = [busy * e / total for e in estimates] if total > 0 else [busy / max(len(estimates), 1)] * len(estimates)
        inputs = set(sub.inputs)
        ready = [max([arrival[v.name] for v in n.inputs if v is not None and v.name in inputs], default=0.0)
                 for n in sub.graph.nodes]
        atomic = run.time_source == "measured"
        done = state.clock.launch(device_id, sub.name, item=item, nodes=[n.name for n in sub.graph.nodes], ready=ready,
                                  seconds=seconds, atomic=atomic, source=run.time_source)
        state.device_sources[device_id] = run.time_source
        return {o.name: t for n, t in zip(sub.graph.nodes, done) for o in n.outputs}

    def _deliver(self, state: _RunState) -> tuple[list[dict[str, np.ndarray]], list[float]]:
        """Bring every item's outputs home (on the clock too); returns outputs and per-item latencies."""
        home = self.plan.home
        outputs, latencies = [], []
        for item in range(len(state.items)):
            out: dict[str, np.ndarray] = {}
            last = 0.0
            for v in self.plan.graph.outputs:
                if v.is_const:
                    out[v.name] = np.asarray(v.const)
                    continue
                array, src, at = state.wait(item, v.name)
                if src != home:
                    seconds = self.plan.link_time(src, home, array.nbytes)
                    at = state.clock.transfer(f"{src} -> {home}", at, seconds, item=item, value=v.name,
                                              nbytes=array.nbytes)
                out[v.name] = array
                last = max(last, at)
            outputs.append(out)
            latencies.append(last)
        return outputs, latencies

    def _report(self, state: _RunState, latencies: list[float], wall: float) -> RunReport:
        busy = {d: (state.clock.busy(d), source) for d, source in sorted(state.device_sources.items())}
        parts = set(state.device_sources.values())
        if any(s.kind == "transfer" for s in state.clock.spans):
            parts.add("model:link")
        source = "measured" if parts == {"measured"} else f"model:discrete-event over {' + '.join(sorted(parts))}"
        return RunReport(len(state.items), latencies[0] if latencies else 0.0, max(latencies, default=0.0), source, wall,
                         busy, list(state.clock.spans))


class _RunState:
    """Values of every item as they are produced (host copies), where and when (on the clock) each became ready."""

    def __init__(self, plan: Plan, items: list[dict[str, np.ndarray]]) -> None:
        self.items = items
        self.clock = Clock()
        self.error: BaseException | None = None
        self.device_sources: dict[str, str] = {}
        self._values: list[dict[str, tuple[np.ndarray, str, float]]] = [
            {k: (np.asarray(v), plan.home, 0.0) for k, v in feeds.items()} for feeds in items]
        self._cond = threading.Condition()

    def wait(self, item: int, value: str) -> tuple[np.ndarray, str, float]:
        with self._cond:
            while value not in self._values[item]:
                if self.error is not None:
                    raise _Abort
                self._cond.wait()
            return self._values[item][value]

    def publish(self, item: int, value: str, array: np.ndarray, device: str, at: float) -> None:
        with self._cond:
            self._values[item][value] = (array, device, at)
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = error
            self._cond.notify_all()


def execute(plan: Plan, items: list[dict[str, np.ndarray]], *, trace: str | Path | None = None
            ) -> tuple[list[dict[str, np.ndarray]], RunReport]:
    """Run ``items`` through ``plan``: open its devices, load its programs, run, close the devices."""
    executor = Executor(plan)
    try:
        return executor.run(items, trace=trace)
    finally:
        executor.close()
