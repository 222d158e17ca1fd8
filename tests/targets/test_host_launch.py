"""The host's measured launch overheads: a subgraph is timed as the runtime runs one, inline, minus its kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hetflow import registry
from hetflow.devices import DeviceError
from hetflow.targets import detect_host
from hetflow.targets import host as host_module
from hetflow.targets.host import measure_subgraph_launch

OVERHEAD_S = 400e-6  # what the fake driver spends per launch, whatever the program
KERNEL_S = 1e-3  # and per kernel of the program


class FakeClock:
    """``time.perf_counter`` for the measurement: only the fake devices advance it (a loaded host cannot)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Run:
    def wait(self) -> dict[str, Any]:
        return {}


class FakeHostDevice:
    """A driver with known costs: ``OVERHEAD_S`` per inline launch plus ``KERNEL_S`` per node; no worker thread."""

    clock: FakeClock

    def __init__(self, description: Any, instance_id: str | None = None, host: str | None = None) -> None:
        self.closed = False
        self.loaded: list[int] = []

    def alloc(self, spec: Any) -> object:
        return object()

    def write(self, buffer: object, array: np.ndarray) -> None:
        pass

    def load(self, graph: Any) -> int:
        self.loaded.append(len(graph.nodes))
        return len(graph.nodes)

    def run_here(self, program: int, bindings: dict[str, object]) -> _Run:
        self.clock.now += OVERHEAD_S + program * KERNEL_S
        return _Run()

    def launch(self, program: int, bindings: dict[str, object]) -> _Run:
        raise AssertionError("a host subgraph runs inline (run_here); a queued launch is not what the runtime does")

    def close(self) -> None:
        self.closed = True


class BrokenDevice(FakeHostDevice):
    def load(self, graph: Any) -> int:
        raise DeviceError("local/broken:0", "no C compiler", stage="load")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeHostDevice]:
    """Fake drivers under the names ``fake_inline``, ``fake_broken`` and (standing in for it) ``reference``."""
    detect_host()  # measured with the real drivers and clock, once, before the fakes stand in
    clock, devices = FakeClock(), []

    def factory(cls: type[FakeHostDevice]) -> Any:
        def make(*args: Any, **kwargs: Any) -> FakeHostDevice:
            devices.append(cls(*args, **kwargs))
            devices[-1].clock = clock
            return devices[-1]
        return make

    fakes = {"fake_inline": factory(FakeHostDevice), "fake_broken": factory(BrokenDevice),
             "reference": factory(FakeHostDevice)}
    monkeypatch.setattr(registry.drivers, "find", fakes.get)
    monkeypatch.setattr(host_module.time, "perf_counter", clock)
    return devices


def test_a_host_subgraph_launch_is_the_inline_run_minus_its_kernels(opened: list[FakeHostDevice]) -> None:
    seconds = measure_subgraph_launch(detect_host().model_copy(update={"backend": "fake_inline"}), repeats=9)
    # the per-launch cost, not the kernels it ran (1 ms each) and not a hand-off the fake does not have
    assert seconds == pytest.approx(OVERHEAD_S)
    (device,) = opened
    assert device.loaded == [1, 3] and device.closed


def test_a_driver_that_cannot_build_the_probe_leaves_it_to_the_reference_interpreter(
        opened: list[FakeHostDevice]) -> None:
    seconds = measure_subgraph_launch(detect_host().model_copy(update={"backend": "fake_broken"}), repeats=9)
    broken, reference = opened
    assert isinstance(broken, BrokenDevice) and broken.closed
    assert reference.loaded == [1, 3] and seconds == pytest.approx(OVERHEAD_S)


def test_the_host_description_carries_the_measured_launch() -> None:
    host = detect_host()
    assert "launch" not in host.estimates and 0 < host.launch.subgraph < 0.1
