"""Machine descriptions: presets, validation errors, capability rules, units, host detection."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from hetflow.ir import Graph, Node, TensorType, Value, all_ops
from hetflow.targets import (
    HOST_PRESET,
    DescriptionError,
    MachineDescription,
    detect_host,
    get_preset,
    list_presets,
    load_description,
    parse_description,
    preset_path,
    render_description,
)
from hetflow.targets.host import describe_host, parse_cpuinfo, peak_rates
from hetflow.targets.units import BANDWIDTH, BYTES, FREQUENCY, OPS_RATE, parse_quantity, parse_seconds

FILE_PRESETS = [n for n in list_presets() if n != HOST_PRESET]
REQUIRED = ["intel/xeon-platinum-8480", "arm/cortex-a72", "nvidia/h200", "nvidia/a100", "xilinx/alveo-u250",
            "intel/arria10-pac", "nvidia/nvdla-full", "nvidia/nvdla-small", HOST_PRESET]


# ---------------------------------------------------------------- presets


def test_the_required_presets_exist():
    assert set(REQUIRED) <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_renders(name):
    desc = get_preset(name)
    assert desc.name == name
    assert desc.peak_ops and all(v > 0 for v in desc.peak_ops.values())
    assert desc.memory.capacity > 0 and desc.memory.bandwidth > 0 and desc.clock_hz > 0 and desc.tdp_watts > 0
    assert desc.capability.unknown_ops() == [], "preset names ops the IR does not have"
    text = render_description(desc)
    assert text.splitlines()[0] == name and "peak" in text and "host link" in text


@pytest.mark.parametrize("name", FILE_PRESETS)
def test_every_preset_file_cites_its_sources(name):
    text = preset_path(name).read_text()
    assert get_preset(name).sources and "# Sources:" in text
    for estimate in get_preset(name).estimates:
        assert get_preset(name).is_estimate(estimate)


def test_preset_kinds_and_backends():
    kinds = {n: (get_preset(n).kind, get_preset(n).backend) for n in REQUIRED}
    assert kinds["nvidia/h200"] == ("gpu", "gpu_triton")
    assert kinds["xilinx/alveo-u250"] == kinds["intel/arria10-pac"] == ("fpga", "fpga_hls")
    assert kinds["nvidia/nvdla-small"] == ("asic", "nvdla")
    assert kinds[HOST_PRESET] == kinds["arm/cortex-a72"] == ("cpu", "cpu_c")
    assert get_preset("xilinx/alveo-u250").resources["dsp"] == 11508
    assert get_preset("nvidia/nvdla-full").resources["macs_int8"] == 2048


@pytest.mark.parametrize("name", list_presets())
def test_a_description_saved_and_read_again_is_the_same(name):
    """A dump (as JSON, or as Python values) validates again: "every op" is written back as "*"."""
    desc = get_preset(name)
    as_json = json.loads(json.dumps(desc.model_dump(mode="json")))
    assert parse_description(as_json, source=name) == desc
    assert parse_description(desc.model_dump(), source=name) == desc
    if desc.capability.ops == ("*",):
        assert as_json["capability"]["ops"] == "*"


def test_every_op_reads_the_same_written_as_a_string_or_a_one_element_list():
    data = tomllib.loads(preset_path("intel/xeon-platinum-8480").read_text())
    data["capability"]["ops"] = ["*"]
    assert parse_description(data).capability.ops == ("*",) == get_preset("intel/xeon-platinum-8480").capability.ops
    data["capability"]["ops"] = ["*", "relu"]
    with pytest.raises(DescriptionError, match=r'capability\.ops: expected "\*" or a list of IR op names'):
        parse_description(data)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(DescriptionError) as err:
        get_preset("nvidia/h300")
    msg = str(err.value)
    assert "nvidia/h300" in msg and "nvidia/h200" in msg and "\n" not in msg


def test_a_preset_file_must_hold_its_own_name(tmp_path, monkeypatch):
    import hetflow.targets.catalog as catalog

    data = preset_path("nvidia/a100").read_text().replace('name = "nvidia/a100"', 'name = "nvidia/a101"')
    (tmp_path / "nvidia_a100.toml").write_text(data)
    monkeypatch.setattr(catalog, "PRESET_DIR", tmp_path)
    catalog.get_preset.cache_clear()
    try:
        with pytest.raises(DescriptionError, match="nvidia_a100.toml: name: expected 'nvidia/a100'"):
            catalog.get_preset("nvidia/a100")
    finally:
        catalog.get_preset.cache_clear()


# ---------------------------------------------------------------- validation errors


def _write(tmp_path: Path, edit) -> Path:
    """A copy of the H200 preset with ``edit`` applied to its parsed TOML, written back as TOML."""
    data = tomllib.loads(preset_path("nvidia/h200").read_text())
    edit(data)
    path = tmp_path / "chip.toml"
    path.write_text(_to_toml(data))
    return path


def _to_toml(data: dict, prefix: str = "") -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        return repr(v)

    scalars = [f'"{k}" = {value(v)}' for k, v in data.items() if not isinstance(v, dict)]
    tables = [f"[{prefix}{k}]\n" + _to_toml(v, f"{prefix}{k}.") for k, v in data.items() if isinstance(v, dict)]
    return "\n".join(scalars) + "\n" + "\n".join(tables)


def _error(path: Path) -> str:
    with pytest.raises(DescriptionError) as err:
        load_description(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


def test_the_copy_used_for_error_tests_is_valid(tmp_path):
    assert load_description(_write(tmp_path, lambda d: None)).name == "nvidia/h200"


def test_a_bad_value_names_file_field_and_expectation(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d.update(clock_hz="fast")))
    assert "clock_hz" in msg and "hertz" in msg and "'fast'" in msg


def test_a_missing_field_names_its_path_and_what_it_is(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d["memory"].pop("bandwidth")))
    assert "memory.bandwidth: missing" in msg and "bytes per second" in msg


def test_an_unknown_kind_lists_the_kinds(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d.update(kind="tpu")))
    assert "kind" in msg and "'cpu', 'gpu', 'fpga' or 'asic'" in msg and "'tpu'" in msg


def test_a_wrong_type_names_the_nested_field(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d["compute"].update(units="many")))
    assert "compute.units" in msg and "integer" in msg


def test_an_unknown_field_lists_the_known_ones(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d["memory"].update(bandwith="1 TB/s")))
    assert "memory.bandwith: unknown field" in msg and "bandwidth" in msg


def test_a_bad_rule_names_its_index(tmp_path):
    def edit(d):
        d["capability"]["rules"] = [{"ops": ["conv"], "max_kernel": 3}, {"ops": ["conv"], "max_kernel": -1}]

    msg = _error(_write(tmp_path, edit))
    assert "capability.rules[1].max_kernel" in msg


def test_unknown_dtypes_and_bad_names_are_caught(tmp_path):
    assert "peak_ops" in _error(_write(tmp_path, lambda d: d["peak_ops"].update(float33=1.0)))
    assert "capability.dtypes[0]" in _error(_write(tmp_path, lambda d: d["capability"].update(dtypes=["fp32"])))
    assert "name" in _error(_write(tmp_path, lambda d: d.update(name="H200")))
    assert "estimates" in _error(_write(tmp_path, lambda d: d.update(estimates=["memory.nope"])))


def test_several_problems_are_counted_on_one_line(tmp_path):
    msg = _error(_write(tmp_path, lambda d: d.update(kind="tpu", clock_hz="fast")))
    assert "(and 1 more: " in msg and "kind" in msg and "clock_hz" in msg  # the other problem is shown, not counted


def test_invalid_toml_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    assert "not valid TOML" in _error(bad)
    assert "no such file" in _error(tmp_path / "absent.toml")


# ---------------------------------------------------------------- capability rules


def _node(op: str, x: TensorType, w: TensorType | None = None, attrs: dict | None = None,
          out: TensorType | None = None) -> Node:
    """A node built by hand, so that rules are checked without shape inference."""
    inputs = [Value("x", x)] + ([Value("w", w)] if w is not None else [])
    return Node(op, inputs, [Value("y", out or x)], attrs or {}, name=f"{op}0")


def test_capability_checks_ops_dtypes_and_rules():
    small, full, h200 = get_preset("nvidia/nvdla-small"), get_preset("nvidia/nvdla-full"), get_preset("nvidia/h200")
    conv = _node("conv", TensorType("int8", (1, 64, 56, 56)), TensorType("int8", (64, 64, 3, 3)),
                 {"strides": [1, 1]}, TensorType("int8", (1, 64, 56, 56)))
    assert small.check(conv) is None and full.check(conv) is None and h200.check(conv) is None

    f32 = _node("conv", TensorType("float32", (1, 64, 56, 56)), TensorType("float32", (64, 64, 3, 3)))
    assert "dtype float32" in small.check(f32) and h200.check(f32) is None

    big = _node("conv", TensorType("int8", (1, 3, 224, 224)), TensorType("int8", (64, 3, 33, 33)))
    assert "max_kernel 32" in small.check(big) and "[hwarch]" in small.check(big)

    pool = _node("max_pool", TensorType("int8", (1, 8, 32, 32)), attrs={"kernel": [9, 9], "strides": [2, 2]})
    assert "kernel 9x9 exceeds max_kernel 8" in small.check(pool)

    stride = _node("conv", TensorType("int8", (1, 8, 32, 32)), TensorType("int8", (8, 8, 3, 3)), {"strides": [9, 9]})
    assert "max_stride 8" in small.check(stride)

    wide = _node("conv", TensorType("int8", (1, 9000, 8, 8)), TensorType("int8", (8, 9000, 1, 1)))
    assert "9000 channels" in small.check(wide)

    batched = _node("relu", TensorType("int8", (4, 8, 8, 8)))
    assert "max_batch 1" in small.check(batched) and full.check(batched) is None

    symbolic = _node("relu", TensorType("int8", ("N", 8, 8, 8)))
    assert "symbolic" in full.check(symbolic) or "batch N" in full.check(symbolic)

    assert "not supported" in small.check(_node("sigmoid", TensorType("int8", (1, 8, 8, 8))))
    assert full.check(_node("sigmoid", TensorType("int8", (1, 8, 8, 8)))) is None
    assert "rank 5" in get_preset("xilinx/alveo-u250").check(_node("relu", TensorType("float32", (1, 2, 3, 4, 5))))


def test_a_cpu_runs_any_op_of_a_real_graph():
    g = Graph()
    x = g.add_input("x", "float32", ("N", 4))
    node = g.add_node("softmax", [x])
    assert get_preset(HOST_PRESET).check(node) is None
    assert "not supported" in get_preset("nvidia/nvdla-full").check(node)


def test_capability_ops_may_exclude_and_rules_may_bound_elements(tmp_path):
    def edit(d):
        d["capability"].update(exclude=["gather"], rules=[{"ops": "*", "max_elements": 100, "note": "tiny"}])

    desc = load_description(_write(tmp_path, edit))
    assert "not supported" in desc.check(_node("gather", TensorType("float32", (2,))))
    assert "over max_elements 100 (tiny)" in desc.check(_node("relu", TensorType("float32", (10, 11))))
    assert desc.check(_node("relu", TensorType("float32", (10, 10)))) is None
    assert desc.capability.unknown_ops() == []
    assert "gather" in all_ops()


# ---------------------------------------------------------------- units


@pytest.mark.parametrize("raw, unit, value", [
    ("4.8 TB/s", BANDWIDTH, 4.8e12), ("100 Mbit/s", BANDWIDTH, 12.5e6), ("80 GiB", BYTES, 80 * 2**30),
    ("141 GB", BYTES, 141e9), ("1.98 GHz", FREQUENCY, 1.98e9), ("989.5 TFLOP/s", OPS_RATE, 989.5e12),
    ("33.3 TOPS", OPS_RATE, 33.3e12), ("67 T", OPS_RATE, 67e12), (1_000, BYTES, 1000.0), ("2_048 B", BYTES, 2048.0),
])
def test_quantities(raw, unit, value):
    assert parse_quantity(raw, unit) == pytest.approx(value)


@pytest.mark.parametrize("raw", ["fast", "4 TB", "-3 GB/s", True, [1]])
def test_bad_quantities(raw):
    with pytest.raises(ValueError, match="expected"):
        parse_quantity(raw, BANDWIDTH)


def test_durations():
    assert parse_seconds("20 ms") == pytest.approx(0.02) and parse_seconds("2 us") == pytest.approx(2e-6)
    assert parse_seconds(0) == 0.0
    with pytest.raises(ValueError):
        parse_seconds("soon")


# ---------------------------------------------------------------- host detection

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
cpu MHz\t\t: 2000.000
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512_vnni amx_bf16 amx_int8
processor\t: 1
physical id\t: 0
core id\t\t: 0
processor\t: 2
physical id\t: 0
core id\t\t: 1
"""
ARM = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08
processor\t: 1
Features\t: fp asimd evtstrm crc32 cpuid
"""


def test_parse_x86_cpuinfo():
    info = parse_cpuinfo(X86)
    assert info.model == "Intel(R) Xeon(R) Platinum 8480+" and info.vendor == "Intel"
    assert {"avx512f", "amx_int8"} <= info.flags and info.physical_cores == 2 and info.mhz == 2000.0


def test_parse_arm_cpuinfo():
    info = parse_cpuinfo(ARM)
    assert (info.model, info.vendor, info.physical_cores) == ("Cortex-A72", "Arm", None) and "asimd" in info.flags


def test_peak_rates_follow_the_widest_isa():
    assert peak_rates(set())["float32"] == 2
    assert peak_rates({"sse2", "avx", "fma", "avx2"})["float32"] == 32
    rates = peak_rates({"avx512f", "avx512_vnni", "amx_int8"})
    assert rates["float32"] == 64 and rates["float64"] == 32 and rates["int8"] == 2048
    assert peak_rates({"asimd"})["float32"] == 8


def test_describe_host_labels_estimates():
    desc = describe_host(parse_cpuinfo(X86), threads=3, clock_hz=2e9, memory_bytes=2**34, cache_bytes=None)
    assert desc.name == HOST_PRESET and desc.compute.units == 2 and desc.compute.threads == 3
    assert desc.peak("float32") == pytest.approx(2 * 2e9 * 64) and desc.peak("int8") == pytest.approx(2 * 2e9 * 2048)
    assert desc.is_estimate("peak_ops.float32") and desc.is_estimate("on_chip.capacity")
    assert not desc.is_estimate("memory.capacity") and "avx512f" in desc.isa
    arm = describe_host(parse_cpuinfo(ARM), threads=2, clock_hz=None, memory_bytes=None, cache_bytes=None)
    assert arm.compute.units == 2 and arm.is_estimate("clock_hz") and arm.model == "Cortex-A72"
    assert "~" in render_description(arm)


def test_detect_this_host():
    import os

    desc = detect_host()
    assert isinstance(desc, MachineDescription) and desc is get_preset(HOST_PRESET)
    assert desc.kind == "cpu" and desc.compute.threads == os.cpu_count()
    assert desc.peak("float32") > 0 and desc.is_estimate("peak_ops")
    assert desc.memory.capacity > 2**20
