"""The public entry points: load a model, compile it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import hetflow.runtime  # noqa: F401 - registers the runner behind Plan.run
from hetflow.compiler import compile_graph
from hetflow.frontends.registry import load_model
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError
from hetflow.partition import Plan


def load(source: str | Path | bytes | Any, **options: Any) -> Graph:
    """Import a model (a path, bytes or a framework's model object) into a hetflow Graph.

    The frontend is chosen by content (see ``hetflow.frontends.registry``): ONNX today; others register.
    """
    return load_model(source, **options)


def from_torch(module: Any, example_inputs: Any, *, dynamic_batch: bool = True, **options: Any) -> Graph:
    """Convert a PyTorch module through ``torch.export`` (see ``hetflow.frontends.torch``); batch dim symbolic."""
    from hetflow.frontends.torch import from_torch as convert

    return convert(module, example_inputs, dynamic_batch=dynamic_batch, **options)


PRECISIONS = ("float32", "int8", "fp16")


def compile(graph: Graph, cluster: Any = None, *, precision: str = "float32",  # noqa: A001 - public name per DESIGN
            calibration: Iterable[Mapping[str, np.ndarray]] | None = None, calibration_method: str = "percentile",
            **options: Any) -> Plan:
    """Compile ``graph`` into a runnable Plan for ``cluster`` (default: this host).

    ``precision="fp16"`` computes convolutions (with their batch norm), ReLUs, sums and max pools in float16
    (``hetflow.passes.half``), which fp16 engines such as NVDLA nv_full's can take. ``precision="int8"``
    quantizes first (never silently): ``calibration`` sample inputs run through the
    reference to choose scales (``calibration_method``: minmax, percentile or entropy), the quantizable ops
    become int8 (``hetflow.passes.quantize``), and int8-only devices such as NVDLA can take them. The plan's
    report lists what was quantized and the calibration's estimated error.
    """
    if precision not in PRECISIONS:
        raise HetflowError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    calibration = None if calibration is None else list(calibration)  # read twice: int8 scales, FPGA widths
    if precision == "float32":
        return compile_graph(graph, cluster, calibration=calibration, **options)
    if precision == "fp16":  # fp16 engines (NVDLA nv_full) can take the converted ops; casts bound them
        from hetflow.passes.half import to_half

        half, converted = to_half(graph)
        plan = compile_graph(half, cluster, calibration=calibration, **options)
        plan.quantization = converted.format()
        return plan
    if calibration is None:
        raise HetflowError("precision='int8' needs calibration samples (calibration=[{input name: array}, ...]) "
                           "to choose the int8 scales")
    from hetflow.passes.quantize import calibrate_and_quantize
    from hetflow.passes.scales import ScaleChoice

    quantized, report = calibrate_and_quantize(graph, calibration, ScaleChoice(calibration_method))  # type: ignore[arg-type]
    plan = compile_graph(quantized, cluster, calibration=calibration, **options)
    plan.quantization = report.format()
    return plan
