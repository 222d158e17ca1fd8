"""The reference interpreter's time per node on a CPU: its own calibration on this host (``calibrate.py``)."""

from __future__ import annotations

import functools

from hetflow.backends.base import Estimate, compute_dtype, roofline
from hetflow.backends.calibrate import Calibration, calibrate
from hetflow.ir import Node
from hetflow.ir.dtypes import DType
from hetflow.ir.ops.quant import WIDENED_OPS
from hetflow.targets import MachineDescription, detect_host, is_this_host

SOURCE = "model:reference-calibrated"


@functools.cache
def host_calibration() -> Calibration:
    """The interpreter timed on the calibration suite on this host, once per process."""
    from hetflow.backends.reference.interpreter import ReferenceExecutable

    return calibrate(ReferenceExecutable, detect_host())


def interpreter_estimate(node: Node, description: MachineDescription) -> Estimate | None:
    """Seconds the NumPy interpreter takes for ``node`` on this host's CPU. On any other chip, None (the
    partitioner then uses that description's roofline), except where the interpreter computes in a wider type
    than the node's (``_widened``): then the roofline is that type's, never the chip's int8 or float16 peak (an
    AMX, dot-product or FP16 kernel the interpreter does not have)."""
    widened = _widened(node)
    if not is_this_host(description):  # measured here: it says nothing of another CPU
        if widened is None:
            return None
        return Estimate(description.launch.kernel + roofline(node, description, widened), "model:roofline")
    return host_calibration().estimate(node, description, SOURCE, widened)


def _widened(node: Node) -> DType | None:
    """What the interpreter really computes ``node`` in when it is wider than the node's dtype: float64 for the
    integer convolutions and matmuls (``WIDENED_OPS``: exact integer sums), float32 for float16 work (the heavy
    ops widen to float32 and round back, as onnxruntime does; NumPy's own float16 arithmetic converts through
    float32 in software)."""
    if node.op in WIDENED_OPS:
        return DType.float64
    return DType.float32 if compute_dtype(node) is DType.float16 else None
