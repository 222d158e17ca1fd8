"""The reference interpreter's time per node on a CPU: its own calibration on this host (``calibrate.py``)."""

from __future__ import annotations

import functools

from hetflow.backends.base import Estimate
from hetflow.backends.calibrate import Calibration, calibrate
from hetflow.ir import Node
from hetflow.targets import MachineDescription, detect_host, is_this_host

SOURCE = "model:reference-calibrated"


@functools.cache
def host_calibration() -> Calibration:
    """The interpreter timed on the calibration suite on this host, once per process."""
    from hetflow.backends.reference.interpreter import ReferenceExecutable

    return calibrate(ReferenceExecutable, detect_host())


def interpreter_estimate(node: Node, description: MachineDescription) -> Estimate | None:
    """Seconds the NumPy interpreter takes for ``node`` on this host's CPU; None for any other chip
    (the partitioner then uses that description's roofline)."""
    if not is_this_host(description):  # measured here: it says nothing of another CPU
        return None
    return host_calibration().estimate(node, description, SOURCE)
