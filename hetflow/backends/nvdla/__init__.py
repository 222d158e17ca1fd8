"""The NVDLA backend: quantized IR -> engine op descriptors (CONV, SDP, PDP, CDP, RUBIK) in a versioned loadable ->
bit-exact NumPy engine models, scheduled per engine, timed by ``model:nvdla-perf``.

``table.py`` answers capability (before lowering; the configuration's feature matrix in ``supports_on``);
``hw.py`` reads a configuration from a description's ``[nvdla]`` table; ``lower.py`` builds the loadable
(weights padded to the atoms, convolutions split to fit the buffer, memory planned); ``loadable.py`` is its
format; ``engines.py`` the engine models; ``runtime.py`` the scheduler and executable; ``perf.py`` the
performance model; ``driver.py`` the device. Float graphs get here through ``passes/quantize.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hetflow.backends.base import Artifact, Backend, Estimate
from hetflow.backends.nvdla import table
from hetflow.backends.nvdla.engines import pad_to
from hetflow.backends.nvdla.hw import NvdlaConfig, NvdlaConfigError, from_description, sweep_config
from hetflow.backends.nvdla.loadable import LoadableError, load, save
from hetflow.backends.nvdla.lower import NvdlaLoweringError, NvdlaUnsupportedError, lower
from hetflow.backends.nvdla.perf import TIME_SOURCE, ConvShape, conv_layer, engine_layer, engine_throughput
from hetflow.backends.nvdla.runtime import NvdlaExecutable, write_engine_trace
from hetflow.ir import Graph, Node, verify
from hetflow.ir.errors import HetflowError
from hetflow.targets import MachineDescription, get_preset

DEFAULT_TARGET = "nvidia/nvdla-full"


def resolve_target(target: MachineDescription | str) -> MachineDescription:
    description = target if isinstance(target, MachineDescription) else get_preset(target)
    if description.backend != "nvdla":
        raise NvdlaConfigError(f"target {description.name} is not an NVDLA configuration (its backend is "
                               f"{description.backend})")
    return description


class NvdlaBackend(Backend):
    """Compiles quantized IR graphs for an NVDLA configuration."""

    name = "nvdla"
    time_source = TIME_SOURCE
    saves_artifacts = True

    def supports(self, node: Node) -> str | None:
        return table.supports(node)

    def compile(self, graph: Graph, description: MachineDescription | None = None, *,
                target: MachineDescription | str = DEFAULT_TARGET, **options: Any) -> NvdlaExecutable:
        if options:
            raise NvdlaConfigError(f"nvdla.compile: unknown option(s) {sorted(options)}; it takes target")
        return self.compile_for(graph, description if description is not None else resolve_target(target))

    def modelled_time(self, artifact: Artifact) -> Estimate | None:
        return Estimate(artifact.seconds, TIME_SOURCE) if isinstance(artifact, NvdlaExecutable) else None

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        if not isinstance(artifact, NvdlaExecutable):
            raise LoadableError(f"nvdla saves NvdlaExecutables, not {type(artifact).__name__}")
        save_artifact(artifact, directory)

    def compile_for(self, graph: Graph, description: MachineDescription) -> NvdlaExecutable:
        verify(graph)
        config = from_description(resolve_target(description))
        loadable, blobs = lower(graph, config)
        return NvdlaExecutable(graph, loadable, blobs, config)

    def load_artifact(self, directory: Path, graph: Graph,
                      description: MachineDescription | None = None) -> NvdlaExecutable:
        """A loadable written by ``save_artifact``, checked on load; for the configuration it names unless given."""
        loadable, blobs = load(directory)
        if description is None:
            try:
                description = get_preset(str(loadable.config.get("name")))
            except HetflowError:
                raise LoadableError(f"{directory}: the loadable is for {loadable.config.get('name')!r}, which is not "
                                    f"a preset; give its description") from None
        return NvdlaExecutable(graph, loadable, blobs, from_description(resolve_target(description)))

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """One node alone on the configuration, from ``model:nvdla-perf``; None when it cannot run there."""
        if description.backend != self.name or description.nvdla is None:
            return None
        config = from_description(description)
        if table.supports_on(node, config) is not None:
            return None
        return Estimate(_node_cycles(node, config) / config.clock_hz, TIME_SOURCE)


def _deconv_layers(node: Node, config: NvdlaConfig) -> list:
    """The layers a deconvolution lowers to (``lower._deconv``): the phase convolution and the RUBIK contract."""
    n, c, h, w = node.inputs[0].type.shape  # type: ignore[union-attr, misc]
    _, m, kh, kw = node.inputs[1].type.shape  # type: ignore[union-attr, misc]
    st = node.attrs["strides"][0]
    th, tw = -(-kh // st), -(-kw // st)
    out = (h + th - 1, w + tw - 1) if st > 1 else tuple(node.outputs[0].type.shape[2:])  # type: ignore[index]
    shape = ConvShape(n, c, h, w, m * st * st, th, tw, (1, 1), out, out, pad_top=th - 1)  # type: ignore[arg-type]
    layers = [conv_layer(node.name, shape, config)]
    if st > 1:
        phases = n * m * st * st * out[0] * out[1]
        y = node.outputs[0].type.shape
        moved = n * (pad_to(m * st * st, config.memory_atomic) * out[0] * out[1]  # surfaces pad to the memory atom
                     + pad_to(m, config.memory_atomic) * y[2] * y[3])  # type: ignore[index]
        layers.append(engine_layer(node.name, phases, moved, engine_throughput("RUBIK", config), config))
    return layers


def save_artifact(exe: NvdlaExecutable, directory: Path) -> list[Path]:
    """Write the executable's loadable (loadable.json, weights.npz, loadable.txt) into ``directory``."""
    return save(exe.loadable, exe.blobs, Path(directory))


_CONV_OPS = ("conv_integer", "conv_requant", "matmul_integer", "matmul_requant", "conv")


def _node_cycles(node: Node, config: NvdlaConfig) -> float:
    if node.op in _CONV_OPS:  # the *_requant forms carry their SDP rescale in the same pass
        x, w = node.inputs[0].type.shape, node.inputs[1].type.shape  # type: ignore[union-attr]
        y = node.outputs[0].type.shape
        if node.op.startswith("matmul"):
            shape = ConvShape(x[0], x[1], 1, 1, w[1], 1, 1, (1, 1), (1, 1), (1, 1))  # type: ignore[index, arg-type]
        else:
            stride = tuple(node.attrs["strides"])
            shape = ConvShape(x[0], x[1], x[2], x[3], w[0], w[2], w[3], stride, (y[2], y[3]), (y[2], y[3]),  # type: ignore[index, arg-type]
                              winograd=config.winograd and tuple(w[2:]) == (3, 3) and stride == (1, 1),  # type: ignore[index]
                              pad_top=node.attrs["pads"][0], dilation=node.attrs["dilations"][0],
                              element_bytes=2 if table.computes_half(node) else 1)
        return conv_layer(node.name, shape, config).cycles
    if node.op == "conv_transpose_requant":  # CONV over the phases, then the RUBIK contract reads and writes
        return sum(layer.cycles for layer in _deconv_layers(node, config))
    if node.op in ("requantize", "concat", "reshape"):
        return 0.0  # fused behind the CONV / written in place
    elements = sum(math.prod(v.type.shape) for v in node.inputs if v is not None and not v.is_const)  # type: ignore[arg-type]
    out = math.prod(node.outputs[0].type.shape)  # type: ignore[arg-type]
    throughput = engine_throughput(table.TABLE[node.op].engine, config)
    size = 2 if table.computes_half(node) else 1
    return engine_layer(node.name, elements, (elements + out) * size, throughput, config).cycles


__all__ = ["DEFAULT_TARGET", "TIME_SOURCE", "LoadableError", "NvdlaBackend", "NvdlaConfig", "NvdlaConfigError",
           "NvdlaExecutable", "NvdlaLoweringError", "NvdlaUnsupportedError", "from_description", "lower",
           "save_artifact", "sweep_config", "write_engine_trace"]
