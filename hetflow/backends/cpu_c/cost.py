"""cpu_c's time per node on a CPU: its generated kernels calibrated on this host (``calibrate.py``).

Elementwise nodes that cpu_c fuses into the output tiles of the convolution or matmul producing
their input cost no pass over memory of their own: they are charged their arithmetic only.
"""

from __future__ import annotations

import functools

from hetflow.backends.base import Estimate
from hetflow.backends.calibrate import Calibration, calibrate
from hetflow.ir import Node, get_op
from hetflow.targets import MachineDescription, detect_host

SOURCE = "model:cpu_c-calibrated"
_ANCHORS = frozenset({"conv", "matmul", "gemm"})


@functools.cache
def host_calibration() -> Calibration:
    """cpu_c's kernels timed on the calibration suite on this host, once per process (builds are cached)."""
    from hetflow.backends.cpu_c import CpuCBackend

    return calibrate(CpuCBackend().compile, detect_host())


def fused_into_producer(node: Node) -> bool:
    """Whether ``node`` is elementwise work on a kernel's output, which cpu_c does inside that kernel's tiles."""
    if get_op(node.op).family != "elementwise" or not node.inputs or node.inputs[0] is None:
        return False
    producer = node.inputs[0].producer
    while producer is not None and get_op(producer.op).family == "elementwise":
        producer = producer.inputs[0].producer if producer.inputs and producer.inputs[0] is not None else None
    return producer is not None and producer.op in _ANCHORS


def kernel_estimate(node: Node, description: MachineDescription) -> Estimate | None:
    """Seconds cpu_c's code takes for ``node`` on a CPU of ``description``; None on other chips."""
    if description.kind != "cpu":
        return None
    calibration = host_calibration()
    if fused_into_producer(node):
        return Estimate(calibration.arithmetic(node, description), SOURCE)
    return calibration.estimate(node, description, SOURCE)
