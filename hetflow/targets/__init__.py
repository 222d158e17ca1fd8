"""Machine descriptions (one chip each, validated TOML), presets, the detected host, and clusters."""

from hetflow.targets.catalog import get_preset, list_presets, preset_path, render_description
from hetflow.targets.cluster import Cluster, DeviceInstance, Link, list_clusters
from hetflow.targets.host import HOST_PRESET, detect_host, is_this_host
from hetflow.targets.schema import (
    Capability,
    DescriptionError,
    MachineDescription,
    Rule,
    load_description,
    parse_description,
)

__all__ = [
    "HOST_PRESET", "Capability", "Cluster", "DescriptionError", "DeviceInstance", "Link", "MachineDescription", "Rule",
    "detect_host", "get_preset", "is_this_host", "list_clusters", "list_presets", "load_description", "parse_description",
    "preset_path", "render_description",
]
