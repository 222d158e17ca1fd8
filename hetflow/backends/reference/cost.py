"""The reference interpreter's time per node on a CPU: its own calibration on this host (``calibrate.py``)."""

from __future__ import annotations

import functools

from hetflow.backends.base import Estimate, roofline
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
    partitioner then uses that description's roofline), except for the integer convolutions and matmuls
    (``WIDENED_OPS``): the interpreter sums their products in float64, so their roofline is float64's, never
    the chip's int8 peak (an AMX or dot-product int8 kernel the interpreter does not have)."""
    widened = DType.float64 if node.op in WIDENED_OPS else None
    if not is_this_host(description):  # measured here: it says nothing of another CPU
        if widened is None:
            return None
        return Estimate(description.launch.kernel + roofline(node, description, widened), "model:roofline")
    return host_calibration().estimate(node, description, SOURCE, widened)
