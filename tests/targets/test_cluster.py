"""Cluster descriptions: presets, instance ids, links and routes, and errors naming file and device."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hetflow.targets import Cluster, DescriptionError, get_preset, list_clusters, preset_path
from hetflow.targets.cluster import CLUSTER_DIR


@pytest.mark.parametrize("name", list_clusters())
def test_every_cluster_preset_loads(name):
    cluster = Cluster.load(name)
    assert cluster.name == name and len(cluster) >= 1
    assert cluster.render().startswith(f"cluster {name}")
    for a in cluster:
        for b in cluster:
            link = cluster.link(a.id, b.id)
            assert link.bandwidth > 0 and link.latency >= 0


def test_the_issue_presets_exist():
    assert {"host-only", "datacenter-node", "edge-cloud"} <= set(list_clusters())


def test_local_is_the_detected_host_cpu():
    cluster = Cluster.local()
    [cpu] = cluster.devices
    assert (cpu.id, cpu.host, cpu.kind, cpu.description) == ("host0/cpu:0", "host0", "cpu", get_preset("host/cpu"))
    assert list(cluster.hosts) == ["host0"]


def test_datacenter_node_devices_and_pcie_links():
    c = Cluster.load("datacenter-node")
    assert [d.id for d in c] == ["node0/cpu:0", "node0/h200:0", "node0/alveo-u250:0", "node0/nvdla:0"]
    assert [d.kind for d in c] == ["cpu", "gpu", "fpga", "asic"]
    gpu = c.link("node0/cpu:0", "node0/h200:0")
    assert gpu.bandwidth == pytest.approx(64e9) and gpu.latency == pytest.approx(5e-6)
    # The U250 is PCIe 3.0: its own link is slower than the slot; GPU -> FPGA goes through the host.
    fpga = c.link("node0/h200:0", "node0/alveo-u250:0")
    assert fpga.bandwidth == pytest.approx(15.75e9) and fpga.latency == pytest.approx(15e-6)
    assert fpga.path == ("node0/h200:0", "node0", "node0/alveo-u250:0")
    assert c.link("node0/nvdla:0", "node0").kind == "PCIe 3.0 x16"  # the entry's own link replaces the SoC one


def test_same_device_is_free_and_link_time():
    c = Cluster.load("datacenter-node")
    same = c.link("node0/h200:0", "node0/h200:0")
    assert math.isinf(same.bandwidth) and same.latency == 0 and same.time(1e9) == 0
    link = c.link("node0/cpu:0", "node0/h200:0")
    assert link.time(64e9) == pytest.approx(1 + 5e-6)
    back = c.link("node0/h200:0", "node0/cpu:0")
    assert (back.bandwidth, back.latency, back.path) == (link.bandwidth, link.latency, link.path[::-1])


def test_edge_cloud_goes_over_the_wan():
    c = Cluster.load("edge-cloud")
    assert set(c.hosts) == {"edge0", "cloud0"}
    wan = c.link("edge0/nvdla:0", "cloud0/h200:0")
    assert wan.bandwidth == pytest.approx(12.5e6)  # 100 Mbit/s
    assert wan.latency == pytest.approx(20e-3 + 10e-6 + 5e-6)
    assert wan.path == ("edge0/nvdla:0", "edge0", "cloud0", "cloud0/h200:0") and "WAN" in wan.kind
    assert c.link("edge0", "cloud0").latency == pytest.approx(0.02)


def test_device_lookup_by_id_stem_or_preset():
    c = Cluster.load("edge-cloud")
    assert c.device("cloud0/h200").id == "cloud0/h200:0"
    assert c.device("nvidia/nvdla-small").id == "edge0/nvdla:0"
    with pytest.raises(DescriptionError, match="is ambiguous"):
        Cluster.of("nvidia/h200", "nvidia/h200").device("nvidia/h200")
    with pytest.raises(DescriptionError) as err:
        c.link("edge0/gpu:0", "cloud0")
    assert "edge0/gpu:0" in str(err.value) and "cloud0/h200:0" in str(err.value)


def _cluster(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_counts_ids_default_links_and_custom_descriptions(tmp_path):
    (tmp_path / "chip.toml").write_text(preset_path("nvidia/a100").read_text().replace('"nvidia/a100"', '"acme/a100x"'))
    path = _cluster(tmp_path, """
name = "two-boxes"
[defaults]
intra_host = { kind = "PCIe 4.0 x16", bandwidth = "32 GB/s", latency = "3 us" }
inter_host = { kind = "100 GbE", bandwidth = "12.5 GB/s", latency = "10 us" }
[[hosts]]
name = "a"
devices = [{ preset = "nvidia/h200", count = 2, id = "gpu" }, { description = "chip.toml" }]
[[hosts]]
name = "b"
devices = [{ preset = "nvidia/h200" }]
[[links]]
a = "a/gpu:0"
b = "a/gpu:1"
kind = "NVLink 4"
bandwidth = "450 GB/s"
latency = "1 us"
""")
    c = Cluster.load(path)
    assert [d.id for d in c] == ["a/gpu:0", "a/gpu:1", "a/a100x:0", "b/h200:0"]
    assert c.device("a/a100x:0").description.name == "acme/a100x"
    assert c.link("a/gpu:0", "a/gpu:1").kind == "NVLink 4"  # a direct link wins
    slot = c.link("a", "a/gpu:0")
    assert slot.bandwidth == pytest.approx(32e9) and slot.latency == pytest.approx(5e-6)  # the slot caps the card
    net = c.link("a/gpu:1", "b/h200:0")
    assert net.bandwidth == pytest.approx(12.5e9) and net.latency == pytest.approx(5e-6 + 10e-6 + 5e-6)


def test_unlinked_hosts_are_an_error_naming_both(tmp_path):
    c = Cluster.load(_cluster(tmp_path, """
name = "islands"
[[hosts]]
name = "a"
devices = [{ preset = "nvidia/h200" }]
[[hosts]]
name = "b"
devices = [{ preset = "nvidia/a100" }]
"""))
    with pytest.raises(DescriptionError, match="hosts a and b are not linked"):
        c.link("a/h200:0", "b/a100:0")


@pytest.mark.parametrize("body, expected", [
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h300" }]',
     "hosts[0].devices[0].preset: unknown machine preset 'nvidia/h300'"),
    ('[[hosts]]\nname = "a"\ndevices = [{ description = "absent.toml" }]', "hosts[0].devices[0].description:"),
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h200", description = "x.toml" }]',
     "exactly one of preset or description"),
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h200", count = 0 }]', "hosts[0].devices[0].count"),
    ('[[hosts]]\nname = "a"\ndevices = []', "hosts[0].devices"),
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h200" }]\n[[hosts]]\nname = "a"\n'
     'devices = [{ preset = "nvidia/h200" }]', "hosts[1].name: host 'a' is listed twice"),
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h200" }]\n[[links]]\na = "a"\nb = "a/gpu:0"\n'
     'bandwidth = 1\nlatency = 0', "links[0].b: 'a/gpu:0' is not a device"),
    ('[[hosts]]\nname = "a"\ndevices = [{ preset = "nvidia/h200" }]\n[[links]]\na = "a"\nb = "a/h200:0"\n'
     'bandwidth = "fast"\nlatency = 0', "links[0].bandwidth"),
    ('hosts = 3', "hosts"),
])
def test_bad_cluster_files_name_file_and_entry(tmp_path, body, expected):
    path = _cluster(tmp_path, 'name = "bad"\n' + body)
    with pytest.raises(DescriptionError) as err:
        Cluster.load(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and expected in msg and "\n" not in msg, msg


def test_unknown_cluster_name_lists_presets():
    with pytest.raises(DescriptionError) as err:
        Cluster.load("moon-base")
    assert "moon-base" in str(err.value) and "edge-cloud" in str(err.value)


def test_cluster_of_descriptions():
    c = Cluster.of("nvidia/h200", get_preset("xilinx/alveo-u250"), host="box")
    assert [d.id for d in c] == ["box/h200:0", "box/alveo-u250:0"] and c.device("box/h200:0").backend == "gpu_triton"
    assert CLUSTER_DIR.is_dir()
