"""The uniform device API: one protocol every driver implements, a registry of drivers, and a base class.

The verbs are those XRT, OPAE, OpenCL and IREE's HAL share: open a device, ``info()``, ``load`` a
program, ``alloc`` / ``write`` / ``read`` buffers, ``launch`` a program on bound buffers (asynchronously:
a ``Run`` that can be waited on), ``stats()`` and ``close()``. Every failure a device reports is a
``DeviceError`` naming the device, the program and the cause, and leaves the device usable.

Drivers are found by backend name in ``hetflow.registry``: registered in code, or declared under the
entry-point group ``hetflow.drivers`` (built-ins in hetflow's pyproject.toml, out-of-tree drivers in
their own: the entry point's name is the backend, its object a factory such as a ``BaseDevice``
subclass). This module imports no backend.

A driver built on ``BaseDevice`` supplies only ``compile`` (artifact -> Program), ``execute`` (inputs ->
outputs) and, when its time is not wall-clock, ``model_time``; buffers live in host memory, runs are
executed in order by one worker thread per device, and stats are kept for it.

Data moves only through these verbs: ``write`` (host -> device), ``read`` (device -> host) and
``copy_to_peer`` (device -> device, when the two share a path that does not pass through the host;
otherwise the caller stages it: ``read`` then ``write``). A run's outputs stay on the device as
Buffers until someone reads or copies them. Every allocation is counted (``DeviceStats.allocations``),
so that a runtime can show it allocates nothing per item once its buffers are reused.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from hetflow import registry
from hetflow.ir import DType, Graph, TensorType, verify
from hetflow.ir.errors import HetflowError
from hetflow.targets import Cluster, DeviceInstance, MachineDescription, get_preset

ENTRY_POINT_GROUP = registry.DRIVERS_GROUP
"""The entry-point group out-of-tree drivers register under: ``name = backend``, ``value = "pkg.mod:Factory"``."""


class DeviceError(HetflowError):
    """A device failed: opening, loading a program, moving data, running it, or a wait that timed out.

    ``device`` is the instance id, ``program`` the program's name (None when no program was involved),
    ``stage`` what was being done (open, load, alloc, write, read, launch, run, timeout, cancelled, closed) and
    ``cause`` the full text of what went wrong; the message is one line.
    """

    def __init__(self, device: str, cause: str | BaseException, *, program: str | None = None,
                 stage: str = "run") -> None:
        if isinstance(cause, BaseException):
            cause = str(cause) if isinstance(cause, HetflowError) else f"{type(cause).__name__}: {cause}"
        self.device, self.program, self.stage, self.cause = device, program, stage, cause
        lines = cause.strip().splitlines() or ["(no message)"]
        more = f" (+{len(lines) - 1} more lines in .cause)" if len(lines) > 1 else ""
        where = f"device {device}" + (f", program {program!r}" if program else "")
        super().__init__(f"{where}: {stage}: {lines[0]}{more}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields, so that it crosses process boundaries (Ray, multiprocessing) intact.
        return (_device_error, (self.device, self.cause, self.program, self.stage))


def _device_error(device: str, cause: str, program: str | None, stage: str) -> DeviceError:
    return DeviceError(device, cause, program=program, stage=stage)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Port:
    """A program input or output: its name and tensor type (dims may be symbolic)."""

    name: str
    type: TensorType


@dataclass(frozen=True, eq=False)
class Program:
    """A loaded program. ``handle`` is the driver's compiled object; ``device`` and ``id`` are set by ``load``."""

    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    handle: Any = field(default=None, repr=False)
    device: str = ""
    id: int = 0

    @classmethod
    def from_graph(cls, graph: Graph, handle: Any, name: str | None = None) -> Program:
        """A program whose ports are ``graph``'s inputs and outputs."""
        return cls(name or graph.name, tuple(Port(v.name, v.type) for v in graph.inputs),
                   tuple(Port(v.name, v.type) for v in graph.outputs), handle)


@dataclass(frozen=True, eq=False)
class Buffer:
    """Device memory: raw bytes (``dtype is None``) or a typed tensor of static shape."""

    id: int
    device: str
    nbytes: int
    dtype: DType | None = None
    shape: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        what = f"{self.dtype}[{','.join(map(str, self.shape or ()))}]" if self.dtype else f"{self.nbytes} bytes"
        return f"Buffer({self.id} on {self.device}: {what})"


BufferSpec = int | tuple[Any, Any] | TensorType
"""What ``alloc`` takes: a byte count, a ``(shape, dtype)`` pair, or a static TensorType."""


@dataclass(frozen=True)
class DeviceStats:
    """Counters since the device was opened. ``busy_s`` is in ``time_source``: ``measured`` or ``model:<name>``."""

    launches: int
    completed: int
    failed: int
    bytes_in: int
    bytes_out: int
    busy_s: float
    time_source: str
    elapsed_s: float
    utilization: float
    """busy_s over wall-clock time since open, at most 1 (for a modelled source: the modelled busy fraction)."""
    allocations: int = 0
    """Buffers allocated since open: by ``alloc``, and for outputs a launch did not bind."""
    bytes_peer: int = 0
    """Bytes this device sent straight to another device (``copy_to_peer``), not through the host."""

    def __str__(self) -> str:
        return (f"{self.launches} launches ({self.failed} failed), {self.bytes_in} B in, {self.bytes_out} B out, "
                f"{self.bytes_peer} B to peers, {self.allocations} allocations, busy {self.busy_s:.6f} s "
                f"({self.time_source}), utilization {self.utilization:.1%}")


@dataclass(frozen=True)
class DeviceInfo:
    """The description plus live state."""

    id: str
    driver: str
    description: MachineDescription = field(repr=False)
    state: str = "open"
    memory_used: int = 0
    memory_free: int = 0
    buffers: int = 0
    programs: int = 0
    pending_runs: int = 0
    time_source: str = "measured"

    def __str__(self) -> str:
        return (f"{self.id} ({self.description.name}, driver {self.driver}): {self.state}, {self.memory_used} B used, "
                f"{self.memory_free} B free, {self.buffers} buffers, {self.programs} programs, "
                f"{self.pending_runs} pending runs, time {self.time_source}")


@dataclass(frozen=True)
class TimelineEvent:
    """One interval of a run on one of the device's own units (an accelerator's engine), in the device's
    ``time_source``, seconds from the run's start."""

    unit: str
    name: str
    start: float
    end: float
    args: dict = field(default_factory=dict, hash=False, compare=False)


class Run:
    """One launch. ``wait`` returns the output buffers by name, or raises the run's DeviceError."""

    def __init__(self, run_id: int, program: Program, device: str, bindings: Mapping[str, Buffer]) -> None:
        self.id = run_id
        self.program = program
        self.device = device
        self.bindings = dict(bindings)
        self.outputs: dict[str, Buffer] = {}
        self.error: DeviceError | None = None
        self.busy_s: float | None = None
        """Device time of this run, in ``time_source``."""
        self.time_source: str | None = None
        self.timeline: list[TimelineEvent] = []
        """Per-unit events of the run (``BaseDevice.timeline``), for the plan's trace."""
        self.queued_at = time.perf_counter()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._status = RunStatus.QUEUED
        self._lock = threading.Lock()
        self._finished = False
        # made only when someone waits for a run that has not finished: a run executed inline (``run_here``) is
        # finished before its caller waits, and an Event (a Condition and a lock) per run is most of a small launch
        self._done: threading.Event | None = None

    def status(self) -> RunStatus:
        return self._status

    def done(self) -> bool:
        return self._finished

    def wait(self, timeout: float | None = None) -> dict[str, Buffer]:
        """Block until the run ends (at most ``timeout`` seconds); a timeout leaves the run going."""
        if not self._finished and not self._event().wait(timeout):
            raise DeviceError(self.device, f"run {self.id} still {self._status} after {timeout:g} s",
                              program=self.program.name, stage="timeout")
        if self.error is not None:
            raise self.error
        return dict(self.outputs)

    def cancel(self) -> bool:
        """Drop the run if it has not started; True if it was dropped."""
        return self._finish(error=DeviceError(self.device, f"run {self.id} was cancelled", program=self.program.name,
                                              stage="cancelled"), only_if_queued=True)

    def _event(self) -> threading.Event:
        """The event set when the run finishes (made now if nobody waited before; set at once if it has finished)."""
        with self._lock:
            if self._done is None:
                self._done = threading.Event()
                if self._finished:
                    self._done.set()
            return self._done

    def _wait_done(self) -> None:
        """Block until the run has finished (successfully or not)."""
        if not self._finished:
            self._event().wait()

    def _start(self) -> bool:
        with self._lock:
            if self._status is not RunStatus.QUEUED:
                return False
            self._status, self.started_at = RunStatus.RUNNING, time.perf_counter()
            return True

    def _finish(self, *, outputs: dict[str, Buffer] | None = None, error: DeviceError | None = None,
                busy_s: float | None = None, time_source: str | None = None, only_if_queued: bool = False) -> bool:
        with self._lock:
            if self._finished or (only_if_queued and self._status is not RunStatus.QUEUED):
                return False
            self.outputs, self.error = outputs or {}, error
            self.busy_s, self.time_source = busy_s, time_source
            self.finished_at = time.perf_counter()
            self._status = RunStatus.FAILED if error is not None else RunStatus.DONE
            self._finished = True
            event = self._done
        if event is not None:
            event.set()
        return True

    def __repr__(self) -> str:
        return f"Run({self.id}, {self.program.name!r} on {self.device}: {self._status})"


@runtime_checkable
class Device(Protocol):
    """What every driver implements. Buffers and programs belong to the device that made them."""

    @property
    def id(self) -> str: ...

    @property
    def description(self) -> MachineDescription: ...

    def info(self) -> DeviceInfo: ...

    def load(self, artifact: Any, *, name: str | None = None) -> Program: ...

    def unload(self, program: Program) -> None: ...

    def alloc(self, spec: BufferSpec) -> Buffer: ...

    def free(self, buffer: Buffer) -> None: ...

    def write(self, buffer: Buffer, array: np.ndarray) -> None: ...

    def read(self, buffer: Buffer) -> np.ndarray: ...

    def copy_to_peer(self, src: Buffer, peer: Device, dst: Buffer) -> bool: ...

    def launch(self, program: Program, bindings: Mapping[str, Buffer]) -> Run: ...

    def stats(self) -> DeviceStats: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- the reusable driver core


@dataclass(frozen=True)
class _Ports:
    """A loaded program's ports by name, looked up once at load instead of on every launch."""

    ports: dict[str, Port]  # inputs, then outputs (an input port wins a name both have)
    inputs: frozenset[str]
    static: dict[str, tuple[DType, tuple[int, ...]]]  # static inputs: the dtype and shape a typed buffer must have

    @classmethod
    def of(cls, program: Program) -> _Ports:
        ports = {p.name: p for p in (*program.outputs, *program.inputs)}
        static = {p.name: (p.type.dtype, tuple(p.type.shape)) for p in program.inputs
                  if p.type.is_static and p.type.shape is not None}
        return cls(ports, frozenset(p.name for p in program.inputs), static)


@dataclass
class _Slot:
    buffer: Buffer
    storage: np.ndarray
    last_run: Run | None = None


class BaseDevice:
    """A driver core: host-memory buffers, an in-order worker thread, run futures, stats, error wrapping.

    Subclasses set ``driver`` (the backend name) and ``time_source``, and implement ``compile``,
    ``execute`` and, unless time is ``measured``, ``model_time``.
    """

    driver: ClassVar[str] = "base"
    time_source: ClassVar[str] = "measured"
    memory_domain: ClassVar[str] = "host-process"
    """Where buffers live. Two devices of one domain can copy between their buffers directly (``copy_to_peer``);
    a driver whose memory is elsewhere (a GPU's, a board's) names its own domain and overrides the copy."""
    computes_on_caller: ClassVar[bool] = False
    """A device whose compute is this host's own CPU: ``run_here`` runs a launch in the caller's thread. (A run
    on the device's worker thread computes in a second OpenMP team beside the caller's, and two teams on the same
    cores make each wait at every barrier for the other's time slice.)"""

    def __init__(self, description: MachineDescription, instance_id: str | None = None,
                 host: str | None = None) -> None:
        self._description = description
        self._id = instance_id or f"local/{description.short_name}:0"
        self.host = host
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._slots: dict[int, _Slot] = {}
        self._programs: dict[int, Program] = {}
        self._ports: dict[int, _Ports] = {}  # by program id: its port table, made once at load
        self._pending: set[Run] = set()
        self._used = 0
        self._launches = self._completed = self._failed = self._bytes_in = self._bytes_out = 0
        self._allocations = self._bytes_peer = 0
        self._busy = 0.0
        self._closed = False
        self._opened_at = time.perf_counter()
        self._queue: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self._executing = threading.Lock()  # held while a run executes, on the worker or inline
        self._worker = threading.Thread(target=self._work, name=f"hetflow:{self._id}", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------ what a driver supplies
    def compile(self, artifact: Any, name: str | None) -> Program:
        """Turn an artifact (an IR Graph, or the driver's own compiled form) into a Program (ports + handle)."""
        raise NotImplementedError

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``program`` on input arrays; return every output array by name."""
        raise NotImplementedError

    def model_time(self, program: Program, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> float:
        """Device seconds for one run, from the driver's model (used when ``time_source`` is not measured)."""
        raise NotImplementedError(f"driver {self.driver!r} reports time as {self.time_source!r} but has no model_time")

    def timeline(self, program: Program, inputs: dict[str, np.ndarray]) -> list[TimelineEvent]:
        """Events of one run on the device's own units (engines), for the plan's trace; none by default."""
        return []

    # ------------------------------------------------------------ the protocol
    @property
    def id(self) -> str:
        return self._id

    @property
    def description(self) -> MachineDescription:
        return self._description

    def info(self) -> DeviceInfo:
        with self._lock:
            return DeviceInfo(self._id, self.driver, self._description, "closed" if self._closed else "open",
                              self._used, max(self._description.memory.capacity - self._used, 0), len(self._slots),
                              len(self._programs), len(self._pending), self.time_source)

    def load(self, artifact: Any, *, name: str | None = None) -> Program:
        """Compile and load ``artifact``; any failure is a DeviceError at stage ``load``."""
        label = name or getattr(artifact, "name", None) or type(artifact).__name__
        self._check_open(label)
        try:
            compiled = self.compile(artifact, name)
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(self._id, exc, program=label, stage="load") from exc
        with self._lock:
            program = dataclasses.replace(compiled, name=name or compiled.name, device=self._id, id=next(self._ids))
            self._programs[program.id] = program
            self._ports[program.id] = _Ports.of(program)
        return program

    def unload(self, program: Program) -> None:
        with self._lock:
            self._programs.pop(program.id, None)
            self._ports.pop(program.id, None)

    def alloc(self, spec: BufferSpec) -> Buffer:
        self._check_open()
        dtype, shape, nbytes = _parse_spec(spec, self._id)
        with self._lock:
            self._reserve(nbytes)
            buffer = Buffer(next(self._ids), self._id, nbytes, dtype, shape)
            self._slots[buffer.id] = _Slot(buffer, _storage(dtype, shape, nbytes))
            self._allocations += 1
        return buffer

    def free(self, buffer: Buffer) -> None:
        slot = self._slot(buffer, "free")
        if slot.last_run is not None:
            slot.last_run._wait_done()
        with self._lock:
            if self._slots.pop(buffer.id, None) is not None:
                self._used -= buffer.nbytes

    def write(self, buffer: Buffer, array: np.ndarray) -> None:
        """Copy ``array`` into ``buffer`` after the runs already launched on it; dtype and shape must match."""
        array = np.asarray(array)
        slot = self._ready(buffer, "write")
        if buffer.dtype is None:
            if array.nbytes != buffer.nbytes or array.dtype == object:
                raise DeviceError(self._id, f"{array.nbytes} bytes of {array.dtype} do not fill a raw buffer of "
                                            f"{buffer.nbytes} bytes", stage="write")
            slot.storage[...] = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)
        else:
            if _dtype_of(array.dtype) is not buffer.dtype or array.shape != buffer.shape:
                raise DeviceError(self._id, f"cannot write {DType.of(array.dtype)}{list(array.shape)} into "
                                            f"{buffer.dtype}{list(buffer.shape or ())} buffer {buffer.id}", stage="write")
            slot.storage[...] = array  # dtype and shape checked: a plain copy (np.copyto dispatches in Python)
        with self._lock:
            self._bytes_in += buffer.nbytes

    def read(self, buffer: Buffer) -> np.ndarray:
        """A copy of the buffer's contents, after the runs already launched on it."""
        slot = self._ready(buffer, "read")
        out = slot.storage.copy()
        with self._lock:
            self._bytes_out += buffer.nbytes
        return out

    def copy_to_peer(self, src: Buffer, peer: Device, dst: Buffer) -> bool:
        """Copy ``src`` into ``peer``'s buffer ``dst`` without passing through the host, after the runs already
        launched on either; False (nothing copied) when there is no such path: the caller then stages the data
        through the host (``read`` here, ``write`` there) and counts it as staged.

        Here: both devices keep their buffers in this process's memory (one ``memory_domain``), so the copy is
        one memory copy. Shapes and dtypes must match, or byte counts for raw buffers.
        """
        if not isinstance(peer, BaseDevice) or peer.memory_domain != self.memory_domain:
            return False
        source = self._ready(src, "copy")
        target = peer._ready(dst, "copy")
        if src.nbytes != dst.nbytes or (src.dtype is not None and dst.dtype is not None
                                         and (src.dtype, src.shape) != (dst.dtype, dst.shape)):
            raise DeviceError(self._id, f"cannot copy {src!r} into {dst!r} on {peer.id}: shapes or sizes differ",
                              stage="copy")
        if src.dtype is None or dst.dtype is None:
            np.copyto(target.storage.reshape(-1).view(np.uint8), source.storage.reshape(-1).view(np.uint8))
        else:
            np.copyto(target.storage, source.storage)
        with self._lock:
            self._bytes_peer += src.nbytes
        return True

    def launch(self, program: Program, bindings: Mapping[str, Buffer]) -> Run:
        """Queue ``program`` with inputs (and optionally outputs) bound by name; returns at once."""
        return self._launch(program, bindings, here=False)

    def run_here(self, program: Program, bindings: Mapping[str, Buffer]) -> Run:
        """``launch``, but run in the calling thread when the device ``computes_on_caller`` and has nothing queued or
        running (else queued as ``launch`` does): a caller that would wait for the run at once uses this."""
        return self._launch(program, bindings, here=self.computes_on_caller)

    def _launch(self, program: Program, bindings: Mapping[str, Buffer], *, here: bool) -> Run:
        with self._lock:
            if self._closed:  # under the lock, so that no run is queued behind close()
                self._check_open(program.name)
            if self._programs.get(program.id) is not program:
                raise DeviceError(self._id, "program is not loaded on this device", program=program.name, stage="launch")
            slots = self._bind(program, bindings)
            run = Run(next(self._ids), program, self._id, bindings)
            for slot in slots:
                slot.last_run = run
            # inline only with nothing queued or running: taken under the lock, so a later launch queues behind it
            inline = here and not self._pending and self._executing.acquire(blocking=False)
            if inline:  # started before anyone else sees it: nothing can cancel it any more
                run._status, run.started_at = RunStatus.RUNNING, time.perf_counter()
            self._pending.add(run)
            self._launches += 1
        if not inline:
            self._queue.put(run)
            return run
        try:
            self._execute(run)
        finally:
            self._executing.release()
        return run

    def stats(self) -> DeviceStats:
        with self._lock:
            elapsed = time.perf_counter() - self._opened_at
            return DeviceStats(self._launches, self._completed, self._failed, self._bytes_in, self._bytes_out,
                               self._busy, self.time_source, elapsed, min(self._busy / elapsed, 1.0) if elapsed else 0.0,
                               self._allocations, self._bytes_peer)

    def close(self) -> None:
        """Finish the running run, cancel queued ones, release memory. Closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending)
        for run in pending:
            run._finish(error=DeviceError(self._id, "device closed before the run started", program=run.program.name,
                                          stage="closed"), only_if_queued=True)
        self._queue.put(None)
        if threading.current_thread() is not self._worker:  # closed from its own worker (a finalizer): let it end
            self._worker.join()
        with self._lock:
            self._slots.clear()
            self._programs.clear()
            self._ports.clear()
            self._pending.clear()
            self._used = 0

    def __enter__(self) -> BaseDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._id!r}, {self._description.name})"

    # ------------------------------------------------------------ internals
    def _check_open(self, program: str | None = None) -> None:
        if self._closed:
            raise DeviceError(self._id, "the device is closed", program=program, stage="closed")

    def _slot(self, buffer: Buffer, stage: str) -> _Slot:
        if self._closed:
            self._check_open()
        with self._lock:
            slot = self._slots.get(buffer.id)
        if slot is None or slot.buffer is not buffer:
            raise DeviceError(self._id, f"{buffer!r} is not a live buffer of this device", stage=stage)
        return slot

    def _ready(self, buffer: Buffer, stage: str) -> _Slot:
        slot = self._slot(buffer, stage)
        if slot.last_run is not None and not slot.last_run._finished:
            slot.last_run._wait_done()
        return slot

    def _reserve(self, nbytes: int) -> None:
        capacity = self._description.memory.capacity
        if self._used + nbytes > capacity:
            raise DeviceError(self._id, f"out of device memory: {nbytes} bytes asked, {self._used} of {capacity} in use",
                              stage="alloc")
        self._used += nbytes

    def _bind(self, program: Program, bindings: Mapping[str, Buffer]) -> list[_Slot]:
        """Check bindings against the program's ports (dtype, static dims, one value per symbolic dim)."""
        table = self._ports[program.id]
        names = bindings.keys()
        if not (names >= table.inputs and names <= table.ports.keys()):
            unknown = sorted(set(names) - set(table.ports))
            missing = [p.name for p in program.inputs if p.name not in bindings]
            problem = f"unknown binding(s) {unknown}" if unknown else f"input(s) {missing} not bound"
            raise DeviceError(self._id, f"{problem}; the program takes {[p.name for p in program.inputs]} and gives "
                                        f"{[p.name for p in program.outputs]}", program=program.name, stage="launch")
        symbols: dict[str, int] = {}
        slots = []
        for name, buffer in bindings.items():
            slot = self._slots.get(buffer.id)
            if slot is None or slot.buffer is not buffer:
                raise DeviceError(self._id, f"{name!r} is bound to {buffer!r}, not a live buffer of this device",
                                  program=program.name, stage="launch")
            if name in table.inputs and table.static.get(name) != (buffer.dtype, buffer.shape):
                # not the one typed buffer a static port takes at a glance: the full check (symbols, raw buffers)
                problem = _port_mismatch(table.ports[name], buffer, symbols)
                if problem:
                    raise DeviceError(self._id, f"{name!r}: {problem}", program=program.name, stage="launch")
            slots.append(slot)
        return slots

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            with self._executing:
                if run._start():
                    self._execute(run)
                else:  # cancelled before it started
                    with self._lock:
                        self._pending.discard(run)

    def _execute(self, run: Run) -> None:
        program = run.program
        outputs: dict[str, Buffer] = {}
        busy, error = None, None
        try:
            inputs = {}
            with self._lock:
                for p in program.inputs:
                    slot = self._slots[run.bindings[p.name].id]
                    inputs[p.name] = slot.storage if slot.buffer.dtype is not None else _view(slot, p)
            start = time.perf_counter()
            results = self.execute(program, inputs)
            wall = time.perf_counter() - start
            busy = wall if self.time_source == "measured" else float(self.model_time(program, inputs, results))
            run.timeline = self.timeline(program, inputs)
            outputs = self._store(run, results, inputs)
        except DeviceError as exc:
            error = exc if exc.program else DeviceError(self._id, exc.cause, program=program.name, stage=exc.stage)
        except Exception as exc:
            error = DeviceError(self._id, exc, program=program.name, stage="run")
            error.__cause__ = exc
        with self._lock:
            self._pending.discard(run)
            if error is None:
                self._completed += 1
                self._busy += busy or 0.0
            else:
                self._failed += 1
        run._finish(outputs=outputs, error=error, busy_s=busy, time_source=self.time_source)

    def _store(self, run: Run, results: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> dict[str, Buffer]:
        """Put each output into its bound buffer, or into a new buffer (never aliasing an input or a constant)."""
        out: dict[str, Buffer] = {}
        for port in run.program.outputs:
            if port.name not in results:
                raise DeviceError(self._id, f"the driver returned no output {port.name!r}", program=run.program.name)
            array = np.asarray(results[port.name])
            bound = run.bindings.get(port.name)
            if bound is not None:
                with self._lock:
                    slot = self._slots[bound.id]
                if bound.dtype is None and array.nbytes == bound.nbytes and array.dtype != object:
                    slot.storage[...] = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)
                elif bound.dtype is not None and _dtype_of(array.dtype) is bound.dtype and array.shape == bound.shape:
                    slot.storage[...] = array
                else:
                    raise DeviceError(self._id, f"output {port.name!r} is {DType.of(array.dtype)}{list(array.shape)}, "
                                                f"which does not fit {bound!r}", program=run.program.name)
                out[port.name] = bound
                continue
            if (array.base is not None or not array.flags.c_contiguous or not array.flags.writeable
                    or any(np.may_share_memory(array, x) for x in inputs.values())):
                array = array.copy()
            dtype = DType.of(array.dtype)
            nbytes = array.size * dtype.itemsize
            with self._lock:
                self._reserve(nbytes)
                buffer = Buffer(next(self._ids), self._id, nbytes, dtype, tuple(array.shape))
                self._slots[buffer.id] = _Slot(buffer, array)
                self._allocations += 1
            out[port.name] = buffer
        return out


class ExecutableDevice(BaseDevice):
    """A driver whose programs are host executables (``run(feeds)`` and ``graph``); IR graphs go through ``build``.

    Subclasses name the executable types they load in ``executable_types`` (empty: any executable).
    """

    executable_types: ClassVar[tuple[type, ...]] = ()

    def build(self, graph: Graph) -> Any:
        """Compile a verified IR graph into this driver's executable."""
        raise NotImplementedError

    def compile(self, artifact: Any, name: str | None) -> Program:
        if isinstance(artifact, Graph):
            verify(artifact)
            artifact = self.build(artifact)
        graph = getattr(artifact, "graph", None)
        wanted = self.executable_types
        if (wanted and not isinstance(artifact, wanted)) or not callable(getattr(artifact, "run", None)) \
                or not isinstance(graph, Graph):
            kinds = " or ".join(f"a {t.__name__}" for t in wanted) or "an executable with .run(feeds) and .graph"
            raise TypeError(f"the {self.driver} driver loads an IR Graph or {kinds}, not {type(artifact).__name__}")
        return Program.from_graph(graph, artifact, name)

    def execute(self, program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return program.handle.run(inputs)


def _parse_spec(spec: BufferSpec, device: str) -> tuple[DType | None, tuple[int, ...] | None, int]:
    try:
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if spec < 0:
                raise ValueError(f"a negative size {spec}")
            return None, None, int(spec)
        if isinstance(spec, TensorType):
            shape, dtype = spec.shape, spec.dtype
        else:
            shape, dtype = spec  # type: ignore[misc]
        if shape is None or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in shape):
            raise ValueError(f"shape {shape} is not static")
        dtype = DType.of(dtype)
        shape = tuple(int(d) for d in shape)
        return dtype, shape, math.prod(shape) * dtype.itemsize
    except (TypeError, ValueError) as exc:
        raise DeviceError(device, f"cannot allocate {spec!r}: {exc}; give a byte count, (shape, dtype) or a static "
                                  f"TensorType", stage="alloc") from None


def _storage(dtype: DType | None, shape: tuple[int, ...] | None, nbytes: int) -> np.ndarray:
    return np.zeros(nbytes, np.uint8) if dtype is None else np.zeros(shape, dtype.numpy)


def _port_mismatch(port: Port, buffer: Buffer, symbols: dict[str, int]) -> str | None:
    """Why ``buffer`` cannot feed ``port`` (binding symbolic dims in ``symbols``), or None."""
    want = port.type
    if buffer.dtype is None:
        if not want.is_static:
            return f"a raw buffer cannot feed {want}, whose shape is symbolic; allocate it with (shape, dtype)"
        if want.nbytes != buffer.nbytes:
            return f"a raw buffer of {buffer.nbytes} bytes cannot feed {want} ({want.nbytes} bytes)"
        return None
    if buffer.dtype is not want.dtype:
        return f"expected {want}, got a {buffer.dtype} buffer"
    if want.shape is None:
        return None
    got = buffer.shape or ()
    if len(got) != len(want.shape):
        return f"expected {want}, got shape {list(got)}"
    for axis, (d, n) in enumerate(zip(want.shape, got)):
        if isinstance(d, int) and d != n:
            return f"expected {want}, got shape {list(got)} (dim {axis})"
        if isinstance(d, str) and symbols.setdefault(d, n) != n:
            return f"dim {axis} is '{d}'={symbols[d]} elsewhere, got {n}"
    return None


_DTYPES: dict[np.dtype, DType] = {}


def _dtype_of(dtype: np.dtype) -> DType:
    """``DType.of`` a NumPy dtype, remembered: every write and every bound output asks it."""
    found = _DTYPES.get(dtype)
    if found is None:
        found = _DTYPES[dtype] = DType.of(dtype)
    return found


def _view(slot: _Slot, port: Port) -> np.ndarray:
    """A raw buffer seen as the port's dtype and static shape (checked at launch); typed buffers as they are."""
    if slot.buffer.dtype is None:
        return slot.storage.view(port.type.dtype.numpy).reshape(port.type.shape)  # type: ignore[arg-type]
    return slot.storage


# ---------------------------------------------------------------- the registry

DriverFactory = Callable[..., Device]
"""``factory(description, instance_id=..., host=...) -> Device``; a BaseDevice subclass is one."""

def register_driver(backend: str, factory: DriverFactory) -> None:
    """Make ``factory`` the driver for ``backend`` in code (entry points are the usual way); twice raises."""
    registry.drivers.register(backend, factory)


def driver_factory(backend: str) -> DriverFactory | None:
    """The driver for ``backend``: registered in code or declared under the ``hetflow.drivers`` entry points."""
    return registry.drivers.find(backend)


def available_drivers() -> list[str]:
    """Backends a driver is registered or declared for."""
    return registry.drivers.names()


def open_device(target: MachineDescription | DeviceInstance | str, *, driver: str | None = None,
                instance_id: str | None = None) -> Device:
    """Open a device for a description, a cluster's device instance, or a preset name.

    The driver is the description's backend unless ``driver`` names another (e.g. ``"reference"``
    to run any CPU description on the NumPy interpreter).
    """
    host = None
    if isinstance(target, str):
        target = get_preset(target)
    if isinstance(target, DeviceInstance):
        instance_id, host, target = instance_id or target.id, target.host, target.description
    backend = driver or target.backend
    ident = instance_id or f"local/{target.short_name}:0"
    factory = driver_factory(backend)
    if factory is None:
        raise DeviceError(ident, f"no driver for backend {backend!r} ({target.name}); drivers: "
                                 f"{', '.join(available_drivers())}; out-of-tree drivers register under the "
                                 f"entry-point group {ENTRY_POINT_GROUP!r}", stage="open")
    try:
        return factory(target, instance_id=ident, host=host)
    except HetflowError:
        raise
    except Exception as exc:
        raise DeviceError(ident, exc, stage="open") from exc


def enumerate_devices(cluster: Cluster | None = None) -> list[DeviceInstance]:
    """The devices of ``cluster`` (default: this host) that some driver can open."""
    cluster = cluster or Cluster.local()
    return [d for d in cluster.devices if driver_factory(d.backend) is not None]
