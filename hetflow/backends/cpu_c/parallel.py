"""When a cpu_c kernel opens an OpenMP parallel region: the ``if (...)`` clauses of its templates, as one table.

Every ``omp parallel`` in ``templates/*.c`` and in the generated elementwise loops (``codegen.py``) carries a
size threshold: below it the loop runs serially on the calling thread and forks no team, so it pays none of
the fork/join a CPU description charges per kernel (``launch.kernel``). ``forks(node, threads)`` answers for
one node at its shape, symbolic dims at one sample (as every estimate); the rows below mirror the clauses
and name the C function each comes from, so that a change of a threshold there is a change of a row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hetflow.backends.cpu_c import render_extra, symbolic
from hetflow.backends.cpu_c.codegen import PARALLEL_MIN_ELEMENTS
from hetflow.backends.cpu_c.table import TABLE, Elementwise, Lower, View
from hetflow.ir import Node, Value

GEMM_MIN_MACS = 1 << 18
"""``HF_PARALLEL_MIN_MACS`` (gemm.c): below this many multiply-adds a product runs on the calling thread."""
COPY_MIN_BYTES = 1 << 18
"""``hf_copy_nd``, ``hf_gather``, ``hf_gather_elements``, ``hf_pad``: bytes moved before a copy forks."""


def _elements(value: Value | None) -> int:
    shape = value.type.shape if value is not None else None
    return math.prod(d for d in shape if isinstance(d, int)) if shape else 1


def _in(node: Node) -> int:
    return _elements(node.inputs[0])


def _out(node: Node) -> int:
    return _elements(node.outputs[0])


def _out_bytes(node: Node) -> int:
    return sum(_elements(v) * v.type.dtype.itemsize for v in node.outputs if v is not None)


def _matmul(node: Node, threads: int) -> bool:
    """``hf_matmul``: one thread per product across a batch of small products, else threads inside each product
    above ``HF_PARALLEL_MIN_MACS`` (``gemm`` / ``gemm_skinny``)."""
    out, k = node.outputs[0].type.shape or (1,), node.inputs[0].type.shape[-1]  # type: ignore[union-attr,index]
    m, n = (out[-2] if len(out) > 1 else 1), out[-1]
    macs, batch = int(m) * int(n) * int(k), math.prod(int(d) for d in out[:-2])
    return (batch >= threads and macs < 4 * GEMM_MIN_MACS) or macs >= GEMM_MIN_MACS


def _conv(node: Node, threads: int) -> bool:
    """``hf_conv2d_depthwise`` and the direct loop nests fork above 4096 outputs; the GEMM convolution
    (``hf_conv2d_gemm``) runs one product per image and group, forking above ``HF_PARALLEL_MIN_MACS``."""
    x, w = node.inputs[0].type.shape, node.inputs[1].type.shape  # type: ignore[union-attr]
    out, group = node.outputs[0].type.shape, node.attrs["group"]
    depthwise = group > 1 and group == x[1] and w[1] == 1  # type: ignore[index]  # as render.conv_plan decides
    if depthwise:
        return DEPTHWISE(node, threads)
    if render_extra.direct_conv(node):
        return DIRECT(node, threads)
    macs = int(out[1]) // group * math.prod(int(d) for d in out[2:]) * math.prod(int(d) for d in w[1:])  # type: ignore[index]
    return macs >= GEMM_MIN_MACS


@dataclass(frozen=True)
class Clause:
    """One template's ``if`` clause: the kernel forks when ``measure(node) > threshold``."""

    function: str  # the C function in templates/*.c whose ``omp parallel`` carries the clause
    measure: Callable[[Node], int]
    threshold: int

    def __call__(self, node: Node, threads: int) -> bool:
        return self.measure(node) > self.threshold


DEPTHWISE = Clause("hf_conv2d_depthwise", _out, 4096)
DIRECT = Clause("hf_conv3d", _out, 4096)  # the direct loop nest (3-D, or a weight computed at run time)
_POOL = Clause("pool", _out, 4096)  # hf_pool3d for 3-D windows: the same clause
_NORM = Clause("hf_group_norm", _in, 8192)
_SOFTMAX = Clause("hf_softmax", _in, 8192)
_REDUCE = Clause("hf_reduce", _in, 16384)
_COPY = Clause("hf_copy_nd", _out_bytes, COPY_MIN_BYTES)

FORKS: dict[str, Callable[[Node, int], bool]] = {
    "matmul": _matmul,
    "conv": _conv,
    "conv_transpose": Clause("hf_conv_transpose2d", _out, 4096),
    "max_pool": _POOL,
    "avg_pool": _POOL,
    "instance_norm": _NORM,
    "group_norm": _NORM,
    "resize": Clause("hf_resize", _out, 16384),
    "softmax": _SOFTMAX,
    "log_softmax": _SOFTMAX,
    "layer_norm": Clause("hf_layer_norm", _in, 16384),
    "lrn": Clause("hf_lrn", _in, 16384),
    "reduce_sum": _REDUCE,
    "reduce_mean": _REDUCE,
    "reduce_max": _REDUCE,
    "reduce_min": _REDUCE,
    "reduce_prod": _REDUCE,
    "transpose": _COPY,
    "concat": _COPY,
    "split": _COPY,
    "expand": _COPY,
    "pad": _COPY,  # hf_pad when it needs its own kernel: the same bytes clause
    "gather": Clause("hf_gather", _out_bytes, COPY_MIN_BYTES),
    "gather_elements": Clause("hf_gather_elements", _out_bytes, COPY_MIN_BYTES),
}
"""Kernel entries of the cpu_c table: whether the node's kernel forks at its size with ``threads`` threads."""


def _elementwise(node: Node, threads: int) -> bool:
    """A generated elementwise loop forks from ``PARALLEL_MIN_ELEMENTS`` outputs (``codegen.py``)."""
    return _out(node) >= PARALLEL_MIN_ELEMENTS


def forks(node: Node, threads: int) -> bool:
    """Whether cpu_c's kernel for ``node`` opens an OpenMP parallel region at its shape with ``threads`` threads.

    A view (no code) and a one-thread device never fork; a node outside the table is not cpu_c's to answer
    (it runs on the fallback backend): True, the conservative answer.
    """
    entry = TABLE.get(node.op)
    if threads <= 1 or isinstance(entry, View):
        return False
    if any(v is not None and not v.type.is_static for v in [*node.inputs, *node.outputs]):
        node = symbolic.node_at_one(node)
    if isinstance(entry, (Elementwise, Lower)):  # a Lower (batch_norm) becomes elementwise loops
        return _elementwise(node, threads)
    rule = FORKS.get(node.op)
    return True if rule is None else rule(node, threads)
