"""The host's measured launch overheads: a subgraph is timed as the runtime runs one, inline, minus its kernels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hetflow import registry
from hetflow.devices import DeviceError
from hetflow.targets import detect_host
from hetflow.targets.host import measure_subgraph_launch

OVERHEAD_S = 400e-6  # what the fake driver spends per launch, whatever the program
KERNEL_S = 1e-3  # and per kernel of the program


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _Run:
    def wait(self) -> dict[str, Any]:
        return {}


class FakeHostDevice:
    """A driver with known costs: ``OVERHEAD_S`` per inline launch plus ``KERNEL_S`` per node; no worker thread."""

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
        _spin(OVERHEAD_S + program * KERNEL_S)
        return _Run()

    def launch(self, program: int, bindings: dict[str, object]) -> _Run:
        raise AssertionError("a host subgraph runs inline (run_here); a queued launch is not what the runtime does")

    def close(self) -> None:
        self.closed = True


class BrokenDevice(FakeHostDevice):
    def load(self, graph: Any) -> int:
        raise DeviceError("local/broken:0", "no C compiler", stage="load")


@pytest.fixture
def fake_drivers() -> Iterator[list[FakeHostDevice]]:
    opened: list[FakeHostDevice] = []

    def factory(cls: type[FakeHostDevice]) -> Any:
        def make(*args: Any, **kwargs: Any) -> FakeHostDevice:
            opened.append(cls(*args, **kwargs))
            return opened[-1]
        return make

    registry.drivers.register("fake_inline", factory(FakeHostDevice))
    registry.drivers.register("fake_broken", factory(BrokenDevice))
    yield opened
    registry.drivers.unregister("fake_inline")
    registry.drivers.unregister("fake_broken")


def test_a_host_subgraph_launch_is_the_inline_run_minus_its_kernels(fake_drivers: list[FakeHostDevice]) -> None:
    description = detect_host().model_copy(update={"backend": "fake_inline"})
    seconds = measure_subgraph_launch(description, repeats=9)
    # the per-launch cost, not the kernels it ran (1 ms each) and not a hand-off the fake does not have
    assert OVERHEAD_S * 0.9 < seconds < OVERHEAD_S + KERNEL_S / 4
    (device,) = fake_drivers
    assert device.loaded == [1, 3] and device.closed


def test_a_driver_that_cannot_build_the_probe_leaves_it_to_the_reference_interpreter(
        fake_drivers: list[FakeHostDevice]) -> None:
    description = detect_host().model_copy(update={"backend": "fake_broken"})
    seconds = measure_subgraph_launch(description, repeats=9)
    assert fake_drivers[0].closed and 0 < seconds < 0.01  # measured on the reference driver: microseconds

