"""Post-training int8 quantization: rewrite float convolutions, matmuls, sums and max pools into integer ops.

Given calibration statistics (``passes.calibrate.collect_statistics``) and a scale choice
(``passes.scales``), every quantizable float op becomes its integer form, with explicit requantization:

* ``conv`` (constant weight, optional constant bias), with a following ``batch_norm`` of constant statistics
  absorbed into per-channel weights and bias and a following ``relu`` absorbed into the requantization:
  ``quantize_linear(x) -> conv_requant(int8 weights per output channel symmetric, int32 accumulation, int32
  bias, 16-bit multiplier + shift rounded half up) -> dequantize_linear``; ``conv_requant`` is
  ``requantize(conv_integer(...))`` as one node, so no placement separates the accumulator from its rescale;
* ``matmul`` by a constant 2-D matrix (a following ``add`` of a constant vector becomes the int32 bias, a
  following ``relu`` the requantization's clamp): the same with ``matmul_requant``, per output column;
* ``add`` of two tensors (a residual sum), with a following ``relu``: ``qadd`` (both operands rescaled to the
  output scale with one shared shift);
* ``max_pool``: on the int8 tensor, which commutes with a positive scale, exactly;
* ``lrn`` of an int8 tensor: ``qlrn``, the normalization curve in a 257-entry interpolated table;
* ``conv_transpose`` (group 1): as ``conv``, weights per output channel, into ``conv_transpose_requant``;
* ``depth_to_space`` / ``space_to_depth`` / ``reshape`` of an int8 tensor: the same values
  rearranged in int8, exactly.

Activations are per-tensor symmetric int8 (zero point 0). Every other op stays in float: it reads the
``dequantize_linear`` of its integer producer. A value used by several rewritten ops is quantized once.
``QuantReport`` lists what was quantized, each tensor's scale, and the calibration's estimated error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hetflow.ir import Graph, Node, Value
from hetflow.ir.errors import HetflowError
from hetflow.ir.ops.quant import MULTIPLIER_BITS, fixed_point, lrn_table
from hetflow.passes.affine import batch_norm_affine
from hetflow.passes.calibrate import Statistics, collect_statistics
from hetflow.passes.rewrite import RewriteState
from hetflow.passes.scales import QMAX, ScaleChoice, estimated_error

WEIGHT_QMAX = 127


class QuantizationError(HetflowError):
    """Quantization cannot proceed: no statistics for a tensor, a bad option."""


@dataclass
class QuantRecord:
    """One quantized op: the original node(s), its output tensor's scale and estimated error."""

    nodes: list[str]
    op: str
    output: str
    scale: float
    error: float


@dataclass
class QuantReport:
    """What ``quantize`` did."""

    method: str
    records: list[QuantRecord] = field(default_factory=list)
    kept_float: list[str] = field(default_factory=list)

    @property
    def quantized_nodes(self) -> list[str]:
        return [n for r in self.records for n in r.nodes]

    @property
    def max_error(self) -> float:
        return max((r.error for r in self.records), default=0.0)

    def format(self) -> str:
        lines = [f"int8 quantization ({self.method} calibration): {len(self.quantized_nodes)} node(s) quantized, "
                 f"{len(self.kept_float)} kept in float; largest estimated tensor error {self.max_error:.2%}"]
        lines += [f"  {'+'.join(r.nodes)} -> {r.op}  scale {r.scale:.4g}  est. error {r.error:.2%}"
                  for r in self.records]
        return "\n".join(lines)


@dataclass
class _State(RewriteState):
    graph: Graph
    stats: Statistics
    choice: ScaleChoice
    users: dict[int, list[Node]]
    outputs: set[int]
    report: QuantReport
    qvalue: dict[int, tuple[Value, float]] = field(default_factory=dict)  # float value -> (int8 value, scale)
    emitted: list[Node] = field(default_factory=list)
    # int8 value made by a conv_requant -> (that node, its real input scale sx*sw, the dequantize publishing it)
    retargetable: dict[int, tuple[Node, np.ndarray, Node]] = field(default_factory=dict)
    pending_real: dict[int, np.ndarray] = field(default_factory=dict)
    consumed: set[int] = field(default_factory=set)  # int8 values an emitted int8 op reads at their current scale

    def int8_form(self, v: Value) -> tuple[Value, float] | None:
        """The int8 value computing float ``v`` and its scale, if one exists; its scale is fixed from now on."""
        form = self.qvalue.get(id(v))
        if form is not None:
            self.consumed.add(id(form[0]))
        return form

    def retarget(self, q: Value, scale: float) -> None:
        """Make the conv_requant producing ``q`` write at output ``scale`` (its dequantize follows)."""
        node, real, deq = self.retargetable[id(q)]
        mult, shift = fixed_point(real / scale)
        node.inputs[3] = self.graph.constant(mult.astype(np.int32), f"{node.name}_mult")
        node.inputs[4] = self.graph.constant(shift.astype(np.int32), f"{node.name}_shift")
        deq.inputs[1] = self.graph.constant(np.float32(scale), f"{deq.name}_scale")
        self.qvalue[id(deq.outputs[0])] = (q, scale)

    def scale_of(self, v: Value) -> float:
        if v.name not in self.stats:
            raise QuantizationError(f"no calibration statistics for tensor '{v.name}'; calibrate the same graph "
                                    f"that is quantized")
        return self.choice.scale(self.stats[v.name])

    def quantized(self, v: Value) -> tuple[Value, float]:
        """The int8 form of float value ``v``, quantizing it once where nothing produced it in int8."""
        if id(v) not in self.qvalue:
            s = self.scale_of(v)
            q = self.emit("quantize_linear", [v, self.graph.constant(np.float32(s), f"{v.name}_scale")],
                          f"{v.name}/quantize", dtype="int8")
            self.qvalue[id(v)] = (q, s)
        return self.int8_form(v)  # type: ignore[return-value]

    def publish(self, nodes: list[Node], out: Value, q: Value, scale: float, op: str) -> None:
        """``q`` (int8, ``scale``) now computes ``out``: dequantize it for float users, record it."""
        label = out.name
        deq = self.emit("dequantize_linear", [q, self.graph.constant(np.float32(scale), f"{out.name}_dq_scale")],
                        f"{out.name}/dequantize")
        self.graph.replace_uses(out, deq)
        if q.producer is not None and q.producer.op == "conv_requant" and id(q) in self.pending_real:
            self.retargetable[id(q)] = (q.producer, self.pending_real.pop(id(q)), deq.producer)  # type: ignore[assignment]
        if id(out) in self.outputs:  # a graph output keeps its name
            name = out.name
            suffix = 0
            while not self.graph.rename(out, f"{name}/float" + (f"_{suffix}" if suffix else "")):
                suffix += 1
            self.graph.rename(deq, name)
        self.qvalue[id(deq)] = (q, scale)
        err = estimated_error(self.stats[label], scale) if label in self.stats else 0.0
        self.report.records.append(QuantRecord([n.name for n in nodes], op, label, scale, err))


Rewrite = Callable[[_State, Node], "list[Node] | None"]


def _const(v: Value | None) -> np.ndarray | None:
    return None if v is None else v.const


def _float32(v: Value | None) -> bool:
    return v is not None and v.type.dtype.value == "float32" and v.type.is_static


def _absorb_bn(st: _State, out: Value, channels: int) -> tuple[Node | None, np.ndarray, np.ndarray]:
    """A constant batch_norm consuming ``out`` alone, as per-channel (alpha, beta) (the shared affine algebra of
    ``passes/affine.py``); identity when there is none. Absorbed here rather than by running ``fold_affine`` first,
    so that the statistics calibrated on the user's graph name the tensors being quantized."""
    bn = st.only_user(out, "batch_norm")
    affine = batch_norm_affine(bn) if bn is not None else None
    if affine is None:
        return None, np.ones(channels), np.zeros(channels)
    return bn, affine[0], affine[1]


def _weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights per output channel along ``axis`` and their scales."""
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=reduce)
    scale = np.where(amax > 0, amax / WEIGHT_QMAX, 1.0)
    shape = tuple(-1 if i == axis else 1 for i in range(w.ndim))
    wq = np.clip(np.rint(w / scale.reshape(shape)), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return wq, scale


def _requant_consts(st: _State, name: str, sx: float, sw: np.ndarray, sy: float,
                    bias: np.ndarray) -> list[Value]:
    mult, shift = fixed_point(sx * sw / sy)
    bias_q = np.clip(np.rint(bias / (sx * sw)), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
    g = st.graph
    return [g.constant(bias_q, f"{name}_bias_q"), g.constant(mult.astype(np.int32), f"{name}_mult"),
            g.constant(shift.astype(np.int32), f"{name}_shift")]


def _conv(st: _State, node: Node) -> list[Node] | None:
    """A convolution (with its batch norm and ReLU) into ``conv_requant``; weights ``[M, C/g, kh, kw]``."""
    return _conv_like(st, node, "conv_requant", 0, ("strides", "pads", "dilations", "group"), retarget=True)


def _conv_transpose(st: _State, node: Node) -> list[Node] | None:
    """A transposed convolution (deconvolution): as ``_conv``, with weights ``[C, M, kh, kw]`` per output channel
    (axis 1), into ``conv_transpose_requant``."""
    if node.attrs["group"] != 1:
        return None
    return _conv_like(st, node, "conv_transpose_requant", 1,
                      ("strides", "pads", "dilations", "group", "output_padding"))


def _conv_like(st: _State, node: Node, op: str, channel_axis: int, keep: tuple[str, ...], *, retarget: bool = False
               ) -> list[Node] | None:
    """``node`` (a conv or transposed conv with constant weights and bias), the batch norm it absorbs and the ReLU
    after it, rewritten into ``op`` with per-output-channel weights along ``channel_axis``; returns the float nodes
    it replaces, or None when it does not apply. ``retarget``: a consumer may later take the accumulator's scale."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not _float32(x) or _const(w) is None or (b is not None and _const(b) is None) or w.type.rank != 4:  # type: ignore[union-attr]
        return None
    wf = _const(w).astype(np.float64)  # type: ignore[union-attr]
    m = wf.shape[channel_axis]
    bn, alpha, beta = _absorb_bn(st, node.outputs[0], m)
    group = [node] + ([bn] if bn is not None else [])
    out = group[-1].outputs[0]
    relu = st.only_user(out, "relu")
    if relu is not None:
        group.append(relu)
        out = relu.outputs[0]
    bias = (_const(b).astype(np.float64) if b is not None else np.zeros(m)) * alpha + beta  # type: ignore[union-attr]
    per_channel = [1, 1, 1, 1]
    per_channel[channel_axis] = -1
    wq, sw = _weights(wf * alpha.reshape(per_channel), channel_axis)
    xq, sx = st.quantized(x)  # type: ignore[arg-type]
    sy = st.scale_of(out)
    q = st.emit(op, [xq, st.graph.constant(wq, f"{node.name}_wq"), *_requant_consts(st, node.name, sx, sw, sy, bias)],
                f"{node.name}/int8", relu=relu is not None, dtype="int8", **{k: node.attrs[k] for k in keep})
    if retarget:
        st.pending_real[id(q)] = sx * sw
    st.publish(group, out, q, sy, op)
    return group


def _matmul(st: _State, node: Node) -> list[Node] | None:
    x, w = node.inputs
    if not _float32(x) or _const(w) is None or w.type.rank != 2 or x.type.rank != 2:  # type: ignore[union-attr]
        return None
    out = node.outputs[0]
    n = w.type.shape[1]  # type: ignore[union-attr, index]
    group, bias = [node], np.zeros(n)
    add = st.only_user(out, "add")
    if add is not None:
        other = add.inputs[1] if add.inputs[0] is out else add.inputs[0]
        c = _const(other)
        if c is not None and c.size in (1, n) and add.outputs[0].type.shape == out.type.shape:
            bias = np.broadcast_to(c.astype(np.float64).reshape(-1), (n,)).copy()
            group.append(add)
            out = add.outputs[0]
    relu = st.only_user(out, "relu")
    if relu is not None:
        group.append(relu)
        out = relu.outputs[0]
    wq, sw = _weights(_const(w).astype(np.float64), 1)  # type: ignore[union-attr]
    xq, sx = st.quantized(x)  # type: ignore[arg-type]
    sy = st.scale_of(out)
    q = st.emit("matmul_requant", [xq, st.graph.constant(wq, f"{node.name}_wq"),
                                   *_requant_consts(st, node.name, sx, sw, sy, bias)], f"{node.name}/int8",
                relu=relu is not None, dtype="int8")
    st.publish(group, out, q, sy, "matmul_requant")
    return group


def _add(st: _State, node: Node) -> list[Node] | None:
    a, b = node.inputs
    out = node.outputs[0]
    if not (_float32(a) and _float32(b)) or a.is_const or b.is_const or a.type.shape != b.type.shape:  # type: ignore[union-attr]
        return None
    group = [node]
    relu = st.only_user(out, "relu")
    if relu is not None:
        group.append(relu)
        out = relu.outputs[0]
    (qa, sa), (qb, sb) = st.quantized(a), st.quantized(b)  # type: ignore[arg-type]
    sy = st.scale_of(out)
    mult, shift = _shared_fixed_point(np.array([sa / sy, sb / sy]))
    q = st.emit("qadd", [qa, qb], f"{node.name}/qadd", a_multiplier=int(mult[0]), b_multiplier=int(mult[1]),
                shift=shift, relu=relu is not None, dtype="int8")
    st.publish(group, out, q, sy, "qadd")
    return group


def _shared_fixed_point(real: np.ndarray) -> tuple[np.ndarray, int]:
    """Multipliers for several reals under one shift (the largest that keeps every multiplier in 16 bits)."""
    _, shifts = fixed_point(real)
    shift = int(min(s for s, r in zip(shifts, real) if r != 0)) if np.any(real != 0) else 0
    mult = np.rint(real * 2.0 ** shift).astype(np.int64)
    while np.any(np.abs(mult) >= 2 ** MULTIPLIER_BITS) and shift > 0:
        shift -= 1
        mult = np.rint(real * 2.0 ** shift).astype(np.int64)
    return mult, shift


def _max_pool(st: _State, node: Node) -> list[Node] | None:
    x = node.inputs[0]
    if id(x) not in st.qvalue or len(node.outputs) != 1 or node.attrs.get("with_indices"):
        return None  # only pools what is int8 already: quantizing just to pool gains nothing
    xq, s = st.int8_form(x)  # type: ignore[arg-type, misc]
    q = st.emit("max_pool", [xq], f"{node.name}/int8", **node.attrs)
    st.publish([node], node.outputs[0], q, s, "max_pool(int8)")
    return [node]


def _concat(st: _State, node: Node) -> list[Node] | None:
    """Channel concatenation of convolution outputs: each producer requantizes straight to the concatenation's
    scale (so the int8 slices agree, and a chip can write them in place), then one int8 concat."""
    forms = [st.qvalue.get(id(v)) for v in node.inputs]  # type: ignore[arg-type]
    if not forms or any(f is None or id(f[0]) not in st.retargetable or id(f[0]) in st.consumed for f in forms):
        return None  # an operand another int8 op already reads at its own scale cannot change scale
    forms = [st.int8_form(v) for v in node.inputs]  # type: ignore[arg-type]
    out = node.outputs[0]
    sy = st.scale_of(out)
    for q, _ in forms:  # type: ignore[misc]
        st.retarget(q, sy)
    q = st.emit("concat", [f[0] for f in forms], f"{node.name}/int8", **node.attrs)  # type: ignore[index]
    st.publish([node], out, q, sy, "concat(int8)")
    return [node]


def _lrn(st: _State, node: Node) -> list[Node] | None:
    """LRN of an int8 tensor: ``qlrn`` with the normalization's curve in an interpolated 16-bit table
    (``ir.ops.quant.lrn_table``) and one fixed-point rescale to the output's scale folding the table's bits."""
    x = node.inputs[0]
    if id(x) not in st.qvalue or x.type.rank != 4:  # type: ignore[union-attr]
        return None  # as for max_pool: quantizing only to normalize gains nothing
    xq, sx = st.int8_form(x)  # type: ignore[arg-type, misc]
    a = node.attrs
    lut, index_shift, bits = lrn_table(a["size"], a["alpha"], a["beta"], a["bias"], sx)
    sy = st.scale_of(node.outputs[0])
    mult, shift = fixed_point(sx / sy / 2.0 ** bits)
    q = st.emit("qlrn", [xq, st.graph.constant(lut, f"{node.name}_lut")], f"{node.name}/int8", size=a["size"],
                index_shift=index_shift, multiplier=int(mult[0]), shift=int(shift[0]), dtype="int8")
    st.publish([node], node.outputs[0], q, sy, "qlrn")
    return [node]


def _rearrange(st: _State, node: Node) -> list[Node] | None:
    """depth_to_space / space_to_depth / reshape of an int8 tensor: the same values rearranged, exactly
    (so no dequantize -> float reshape -> quantize boundary cuts an int8 chain, as a LeNet's flatten did)."""
    x = node.inputs[0]
    if id(x) not in st.qvalue or any(v is not None and not v.is_const for v in node.inputs[1:]):
        return None
    xq, s = st.int8_form(x)  # type: ignore[arg-type, misc]
    q = st.emit(node.op, [xq, *node.inputs[1:]], f"{node.name}/int8", **node.attrs)
    st.publish([node], node.outputs[0], q, s, f"{node.op}(int8)")
    return [node]


def _identity(st: _State, node: Node) -> list[Node] | None:
    """An identity (an inference-time Dropout) of an int8 tensor is that tensor."""
    form = st.int8_form(node.inputs[0])  # type: ignore[arg-type]
    if form is None:
        return None
    st.publish([node], node.outputs[0], form[0], form[1], "identity(int8)")
    return [node]


REWRITES: dict[str, Rewrite] = {"conv": _conv, "matmul": _matmul, "add": _add, "max_pool": _max_pool,
                                "concat": _concat, "identity": _identity, "lrn": _lrn,
                                "conv_transpose": _conv_transpose, "depth_to_space": _rearrange,
                                "space_to_depth": _rearrange, "reshape": _rearrange}
"""Which float ops have an int8 form, and the rewrite that makes it."""


def quantize(graph: Graph, stats: Statistics, choice: ScaleChoice | None = None, *,
             ops: Iterable[str] | None = None, skip: Iterable[str] = ()) -> tuple[Graph, QuantReport]:
    """A copy of ``graph`` with its quantizable ops (``ops``, default every op in ``REWRITES``) in int8.

    ``skip`` names nodes to keep in float. Raises QuantizationError for a tensor without statistics.
    """
    choice = choice or ScaleChoice()
    wanted = set(REWRITES if ops is None else ops)
    unknown = wanted - set(REWRITES)
    if unknown:
        raise QuantizationError(f"no int8 rewrite for op(s) {sorted(unknown)}; quantizable ops: {sorted(REWRITES)}")
    g = graph.copy()
    st = _State(g, dict(stats), choice, g.users(), {id(v) for v in g.outputs}, QuantReport(choice.method))
    skipped = set(skip)
    untouched = st.rewrite_nodes(lambda node: REWRITES.get(node.op) if node.op in wanted and node.name not in skipped
                                 else None)
    st.report.kept_float += [node.name for node in untouched if node.op in REWRITES]
    return g, st.report


def calibrate_and_quantize(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]],
                           choice: ScaleChoice | None = None, **options: object) -> tuple[Graph, QuantReport]:
    """Collect statistics over ``samples`` with the reference, then ``quantize``."""
    return quantize(graph, collect_statistics(graph, samples), choice, **options)  # type: ignore[arg-type]


__all__ = ["QMAX", "QuantRecord", "QuantReport", "QuantizationError", "REWRITES", "ScaleChoice",
           "calibrate_and_quantize", "quantize"]
