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

import math
from dataclasses import dataclass, replace

import numpy as np

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls.config import HLSConfig, LayerSpec, merge_specs
from hetflow.backends.fpga_hls.fixedpoint import FixedType
from hetflow.backends.fpga_hls.layers import Layer, Param
from hetflow.backends.fpga_hls.lower import Design, lower
from hetflow.ir import Graph, get_op
from hetflow.passes.calibrate import Statistics, collect_statistics


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


# ---------------------------------------------------------------- calibrated ("auto") precision

AUTO_WIDTH = 16
"""Bits of every calibrated type, as hls4ml's default ``ap_fixed<16,6>``: only the binary point moves."""
HEADROOM = 2.0
"""Calibrated activation ranges are widened by this factor (one integer bit) for inputs the samples did not show;
beyond it the result saturates (AP_SAT) rather than wrapping to the other sign."""
CALIBRATION_SAMPLES = 32
"""Seeded random samples calibration uses when the user gives none."""
_MAC_TEMPLATES = ("dense", "conv2d")


def integer_bits(absmax: float) -> int:
    """Integer bits (sign included) of a signed type holding ``[-absmax, absmax]``: at least 0 (a pure fraction)."""
    if absmax <= 0.0 or not math.isfinite(absmax):
        return 1
    return max(0, math.floor(math.log2(absmax)) + 2)


def _signed(absmax: float, *, rounding: str, overflow: str, width: int) -> FixedType:
    return FixedType(width, min(integer_bits(absmax), width - 1), True, rounding, overflow)


def _param_absmax(p: Param) -> float:
    return float(np.abs(fx.to_float(p.raw, p.type)).max(initial=0.0))


def _layer_roles(layer: Layer, stats: Statistics, weight_type: FixedType, width: int) -> dict[str, FixedType]:
    """The calibrated roles of one layer: its result from the observed range, its weights and biases from theirs."""
    roles: dict[str, FixedType] = {}
    value = layer.output.value
    if value in stats and stats[value].count:
        roles["result"] = _signed(stats[value].absmax * HEADROOM, rounding="AP_RND", overflow="AP_SAT", width=width)
    params = [p for p in layer.params if p.type == weight_type]  # tables have their own role and type
    if layer.template in _MAC_TEMPLATES and len(layer.params) >= 2:
        named = {"weight": [layer.params[0]], "bias": [layer.params[1]]}
    else:
        named = {"weight": params}
    for role, ps in named.items():
        if ps:
            absmax = max(_param_absmax(p) for p in ps)
            roles[role] = _signed(absmax, rounding="AP_RND", overflow="AP_SAT", width=width)
    return roles


def calibrated_config(graph: Graph, config: HLSConfig, stats: Statistics, *, width: int = AUTO_WIDTH) -> HLSConfig:
    """``config`` with every layer's result, weight and bias type chosen from calibration ``stats``.

    As hls4ml's profiling-based "auto" precision: each type keeps ``width`` bits and places the binary point
    so that the layer's observed range (activations: times HEADROOM) fits; results and weights round to
    nearest (AP_RND: truncation biases every value down by half an LSB, which sums to whole units over a
    wide dense layer) and saturate. Precision the user set per op type or per layer name wins over this.
    """
    # The uncalibrated design says which layers exist and holds their weights after folding (batch norm, bias
    # adds); quantized at the model's weight type, a weight beyond its range would read as saturated.
    design = lower(graph, config)
    nodes = {n.name: n.op for n in design.graph.nodes}
    out = dict(config.name)
    for v in design.graph.inputs:
        if v.name in stats and stats[v.name].count:
            t = _signed(stats[v.name].absmax * HEADROOM, rounding="AP_RND", overflow="AP_SAT", width=width)
            out[v.name] = _over(LayerSpec((("result", t),)), config, v.name, "input")
    for layer in design.layers:
        if layer.name not in nodes:  # output copies and other layers that are no node of the graph
            continue
        roles = _layer_roles(layer, stats, design.settings[layer.name].weight, width)
        if roles:
            out[layer.name] = _over(LayerSpec(tuple(roles.items())), config, layer.name, nodes[layer.name])
    return replace(config, name=tuple(out.items()))


def _over(auto: LayerSpec, config: HLSConfig, name: str, op_type: str) -> LayerSpec:
    """``auto`` with the user's op-type and layer-name settings on top (they are more specific than the model's)."""
    spec = auto
    for level in (dict(config.op_type).get(op_type), dict(config.name).get(name)):
        if level is not None:
            spec = merge_specs(spec, level)
    return spec


def calibration_samples(graph: Graph, feeds: dict[str, np.ndarray] | None, seed: int,
                        count: int = CALIBRATION_SAMPLES) -> tuple[list[dict[str, np.ndarray]], str]:
    """Samples to calibrate on, and a line saying where they came from: the user's, else seeded normal data."""
    if feeds:
        return [dict(feeds)], "calibrated on the given input(s)"
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        sample = {}
        for v in graph.inputs:
            shape = tuple(d if isinstance(d, int) else 1 for d in v.type.shape or ())
            sample[v.name] = rng.standard_normal(shape).astype(v.type.dtype.numpy)
        samples.append(sample)
    return samples, (f"no calibration inputs given: calibrated on {count} seeded random normal samples (seed {seed}); "
                     f"give representative inputs (codegen --input) for real data ranges")


def auto_precision(graph: Graph, config: HLSConfig, feeds: dict[str, np.ndarray] | None, seed: int) -> \
        tuple[HLSConfig, str]:
    """``config`` calibrated on ``feeds`` (or seeded random samples), and the note saying which."""
    samples, note = calibration_samples(graph, feeds, seed)
    return calibrated_config(graph, config, collect_statistics(graph, samples)), note
