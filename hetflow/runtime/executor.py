"""Execute a Plan through the device API: a worker per device, explicit transfers, device-resident values.

Each device gets one worker thread that walks its share of the schedule: for every item, the
subgraphs placed on it in plan order (for a replicated pipeline stage, every r-th item). A
subgraph's inputs are brought onto its device (a graph input written from the host; a value made
on another device copied from there, directly or staged through the host; a value already there
used where it is), it is launched, and its outputs stay on the device as buffers until their last
use: consumers on this device, one copy per other device that reads them, and the trip home of a
graph output. Independent subgraphs on different devices therefore run at once, and item k+1
enters the first device while item k is still in the last: the stream is pipelined.

Buffers come from a per-device ``Arena`` that lives as long as the plan's session (see
``runtime.session``): after an item of a shape has run once, later items allocate nothing.
Every transfer is counted on its link (``TransferLog``), every allocation in the report.

Timing is kept by a discrete-event clock (``runtime.clock``): devices contribute their own run
times (``measured`` on this machine, ``model:<name>`` when emulated) and links ``model:link``
times; the report says which, and never calls a modelled time measured. The host's wall clock
for the whole run is reported separately: for emulated devices it is the cost of emulating.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.devices import BaseDevice, Buffer, Device, driver_factory, open_device
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError
from hetflow.partition.plan import Plan, Subgraph, combine_sources
from hetflow.runtime.arena import Arena
from hetflow.runtime.clock import Clock, Span
from hetflow.runtime.emulated import EmulatedArtifact, EmulatedDevice
from hetflow.runtime.trace import write_trace
from hetflow.runtime.transfer import TransferLog, copy, download, upload
from hetflow.targets.units import format_bytes, format_seconds

DeviceKey = tuple[str, str]
"""(device id, driver): one opened device. A plan device may be driven by two drivers (its chip's own for
one subgraph, the emulator for another); their buffers are separate."""


@dataclass
class RunReport:
    """What a run cost: end-to-end times from the clock, each device's busy time, and their sources; what moved
    over each link and how many buffers were allocated."""

    items: int
    latency: float  # from inputs handed over to the first item's last output home
    makespan: float  # until the last item's last output is home
    source: str  # e.g. "model:discrete-event over model:roofline + model:link"
    wall_s: float  # this host's wall clock for the whole run: measured, but of the emulation when emulated
    device_busy: dict[str, tuple[float, str]]  # device -> (busy seconds, time source)
    clock: Clock = field(default_factory=Clock, repr=False)  # the run's discrete-event clock
    moved: TransferLog = field(default_factory=TransferLog, repr=False)
    allocations: int = 0  # device buffers allocated during this run (0 once the plan's arenas are warm)

    @property
    def spans(self) -> list[Span]:
        """Every span of the run (subgraphs; transfers; nodes and engines when traced), in the order placed."""
        return self.clock.spans

    @property
    def throughput(self) -> float:
        return self.items / self.makespan if self.makespan > 0 else float("inf")

    @property
    def modelled(self) -> bool:
        return self.source != "measured"

    def bytes_between_devices(self, home: str) -> int:
        """Bytes copied from one device to another (not from or to ``home``, nor between two drivers of one device)."""
        total = 0
        for link, count in self.moved.links.items():
            src, dst = link.split(" -> ")
            if home not in (src, dst) and src != dst:
                total += count.nbytes
        return total

    def __str__(self) -> str:
        lines = [f"{self.items} item(s): latency {format_seconds(self.latency)}, all done at "
                 f"{format_seconds(self.makespan)} ({self.throughput:,.1f} items/s); times are {self.source}"]
        if self.modelled:
            lines.append("  (modelled: a discrete-event simulation composed from the device and link times below, "
                         "not a wall-clock measurement)")
        for device, (busy, source) in self.device_busy.items():
            lines.append(f"  {device}: busy {format_seconds(busy)} ({source})")
        for link, count in sorted(self.moved.links.items()):
            routes = ", ".join(f"{r} {format_bytes(n)}" for r, n in sorted(count.routes.items()))
            lines.append(f"  {link}: {count.transfers} transfer(s), {format_bytes(count.nbytes)} ({routes})")
        lines.append(f"  device buffers allocated: {self.allocations}")
        lines.append(f"  host wall clock for the run: {format_seconds(self.wall_s)} (measured"
                     + ("; the cost of emulating, not of the devices)" if self.modelled else ")"))
        return "\n".join(lines)


class _Abort(Exception):
    """Another worker failed; this one stops."""


@dataclass(slots=True)
class _Resident:
    """One item's value in a buffer on one device, with the uses it still has there."""

    key: DeviceKey
    buffer: Buffer
    at: float  # when it is available on the device (clock)
    uses: int
    pooled: bool = True  # an arena buffer (given back when done), or one of a shape the arena cannot predict (freed)


class Executor:
    """Devices opened, programs loaded and arenas kept for one Plan; ``run`` may be called many times."""

    def __init__(self, plan: Plan) -> None:
        self._plan = weakref.ref(plan)  # the session cache must not keep the plan alive
        self._devices: dict[DeviceKey, Device] = {}
        self._programs: dict[tuple[str, str], tuple[DeviceKey, Any]] = {}
        self._arenas: dict[DeviceKey, Arena] = {}
        self._plan_devices = {d.id: d for d in plan.devices}
        # what depends only on the plan, looked up once here rather than on every run (a run of a small model costs
        # about as much as a few hundred Python calls: each one counts)
        self._graph_outputs = frozenset(v.name for v in plan.graph.outputs if not v.is_const)
        self._period = math.lcm(*(len(sub.replicas) for sub in plan.subgraphs)) if plan.subgraphs else 1
        self._patterns: dict[int, _Pattern] = {}  # by item % period (see _pattern)
        self._sources: dict[tuple[str, ...], str] = {}  # a run's time sources -> how its report states them
        self._present = frozenset(d.id for d in plan.devices if d.present)
        self._steps: dict[tuple[str, str], _Step] = {}
        # one run at a time (``lock``): its workers share this mutex (taken as it is, a C lock, where nobody waits)
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self.lock = threading.RLock()
        self._workers = _Workers()
        try:
            for sub in plan.subgraphs:
                artifact = self._artifact(plan, sub)
                for replica in sub.replicas:
                    key = self._open(plan, replica, sub.driver)
                    program = self._devices[key].load(artifact, name=sub.name)
                    self._programs[(sub.name, replica)] = (key, program)
                    self._steps[(sub.name, replica)] = self._make_step(sub, key, program)
        except BaseException:
            self.close()
            raise

    @property
    def plan(self) -> Plan:
        plan = self._plan()
        assert plan is not None, "the plan of this executor is gone"
        return plan

    def _make_step(self, sub: Subgraph, key: DeviceKey, program: Any) -> _Step:
        device = self._devices[key]
        # waited for at once: a device computing on this host's CPU runs it in this thread (one OpenMP team)
        launch = device.run_here if isinstance(device, BaseDevice) else device.launch
        bindable = frozenset(_bindable_outputs(sub.graph)) if sub.graph is not None else frozenset()
        return _Step(sub, key, program, device, self._arenas[key], launch, tuple(sub.inputs), tuple(sub.outputs),
                     bindable, self._plan_devices[key[0]].penalty)

    def _artifact(self, plan: Plan, sub: Subgraph) -> Any:
        if sub.driver != "emulated":
            return sub.executable
        assert sub.graph is not None
        return EmulatedArtifact(sub.executable, sub.graph, [e.seconds for e in sub.node_estimates],
                                combine_sources(e.source for e in sub.node_estimates))

    def _open(self, plan: Plan, device_id: str, driver: str) -> DeviceKey:
        key = (device_id, driver)
        if key not in self._devices:
            pd = self._plan_devices[device_id]
            if driver == "emulated":
                source = combine_sources(e.source for s in plan.subgraphs if device_id in s.replicas
                                         for e in s.node_estimates)
                device: Device = EmulatedDevice(pd.description, device_id, pd.host, time_source=source)
            else:
                # a backend without a driver of its own still runs on this host, timed by the host driver
                name = driver if driver_factory(driver) is not None else "host"
                device = open_device(pd.description, driver=name, instance_id=device_id)
            self._devices[key] = device
            self._arenas[key] = Arena(device)
        return key

    def close(self) -> None:
        self._workers.close()
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self._programs.clear()
        self._steps.clear()
        self._arenas.clear()

    @property
    def devices(self) -> list[Device]:
        """The devices this session has open (one per device and driver)."""
        return list(self._devices.values())

    @property
    def allocations(self) -> int:
        """Buffers the arenas have allocated since the plan's session began."""
        total = 0
        for arena in self._arenas.values():
            total += arena.allocations
        return total

    # ------------------------------------------------------------ running
    def run(self, items: list[dict[str, np.ndarray]], *, trace: str | Path | None = None
            ) -> tuple[list[dict[str, np.ndarray]], RunReport]:
        """Run every item (already checked against the graph's inputs); outputs in item order, and the report."""
        plan = self.plan
        patterns = [self._pattern(plan, i) for i in range(len(items))]
        state = _RunState(plan.home, items, [p[0] for p in patterns], self._graph_outputs, self._mutex, self._cond,
                          detail=trace is not None)
        allocated = self.allocations
        started = time.perf_counter()
        solo = patterns[0][2] if len(patterns) == 1 else None
        if solo is not None:
            self._worker(plan, solo, state)
        else:
            self._run_threads(plan, patterns, state)
        if state.error is not None:
            raise state.error
        outputs, latencies = self._collect(plan, state)
        wall = time.perf_counter() - started
        report = self._report(state, latencies, wall, self.allocations - allocated)
        if trace is not None:
            links = sorted({s.track for s in state.clock.spans if s.kind == "transfer"})
            used = sorted({s.track for s in state.clock.spans if s.kind != "transfer"})
            write_trace(trace, state.clock.spans, used, links, title=f"{plan.graph.name} ({plan.objective})",
                        clock=report.source)
        return outputs, report

    def _run_threads(self, plan: Plan, patterns: list[_Pattern], state: _RunState) -> None:
        """Each device's share on a thread of its own (the first present device's in this one, else the first
        device's), so that devices compute at once and a stream is pipelined through them."""
        work: dict[str, list[tuple[int, _Step]]] = {}
        for i, (_, assigned, _) in enumerate(patterns):
            for device, step in assigned:
                if device in work:
                    work[device].append((i, step))
                else:
                    work[device] = [(i, step)]
        inline = next((d for d in work if d in self._present), next(iter(work), None))
        done = [self._workers.submit(device, lambda t=tasks: self._worker(plan, t, state))
                for device, tasks in work.items() if device != inline]
        if inline is not None:
            self._worker(plan, work[inline], state)
        for event in done:
            event.wait()

    def _pattern(self, plan: Plan, item: int) -> _Pattern:
        """Which devices read each value of ``item``, which device runs each subgraph for it, and whether one thread
        runs them all: the same for every item of one replica pattern, so made once."""
        residue = item % self._period
        found = self._patterns.get(residue)
        if found is None:
            assigned = [(device, self._steps[(sub.name, device)])
                        for sub in plan.subgraphs for device in [sub.replicas[residue % len(sub.replicas)]]]
            # One item on devices of which at most one computes for real runs in this thread, in plan order: no
            # thread hand-offs (tens of microseconds each), and a measured device is timed without an emulator
            # computing beside it. Emulated times come from the clock, which places each track's spans in the same
            # order either way (a track is only ever written by its device's share). Plan order must be one in which
            # every subgraph's inputs are made before it: a single thread cannot wait for a later subgraph.
            present = {device for device, _ in assigned if device in self._present}
            solo = [(0, step) for _, step in assigned] if len(present) <= 1 and _in_order(plan) else None
            found = self._patterns[residue] = (_item_uses(plan.subgraphs, residue, self._programs), assigned, solo)
        return found

    def _worker(self, plan: Plan, tasks: list[tuple[int, _Step]], state: _RunState) -> None:
        step = None
        try:
            for item, step in tasks:
                self._step(plan, item, step, state)
        except _Abort:
            return
        except BaseException as exc:
            where = step.key[0] if step is not None else "a device"
            state.fail(exc if isinstance(exc, HetflowError) else
                       HetflowError(f"subgraph on {where} failed: {type(exc).__name__}: {exc}"))

    def _step(self, plan: Plan, item: int, step: _Step, state: _RunState) -> None:
        key, arena = step.key, step.arena
        device_id = key[0]
        # one loop, not a comprehension each (each is a call): this is the path every subgraph of every run takes
        inputs: list[_Resident] = []
        bindings: dict[str, Buffer] = {}
        signature: list[tuple[tuple[int, ...] | None, int]] = []
        for v in step.inputs:
            resident = self._input(plan, step, item, v, state)
            buffer = bindings[v] = resident.buffer
            inputs.append(resident)
            signature.append((buffer.shape, id(buffer.dtype)))  # DType members are singletons
        shapes = tuple(signature)
        known = step.out_specs.get(shapes)
        if known:
            for name, spec in known.items():
                bindings[name] = arena.take(*spec)
        run = step.launch(step.program, bindings)
        results = run.wait()
        if known is None:  # the first run of these shapes: learn the outputs' shapes, to bind them next time
            known = step.out_specs[shapes] = {name: (buf.shape, buf.dtype) for name, buf in results.items()
                                              if name in step.bindable}
            for buf in results.values():  # the device allocated them: count them
                arena.adopt(buf)
        elif len(results) > len(known):
            for name, buf in results.items():
                if name not in known:  # one of a shape that depends on the data: the device allocated it
                    arena.adopt(buf)
        for resident in inputs:
            self._release(state, resident)
        finish = self._clock(state, device_id, item, step, inputs, run)
        for v in step.outputs:
            resident = _Resident(key, results[v], finish[v], state.producer_uses(item, v, key), v in known)
            unused = resident.uses == 0
            state.publish(item, v, device_id, resident)
            if v in self._graph_outputs:
                self._send_home(plan, step.device, device_id, item, v, resident, state)
            if unused:  # read by nobody (an output of a subgraph the caller does not want): back at once
                self._release(state, resident, count=False)

    def _input(self, plan: Plan, step: _Step, item: int, value: str, state: _RunState) -> _Resident:
        """``value`` of ``item`` on the step's device: made there, brought there already, or brought now."""
        here, origin = state.find(item, value, step.key)
        if here is not None:
            return here
        made = origin[0]
        if isinstance(made, _Resident) and made.key == step.key:
            return made
        return self._bring(plan, step, item, value, origin, state)

    def _bring(self, plan: Plan, step: _Step, item: int, value: str, origin: _Origin, state: _RunState) -> _Resident:
        """Put ``value`` of ``item`` on the step's device: written from the host, or copied from the device that made
        it."""
        key, device = step.key, step.device
        device_id = key[0]
        made, src, at = origin
        if isinstance(made, np.ndarray):
            buffer = step.arena.take(made.shape, made.dtype)
            route = upload(device, buffer, made, state.moved, src)
        else:
            buffer = step.arena.take(made.buffer.shape, made.buffer.dtype)
            route = copy(self._devices[made.key], made.buffer, device, buffer, state.moved)
            self._release(state, made)
        if src != device_id:
            seconds = plan.link_time(src, device_id, buffer.nbytes)
            at = state.clock.transfer(f"{src} -> {device_id}", at, seconds, item=item, value=value,
                                      nbytes=buffer.nbytes, route=route) + step.penalty
        resident = _Resident(key, buffer, at, state.consumers(item, value, key))
        state.put_local(item, value, key, resident)
        return resident

    def _send_home(self, plan: Plan, device: Device, device_id: str, item: int, value: str, resident: _Resident,
                   state: _RunState) -> None:
        """Read a graph output home as soon as it is made (so that its buffer is free for the next item)."""
        array = download(device, resident.buffer, state.moved, plan.home)
        seconds = plan.link_time(device_id, plan.home, array.nbytes)
        at = state.clock.transfer(f"{device_id} -> {plan.home}", resident.at, seconds, item=item, value=value,
                                  nbytes=array.nbytes, route="read")
        state.deliver(item, value, array, at)
        self._release(state, resident)

    def _release(self, state: _RunState, resident: _Resident, *, count: bool = True) -> None:
        """One use of ``resident`` is done; after its last, its buffer goes back to its arena (or is freed)."""
        if count and state.used(resident) > 0:
            return
        arena = self._arenas[resident.key]
        if resident.pooled:
            arena.give(resident.buffer)
        else:
            arena.discard(resident.buffer)

    def _clock(self, state: _RunState, device_id: str, item: int, step: _Step, inputs: list[_Resident], run: Any
               ) -> dict[str, float]:
        """Place the run on the clock; returns when each output value is available on the device."""
        sub = step.sub
        assert sub.graph is not None
        if run.time_source == "measured" and not state.clock.detail and not run.timeline:
            # the common case, a run measured on this host with no trace asked for: one span, no per-node bookkeeping
            # (which costs ~5 us per node: more than the kernels of a small model)
            ready = 0.0
            for resident in inputs:
                ready = max(ready, resident.at)
            end = state.clock.launch_whole(device_id, sub.name, item=item, ready=ready,
                                           seconds=float(run.busy_s or 0.0), nodes=len(sub.nodes), source="measured")
            state.device_sources[device_id] = "measured"
            return dict.fromkeys(step.outputs, end)
        arrival = {v: r.at for v, r in zip(step.inputs, inputs)}
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
        if run.timeline:  # the device's engines, from where its first node started
            state.clock.units(device_id, done[0] - (busy if atomic else seconds[0]), run.timeline, item=item)
        state.device_sources[device_id] = run.time_source
        return {o.name: t for n, t in zip(sub.graph.nodes, done) for o in n.outputs}

    def _collect(self, plan: Plan, state: _RunState) -> tuple[list[dict[str, np.ndarray]], list[float]]:
        """Every item's outputs, as delivered home (graph inputs and constants passed through), and its latency."""
        outputs, latencies = [], []
        for item, feeds in enumerate(state.items):
            out: dict[str, np.ndarray] = {}
            last = 0.0
            for v in plan.graph.outputs:
                if v.is_const:
                    out[v.name] = np.asarray(v.const)
                elif v.name in feeds:
                    out[v.name] = np.asarray(feeds[v.name])
                else:
                    out[v.name], at = state.delivered[item][v.name]
                    last = max(last, at)
            outputs.append(out)
            latencies.append(last)
        return outputs, latencies

    def _report(self, state: _RunState, latencies: list[float], wall: float, allocations: int) -> RunReport:
        busy = {d: (state.clock.busy(d), source) for d, source in sorted(state.device_sources.items())}
        sources = (*state.device_sources.values(), *(("model:link",) if state.clock.transfers else ()))
        source = self._sources.get(sources)
        if source is None:  # the same few combinations every run: composed once each
            parts = set(sources)
            source = self._sources[sources] = ("measured" if parts == {"measured"} else
                                               f"model:discrete-event over {' + '.join(sorted(parts))}")
        return RunReport(len(state.items), latencies[0] if latencies else 0.0, max(latencies, default=0.0), source, wall,
                         busy, state.clock, state.moved, allocations)


class _Workers:
    """One long-lived thread per device, beside the caller's own (which runs the host's share of a plan).

    A thread that launches OpenMP code owns an OpenMP team for as long as it lives. A thread per device per run
    would start a new team on every run while the caller's team from the previous run still spins on its cores
    (2-3x slower on a 2-core host); threads that outlive the run keep one team each, and the host's
    subgraphs run on the calling thread, in the team everything else in this process computing on the host uses."""

    def __init__(self) -> None:
        self._queues: dict[str, queue.SimpleQueue[tuple[Callable[[], None], threading.Event] | None]] = {}
        self._threads: list[threading.Thread] = []

    def submit(self, device: str, work: Callable[[], None]) -> threading.Event:
        """Run ``work`` on ``device``'s thread; the event is set when it has returned (it must not raise)."""
        if device not in self._queues:
            q: queue.SimpleQueue[tuple[Callable[[], None], threading.Event] | None] = queue.SimpleQueue()
            thread = threading.Thread(target=_serve, args=(q,), name=f"hetflow-run:{device}", daemon=True)
            thread.start()
            self._queues[device], self._threads = q, [*self._threads, thread]
        done = threading.Event()
        self._queues[device].put((work, done))
        return done

    def close(self) -> None:
        for q in self._queues.values():
            q.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._queues.clear()
        self._threads = []


def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], None], threading.Event] | None]) -> None:
    while (job := jobs.get()) is not None:
        work, done = job
        del job  # nothing of a finished run stays referenced from here: a plan must be collectable after its run
        try:
            work()
        finally:
            del work
            done.set()


_Origin = tuple["np.ndarray | _Resident", str, float]
"""Where a value of an item was made: the host array or the device buffer holding it, the endpoint, and when."""

_Uses = tuple[dict[tuple[str, DeviceKey], int], dict[str, set[DeviceKey]]]
"""For one item: how many subgraphs on each device read each value, and which devices read it."""

_Pattern = tuple[_Uses, list[tuple[str, "_Step"]], "list[tuple[int, _Step]] | None"]
"""For one item: its uses, the device that runs each subgraph (in plan order), and when one thread runs them all (a
run of this item alone), its tasks in order."""


@dataclass(slots=True)
class _Step:
    """A subgraph on one device (one replica): everything a run of it looks up that depends only on the plan."""

    sub: Subgraph
    key: DeviceKey
    program: Any
    device: Device
    arena: Arena
    launch: Callable[[Any, dict[str, Buffer]], Any]  # run_here (waited for at once) where the driver has it
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    bindable: frozenset[str]  # outputs the runtime can bind an arena buffer to, once it has seen their shapes
    penalty: float  # the device's seconds per launch boundary (a value arriving from elsewhere)
    out_specs: dict[tuple[Any, ...], dict[str, tuple[tuple[int, ...], Any]]] = field(default_factory=dict)
    """By the input buffers' (shape, dtype)s: the (shape, dtype) of each bindable output, once seen."""


class _RunState:
    """One run's values: where each item's values are (the host, or a buffer on a device), and their uses left."""

    def __init__(self, home: str, items: list[dict[str, np.ndarray]], uses: list[_Uses], graph_outputs: frozenset[str],
                 mutex: threading.Lock, cond: threading.Condition, *, detail: bool = True) -> None:
        self.items = items
        self.clock = Clock(detail=detail)
        self.moved = TransferLog()
        self.error: BaseException | None = None
        self.device_sources: dict[str, str] = {}
        self.graph_outputs = graph_outputs
        self.delivered: list[dict[str, tuple[np.ndarray, float]]] = [{} for _ in items]
        self._values: list[dict[str, _Origin]] = [{k: (np.asarray(v), home, 0.0) for k, v in feeds.items()}
                                                  for feeds in items]
        self._local: dict[tuple[int, str, DeviceKey], _Resident] = {}
        self._uses = uses  # shared with other runs of the plan: read only
        self._mutex = mutex  # the lock of ``cond``
        self._cond = cond

    def consumers(self, item: int, value: str, key: DeviceKey) -> int:
        """How many subgraphs on device ``key`` read ``value`` of ``item``."""
        return self._uses[item][0].get((value, key), 0)

    def producer_uses(self, item: int, value: str, key: DeviceKey) -> int:
        """Uses of a value where it was made: its consumers there, a copy per other device, the trip home."""
        consumers, readers = self._uses[item]
        others = readers.get(value, ())
        return (consumers.get((value, key), 0) + len(others) - (key in others)
                + (value in self.graph_outputs))

    def find(self, item: int, value: str, key: DeviceKey) -> tuple[_Resident | None, _Origin]:
        """``value`` of ``item`` already brought to device ``key`` (and where it is), or else None and where it was
        made, once it has been (waiting for it)."""
        with self._mutex:
            here = self._local.get((item, value, key))
            if here is not None:
                return here, (here, key[0], here.at)
            values = self._values[item]
            while value not in values:
                if self.error is not None:
                    raise _Abort
                self._cond.wait()
            return None, values[value]

    def publish(self, item: int, value: str, device: str, resident: _Resident) -> None:
        with self._mutex:
            self._values[item][value] = (resident, device, resident.at)
            self._cond.notify_all()

    def deliver(self, item: int, value: str, array: np.ndarray, at: float) -> None:
        with self._mutex:
            self.delivered[item][value] = (array, at)

    def put_local(self, item: int, value: str, key: DeviceKey, resident: _Resident) -> None:
        with self._mutex:
            self._local[(item, value, key)] = resident

    def used(self, resident: _Resident) -> int:
        """Count one use done; returns the uses left."""
        with self._mutex:
            resident.uses -= 1
            return resident.uses

    def fail(self, error: BaseException) -> None:
        with self._mutex:
            if self.error is None:
                self.error = error
            self._cond.notify_all()


def _item_uses(subgraphs: list[Subgraph], item: int, programs: dict[tuple[str, str], tuple[DeviceKey, Any]]) -> _Uses:
    """For one item: how many subgraphs on each device read each value, and which devices read it."""
    consumers: dict[tuple[str, DeviceKey], int] = {}
    readers: dict[str, set[DeviceKey]] = {}
    for sub in subgraphs:
        key = programs[(sub.name, sub.replicas[item % len(sub.replicas)])][0]
        for v in sub.inputs:
            consumers[(v, key)] = consumers.get((v, key), 0) + 1
            readers.setdefault(v, set()).add(key)
    return consumers, readers


def _in_order(plan: Plan) -> bool:
    """Whether every subgraph's inputs are graph inputs or outputs of subgraphs before it in the plan."""
    made = {v.name for v in plan.graph.inputs}
    for sub in plan.subgraphs:
        if not made.issuperset(sub.inputs):
            return False
        made.update(sub.outputs)
    return True


_SYMBOL = re.compile(r"[A-Za-z_]\w*")


def _bindable_outputs(graph: Graph) -> set[str]:
    """Outputs whose shape follows from the input shapes: once seen for some input shapes, the runtime can give
    them an arena buffer in advance. (A shape with a symbol no input has depends on the data: left to the device.)"""
    symbols = {d for v in graph.inputs for d in (v.type.shape or ()) if isinstance(d, str)}
    out = set()
    for v in graph.outputs:
        shape = v.type.shape
        if shape is not None and all(isinstance(d, int) or set(_SYMBOL.findall(d)) <= symbols for d in shape):
            out.add(v.name)
    return out


def execute(plan: Plan, items: list[dict[str, np.ndarray]], *, trace: str | Path | None = None
            ) -> tuple[list[dict[str, np.ndarray]], RunReport]:
    """Run ``items`` through ``plan`` once: open its devices, load its programs, run, close the devices.

    ``Plan.run`` keeps them open between runs instead (``runtime.session``)."""
    executor = Executor(plan)
    try:
        return executor.run(items, trace=trace)
    finally:
        executor.close()
