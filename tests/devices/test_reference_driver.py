"""The reference driver against the conformance suite, and the driver registry."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from devices.conformance import DeviceConformance

import hetflow.devices as devices
from hetflow import registry
from hetflow.backends.reference.driver import ReferenceDevice
from hetflow.devices import BaseDevice, DeviceError, open_device, register_driver
from hetflow.ir.errors import HetflowError
from hetflow.targets import Cluster, get_preset


class TestReferenceDriver(DeviceConformance):
    @pytest.fixture
    def open_device(self):
        return lambda: open_device("host/cpu", driver="reference")


class FixedTimeDevice(ReferenceDevice):
    """The reference computation with a modelled clock: what an emulated accelerator driver looks like."""

    driver = "fixed_time"
    time_source = "model:fixed"

    def model_time(self, program, inputs, outputs) -> float:
        return 1e-3


class TestModelledTimeDriver(DeviceConformance):
    @pytest.fixture
    def open_device(self):
        return lambda: FixedTimeDevice(get_preset("nvidia/h200"), instance_id="node0/h200:0")

    def test_busy_time_comes_from_the_model(self, device):
        program = device.load(self.mlp())
        buf = self._put(device, np.ones((2, 8), np.float32))
        runs = [device.launch(program, {"x": buf}) for _ in range(3)]
        for run in runs:
            run.wait(30)
            assert (run.busy_s, run.time_source) == (1e-3, "model:fixed")
        stats = device.stats()
        assert stats.time_source == "model:fixed" and stats.busy_s == pytest.approx(3e-3)


def test_the_reference_driver_is_found_by_backend_name():
    assert "reference" in devices.available_drivers()
    assert devices.driver_factory("reference") is ReferenceDevice


def test_registering_a_driver_twice_raises():
    with pytest.raises(HetflowError, match="registered twice"):
        register_driver("reference", ReferenceDevice)


def test_a_backend_without_a_driver_is_a_clear_open_error():
    with pytest.raises(DeviceError) as err:
        open_device("nvidia/h200", driver="no_such_backend")
    assert err.value.stage == "open" and "no_such_backend" in str(err.value) and "reference" in str(err.value)
    assert "hetflow.drivers" in str(err.value)


def test_an_out_of_tree_driver_comes_from_an_entry_point(monkeypatch):
    ep = importlib.metadata.EntryPoint("oot_demo", "hetflow.backends.reference.driver:ReferenceDevice",
                                       devices.ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points

    def fake(**kw):
        if kw.get("group") == devices.ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints([ep] if kw.get("name") in (None, ep.name) else [])
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    registry.drivers.unregister("oot_demo")
    assert "oot_demo" in devices.available_drivers()
    with open_device("host/cpu", driver="oot_demo") as dev:
        assert isinstance(dev, ReferenceDevice)
    registry.drivers.unregister("oot_demo")


def test_a_broken_entry_point_is_reported_not_swallowed(monkeypatch):
    ep = importlib.metadata.EntryPoint("broken_demo", "no_such_module_xyz:Driver", devices.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: importlib.metadata.EntryPoints([ep] if kw.get("name") == "broken_demo" else []))
    with pytest.raises(HetflowError, match="no_such_module_xyz"):
        open_device("host/cpu", driver="broken_demo")


def test_open_a_cluster_instance_keeps_its_id_and_host():
    reference_cpu = get_preset("host/cpu").model_copy(update={"backend": "reference"})
    cluster = Cluster.of(reference_cpu, get_preset("nvidia/h200"), host="box")
    found = devices.enumerate_devices(cluster)
    assert [d.id for d in found] == ["box/cpu:0"]  # no gpu_triton driver yet
    with open_device(found[0]) as dev:
        assert dev.id == "box/cpu:0" and dev.host == "box" and dev.info().driver == "reference"


def test_a_driver_without_a_time_model_fails_its_runs_not_the_device():
    class NoModel(ReferenceDevice):
        time_source = "model:missing"

    with NoModel(get_preset("host/cpu")) as dev:
        program = dev.load(TestReferenceDriver().mlp())
        buf = dev.alloc(((1, 8), "float32"))
        with pytest.raises(DeviceError, match="no model_time"):
            dev.launch(program, {"x": buf}).wait(30)
        assert dev.alloc(8)


def test_base_device_needs_compile():
    with BaseDevice(get_preset("host/cpu")) as dev, pytest.raises(DeviceError) as err:
        dev.load(object(), name="x")
    assert err.value.stage == "load" and "NotImplementedError" in err.value.cause
