"""Where a fixed-point design loses precision: per layer, its error against the float reference.

For each layer, on one sample: the float reference value of the IR value it computes; the
fixed-point model's value (bit-identical to the C simulation); the *total* error between them;
and the layer's *own* error, from running it on the reference inputs quantized to its input
types, which separates what the layer adds from what it inherits. A layer whose float range
does not fit its result type is flagged as overflowing (the result wraps or saturates); one
whose own error is near its result's LSB is losing resolution. ``hetflow codegen --trace-precision``
prints this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls.lower import Design
from hetflow.ir import get_op


@dataclass(frozen=True)
class LayerPrecision:
    layer: str
    op: str
    result: str
    ref_min: float
    ref_max: float
    max_error: float
    mean_error: float
    own_max_error: float
    lsb: float
    overflow: bool

    @property
    def note(self) -> str:
        if self.overflow:
            need = max(abs(self.ref_min), abs(self.ref_max))
            bits = int(np.ceil(np.log2(need + 1e-30))) + 1 if need > 0 else 1
            return f"OVERFLOW: float range exceeds {self.result}; give it >= {bits} integer bits"
        if self.own_max_error > 4 * self.lsb:
            return "loses precision here: widen its weight/result fraction or its table"
        if self.max_error > 8 * max(self.own_max_error, self.lsb):
            return "inherited: the error comes from earlier layers"
        return ""


@dataclass
class PrecisionReport:
    design: str
    layers: list[LayerPrecision]

    def worst(self) -> LayerPrecision | None:
        own = [lay for lay in self.layers if lay.overflow] or self.layers
        return max(own, key=lambda lay: lay.own_max_error, default=None)

    def table(self) -> str:
        head = f"{'layer':<22} {'op':<11} {'result type':<20} {'float range':>21} {'max err':>10} {'mean err':>10} " \
               f"{'own max':>10}  note"
        rows = [head, "-" * len(head)]
        for p in self.layers:
            rows.append(f"{p.layer[:22]:<22} {p.op[:11]:<11} {p.result[:20]:<20} "
                        f"{f'[{p.ref_min:.3g}, {p.ref_max:.3g}]':>21} {p.max_error:>10.3g} {p.mean_error:>10.3g} "
                        f"{p.own_max_error:>10.3g}  {p.note}")
        worst = self.worst()
        if worst is not None:
            rows.append(f"most own error: {worst.layer} ({worst.op}), {worst.own_max_error:.3g} "
                        f"({worst.own_max_error / worst.lsb:.1f} LSB of {worst.result})")
        return "\n".join(rows)


def reference_values(design: Design, feeds: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Float values of every IR value of the design's one-sample graph (by value name)."""
    g = design.graph
    env: dict[int, np.ndarray] = {}
    named: dict[str, np.ndarray] = {}
    for v, x in zip(g.inputs, feeds):
        env[id(v)] = np.asarray(x, np.float32).reshape([int(d) for d in v.type.shape or ()])
        named[v.name] = env[id(v)]
    for node in g.nodes:
        args = [None if v is None else (v.const if v.is_const else env[id(v)]) for v in node.inputs]
        for out, value in zip(node.outputs, get_op(node.op).run(node, args)):
            env[id(out)] = np.asarray(value)
            named[out.name] = env[id(out)]
    return named


def trace_precision(design: Design, feeds: list[np.ndarray]) -> PrecisionReport:
    """The per-layer error table for one sample (``feeds``: one array per input, one sample each)."""
    ref = reference_values(design, feeds)
    fixed = design.evaluate_sample(feeds)
    tensor_value = {t: v for v, t in design.values.items() if design.values[v] == t}
    rows = []
    for layer in design.layers:
        t = layer.output
        value = t.value or tensor_value.get(t.name, "")
        if value not in ref:
            continue
        want = ref[value].astype(np.float64).reshape(-1)
        got = fx.to_float(fixed[t.name], t.type)
        own_inputs = []
        for x in layer.inputs:
            src = x.value or tensor_value.get(x.name, "")
            own_inputs.append(fx.quantize(ref[src].reshape(-1), x.type) if src in ref else fixed[x.name])
        own = fx.to_float(layer.evaluate(own_inputs), t.type)
        err = np.abs(got - want)
        overflow = bool(want.size and (want.min() < t.type.min_value or want.max() > t.type.max_value))
        rows.append(LayerPrecision(layer.name, layer.op, str(t.type), float(want.min(initial=0)),
                                   float(want.max(initial=0)), float(err.max(initial=0)),
                                   float(err.mean()) if err.size else 0.0, float(np.abs(own - want).max(initial=0)),
                                   t.type.lsb, overflow))
    return PrecisionReport(design.name, rows)
