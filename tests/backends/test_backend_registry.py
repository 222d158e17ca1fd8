"""The backend and driver registry: entry points, lazy loading, one registration per name, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hetflow import registry
from hetflow.backends import Backend, available_backends, get_backend
from hetflow.backends.reference import ReferenceBackend
from hetflow.devices import available_drivers, driver_factory
from hetflow.ir.errors import HetflowError


def test_builtins_come_from_entry_points():
    assert {"reference", "cpu_c", "fpga_hls"} <= set(available_backends())
    assert {"reference", "cpu_c", "fpga_hls", "emulated", "host"} <= set(available_drivers())
    assert isinstance(get_backend("cpu_c"), Backend)
    assert get_backend("cpu_c").driver() is driver_factory("cpu_c") is not None


def test_importing_hetflow_loads_no_backend_and_devices_imports_none():
    code = ("import sys, hetflow, hetflow.devices; "
            "print(sorted(m for m in sys.modules if m.startswith('hetflow.backends.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['hetflow.backends.base']"


def test_registering_a_declared_or_registered_name_twice_raises():
    with pytest.raises(registry.RegistryError, match="registered twice"):
        registry.backends.register("reference", ReferenceBackend)
    mine = registry.Registry("hetflow.test-nothing", "backend")
    mine.register("x", ReferenceBackend)
    with pytest.raises(registry.RegistryError, match="'x' is registered twice"):
        mine.register("x", ReferenceBackend)


def test_an_unknown_backend_is_one_line_naming_the_known_ones():
    with pytest.raises(HetflowError) as err:
        get_backend("no_such_backend")
    assert "no_such_backend" in str(err.value) and "cpu_c" in str(err.value) and "\n" not in str(err.value)


def test_an_entry_point_that_fails_to_load_is_one_line(tmp_path, monkeypatch):
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.BACKENDS_GROUP}]\nbroken = no_such_module_here:Backend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(registry.RegistryError) as err:
        get_backend("broken")
    message = str(err.value)
    assert "broken" in message and "no_such_module_here" in message and "\n" not in message
