"""The FPGA backend: IR -> configured HLS C++ template library (ap_fixed) -> g++ C simulation + cycle model.

``table.py`` maps IR ops to templates and answers capability (``supports``); ``config.py`` holds
the per-layer settings (precision, reuse factor; model < op type < node name); ``lower.py`` builds
a ``Design``; ``layers.py`` gives each layer its C++ configuration, its bit-exact NumPy model
(``fixedpoint.py``) and its work; ``codegen.py`` writes the sources; ``csim.py`` compiles and runs
them; ``estimate.py`` is the ``model:hls-cycles`` cycle and resource model; ``driver.py`` is the
device; ``export.py`` writes a Vitis HLS project; ``precision.py`` traces where precision is lost.

Beyond ``supports`` and ``compile``, the backend declares (``base.Backend``): ``estimate`` (a node's
``model:hls-cycles`` time on a board, for the cost model), ``modelled_time`` (a compiled design's),
and saved artifacts. ``compile(graph, description)`` builds the design a board of that description
runs (``compile_for``), which its driver executes as a C simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from hetflow.backends.base import Artifact, ArtifactError, Backend, Estimate
from hetflow.backends.fpga_hls import table
from hetflow.backends.fpga_hls.config import Architecture, HLSConfig, HLSConfigError, ReuseFactorWarning
from hetflow.backends.fpga_hls.csim import CompileError, CompilerNotFoundError, Toolchain
from hetflow.backends.fpga_hls.estimate import TIME_SOURCE, DesignDoesNotFit, DesignEstimate, estimate, fold_to_fit
from hetflow.backends.fpga_hls.executable import FpgaExecutable
from hetflow.backends.fpga_hls.fixedpoint import FixedPointError, FixedType
from hetflow.backends.fpga_hls.lower import Design, LoweringError, lower, node_graph
from hetflow.backends.fpga_hls.precision import calibrate
from hetflow.ir import Graph, Node, verify
from hetflow.targets import MachineDescription, get_preset
from hetflow.targets.catalog import list_presets

DEFAULT_TARGET = "xilinx/alveo-u250"
Calibration = list[dict[str, np.ndarray]] | None
"""Sample inputs of the graph being compiled (dicts by input name), to calibrate fixed-point types on."""
DEVICE_ARCHITECTURES: tuple[Architecture, ...] = ("parallel", "stream")
"""What a board builds a graph as when given no settings: the default settings in the first of these architectures
whose design fits once folded. As hls4ml users do: io_parallel, and io_stream for what is too big to unroll."""


def resolve_target(target: MachineDescription | str) -> MachineDescription:
    """The board description; one whose backend is not fpga_hls is refused (its resources mean nothing here)."""
    description = target if isinstance(target, MachineDescription) else get_preset(target)
    if description.backend != "fpga_hls":
        boards = [name for name in list_presets() if get_preset(name).backend == "fpga_hls"]
        raise HLSConfigError(f"target {description.name} is not an fpga_hls board (its backend is "
                             f"{description.backend}); fpga_hls boards: {', '.join(boards)}")
    return description


class FpgaHlsBackend(Backend):
    """Generates HLS C++ (Vitis style, ap_fixed) for an FPGA board; runs it as a g++ C simulation."""

    name = "fpga_hls"
    time_source = TIME_SOURCE
    saves_artifacts = True

    def supports(self, node: Node) -> str | None:
        return table.supports(node)

    def compile(self, graph: Graph, description: MachineDescription | None = None, *,
                config: HLSConfig | dict[str, Any] | None = None, target: MachineDescription | str = DEFAULT_TARGET,
                fit: Literal["error", "fold", "ignore"] = "error",
                toolchain: Toolchain | None = None, build: bool = True, name: str | None = None,
                calibration: Calibration = None, **options: Any) -> FpgaExecutable:
        """Lower, estimate and (``build``) compile the C simulation of ``graph`` for ``target``.

        ``fit="error"`` refuses a design that does not fit the board; ``fit="fold"`` first raises the
        reuse factors of the layers using most of the exhausted resource; ``fit="ignore"`` only estimates
        (``estimate.fits`` says whether it would fit: for sweeps and reports). Every node must be in the
        table: ``hf.compile(graph, cluster)`` keeps the others on a CPU. With ``description``, the design a board of
        that description runs (``compile_for``: folded to fit, ``target`` and ``fit`` unused). With ``calibration``
        (sample inputs of ``graph``), every layer's fixed-point types are chosen from the values they take
        (``precision.calibrate``) unless ``config`` sets a model-wide precision.
        """
        if options:
            raise HLSConfigError(f"fpga_hls.compile: unknown option(s) {sorted(options)}; it takes config, target, "
                                 f"fit, toolchain, build, name, calibration")
        if description is not None:
            return self.compile_for(graph, description, config=config, toolchain=toolchain, build=build, name=name,
                                    calibration=calibration)
        if fit not in ("error", "fold", "ignore"):
            raise HLSConfigError(f"fpga_hls.compile: fit must be 'error', 'fold' or 'ignore', got {fit!r}")
        verify(graph)
        description = resolve_target(target)
        cfg = HLSConfig.of(config) if calibration is None else calibrate(graph, HLSConfig.of(config), calibration)
        design = lower(graph, cfg, name=name)
        notes: list[str] = []
        if fit == "fold":
            est, notes = fold_to_fit(design, description)
        else:
            est = estimate(design, description)
        if fit != "ignore":
            est.check_fit(design)
        return FpgaExecutable(graph, design, est, toolchain=toolchain, build=build, notes=notes)

    def compile_for(self, graph: Graph, description: MachineDescription, *,
                    config: HLSConfig | dict[str, Any] | None = None, toolchain: Toolchain | None = None,
                    build: bool = True, name: str | None = None, calibration: Calibration = None) -> FpgaExecutable:
        """What a device of ``description`` runs ``graph`` as: ``config`` folded to fit the board, or without one
        the default settings in the first of ``DEVICE_ARCHITECTURES`` that fits, with types calibrated on
        ``calibration`` when given (see ``compile``). Raises DesignDoesNotFit otherwise."""
        verify(graph)
        description = resolve_target(description)
        design, est, notes = fit_design(graph, description, config, name=name, calibration=calibration)
        return FpgaExecutable(graph, design, est, toolchain=toolchain, build=build, notes=notes)

    def save_artifact(self, artifact: Artifact, directory: Path) -> None:
        """The generated sources, the C simulation library and the design's settings."""
        if not isinstance(artifact, FpgaExecutable):
            raise ArtifactError(f"fpga_hls saves an FpgaExecutable, not {type(artifact).__name__}")
        artifact.save_artifact(directory)

    def load_artifact(self, directory: Path, graph: Graph) -> FpgaExecutable:
        """A design written by ``save_artifact``, loaded without running a compiler."""
        return FpgaExecutable.load(directory, graph)

    def shape_polymorphic(self, artifact: Artifact) -> bool:
        """Always: a design takes one sample at a time and the host loops over a symbolic batch, the only symbolic
        dim ``compile`` accepts."""
        return True

    def modelled_time(self, artifact: Artifact) -> Estimate | None:
        """One sample of the compiled design by its cycle model, the interval being its II."""
        if not isinstance(artifact, FpgaExecutable):
            return None
        latency, source, interval = artifact.modelled_time()
        return Estimate(latency, source, interval)

    def estimate(self, node: Node, description: MachineDescription) -> Estimate | None:
        """One sample of ``node`` alone on the board, as ``compile_for`` would build it, from the cycle model at the
        description's clock: the interval is the design's II, how often it takes a new sample. None when the table
        lacks the node, the description is not an FPGA board, or no design of it fits the board."""
        if description.backend != self.name or table.supports(node) is not None:
            return None
        try:
            _, est, _ = fit_design(node_graph(node), description)
        except (LoweringError, HLSConfigError, FixedPointError, DesignDoesNotFit):
            return None
        return Estimate(est.run_seconds(1), est.time_source, est.ii_s)


def fit_design(graph: Graph, description: MachineDescription, config: HLSConfig | dict[str, Any] | None = None, *,
               name: str | None = None, calibration: Calibration = None) -> tuple[Design, DesignEstimate, list[str]]:
    """Lower ``graph`` and fold it until it fits ``description``: the design, its estimate and the folds made.

    With ``config``, that configuration; without, the default settings in each of ``DEVICE_ARCHITECTURES`` in turn;
    either calibrated on ``calibration`` when given. Raises DesignDoesNotFit (naming the layer and the knob) when no
    candidate fits.
    """
    base = HLSConfig.of(config) if calibration is None else calibrate(graph, HLSConfig.of(config), calibration)
    configs = [base] if config is not None else [base.with_architecture(a) for a in DEVICE_ARCHITECTURES]
    # Lowering does not depend on the architecture: lower once, then retarget the design for each candidate.
    design = lower(graph, configs[0], name=name)
    chosen = [layer.reuse_factor for layer in design.layers]
    for candidate in configs:
        design.architecture = candidate.architecture
        for layer, reuse in zip(design.layers, chosen):
            layer.reuse_factor = reuse
        est, notes = fold_to_fit(design, description)
        if est.fits:
            break
    est.check_fit(design)  # raises when the last candidate does not fit either
    return design, est, notes


__all__ = ["DEVICE_ARCHITECTURES", "TIME_SOURCE", "CompileError", "CompilerNotFoundError", "Design", "DesignDoesNotFit",
           "DesignEstimate", "FixedType", "FpgaExecutable", "FpgaHlsBackend", "HLSConfig", "HLSConfigError",
           "LoweringError", "ReuseFactorWarning", "Toolchain", "estimate", "fit_design", "lower"]
