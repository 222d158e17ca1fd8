"""ONNX recurrent layers (RNN, GRU, LSTM) unrolled over their static sequence length into IR ops.

Per direction the input projection of every step is one matmul up front; each step then adds the
recurrent projection and applies the gates. ``sequence_lens`` is honoured: a step past a sequence's
end keeps its state and outputs zeros, and the reverse direction reverses each sequence within its
own length. The activations and their alpha/beta follow the ONNX list, one set per direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.mappings.composite import _dim, _scalar
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value

Activation = Callable[[Value], Value]


def _activation(ctx: Ctx, name: str, alpha: float | None, beta: float | None) -> Activation:
    """An ONNX RNN activation (by its case-insensitive name) as a function emitting IR ops."""
    key = name.lower()

    def scaled(x: Value, a: float, op: str, **attrs: object) -> Value:
        return ctx.emit(op, [ctx.emit("mul", [x, _scalar(ctx, a, x.type.dtype)])], **attrs)

    simple = {"tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "softsign": "softsign", "softplus": "softplus"}
    if key in simple:
        return lambda x: ctx.emit(simple[key], [x])
    if key == "leakyrelu":
        return lambda x: ctx.emit("leaky_relu", [x], alpha=0.01 if alpha is None else alpha)
    if key == "thresholdedrelu":
        return lambda x: ctx.emit("thresholded_relu", [x], alpha=1.0 if alpha is None else alpha)
    if key == "elu":
        return lambda x: ctx.emit("elu", [x], alpha=1.0 if alpha is None else alpha)
    if key == "hardsigmoid":
        return lambda x: ctx.emit("hard_sigmoid", [x], alpha=0.2 if alpha is None else alpha,
                                  beta=0.5 if beta is None else beta)
    if key == "affine":
        return lambda x: ctx.emit("add", [ctx.emit("mul", [x, _scalar(ctx, alpha or 1.0, x.type.dtype)]),
                                          _scalar(ctx, beta or 0.0, x.type.dtype)])
    if key == "scaledtanh":
        return lambda x: ctx.emit("mul", [scaled(x, 1.0 if beta is None else beta, "tanh"),
                                          _scalar(ctx, 1.0 if alpha is None else alpha, x.type.dtype)])
    raise ctx.fail(f"activation {name!r} is not an ONNX RNN activation")


def _activations(ctx: Ctx, names: Sequence[str] | None, defaults: Sequence[str], alphas: Sequence[float] | None,
                 betas: Sequence[float] | None, directions: int) -> list[list[Activation]]:
    """Per direction, its list of activations (the attribute lists them direction after direction)."""
    per = len(defaults)
    names = list(names) if names else list(defaults) * directions
    if len(names) == per:
        names *= directions
    names = names[:per * directions]  # a forward layer may list the spec's two-direction default
    if len(names) != per * directions:
        raise ctx.fail(f"activations lists {len(names)} functions; {per} per direction are needed")
    alphas, betas = list(alphas or []), list(betas or [])
    fns = [_activation(ctx, n, alphas[i] if i < len(alphas) else None, betas[i] if i < len(betas) else None)
           for i, n in enumerate(names)]
    return [fns[d * per:(d + 1) * per] for d in range(directions)]


@dataclass
class _Layer:
    """The inputs of one recurrent node, normalized to sequence-major layout."""

    x: Value  # [T, B, I]
    w: Value  # [D, G * H, I]
    r: Value  # [D, G * H, H]
    b: Value | None  # [D, 2 * G * H]
    lens: Value | None  # [B]
    h0: Value | None  # [D, B, H]
    steps: int
    batch: int
    hidden: int
    directions: int


def _layer(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
           direction: str, layout: int) -> _Layer:
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    if layout:  # [B, T, I] and [B, D, H] -> [T, B, I] and [D, B, H]
        x = ctx.emit("transpose", [x], perm=(1, 0, 2))
        h0 = ctx.emit("transpose", [h0], perm=(1, 0, 2)) if h0 is not None else None
    directions = 2 if direction == "bidirectional" else 1
    if _dim(ctx, w, 0, ctx.op_type) != directions:
        raise ctx.fail(f"direction {direction!r} needs {directions} weight set(s), W is {w.type}")
    return _Layer(x, w, r, b, lens, h0, _dim(ctx, x, 0, f"{ctx.op_type} (unrolled over the sequence)"),
                  _dim(ctx, x, 1, ctx.op_type), _dim(ctx, r, 2, ctx.op_type), directions)


def _pick(ctx: Ctx, v: Value, d: int) -> Value:
    """Direction d of a [D, ...] parameter."""
    return ctx.emit("gather", [v, ctx.const(np.int64(d))], axis=0)


def _cols(ctx: Ctx, v: Value, start: int, stop: int) -> Value:
    return ctx.emit("slice", [v], starts=(start,), ends=(stop,), axes=(-1,), steps=(1,))


class _Direction:
    """One direction of a layer: projections, per-step reads and masking by sequence length."""

    def __init__(self, ctx: Ctx, layer: _Layer, d: int, gates: int, reverse: bool) -> None:
        self.ctx, self.layer, self.d, self.reverse = ctx, layer, d, reverse
        g_h = gates * layer.hidden
        x = layer.x
        if reverse:
            x = ctx.emit("reverse_sequence", [x, layer.lens], batch_axis=1, time_axis=0) if layer.lens is not None \
                else ctx.emit("slice", [x], starts=(-1,), ends=(-(2**62),), axes=(0,), steps=(-1,))
        self.w_t = ctx.emit("transpose", [_pick(ctx, layer.w, d)], perm=(1, 0))  # [I, G * H]
        self.r_t = ctx.emit("transpose", [_pick(ctx, layer.r, d)], perm=(1, 0))  # [H, G * H]
        bias = _pick(ctx, layer.b, d) if layer.b is not None else None
        self.wb = _cols(ctx, bias, 0, g_h) if bias is not None else None
        self.rb = _cols(ctx, bias, g_h, 2 * g_h) if bias is not None else None
        self.x_proj = ctx.emit("matmul", [x, self.w_t])  # [T, B, G * H]
        dtype = layer.x.type.dtype.numpy
        self.h0 = _pick(ctx, layer.h0, d) if layer.h0 is not None else ctx.const(
            np.zeros((layer.batch, layer.hidden), dtype), name="h0")
        self.zeros = ctx.const(np.zeros((), dtype), name="zero")

    def input(self, t: int, with_bias: bool = True) -> Value:
        """x_t W^T (+ Wb): [B, G * H]."""
        step = self.ctx.emit("slice", [self.x_proj], starts=(t,), ends=(t + 1,), axes=(0,), steps=(1,))
        step = self.ctx.emit("reshape", [step], shape=(self.layer.batch, -1), allowzero=False)
        return self.ctx.emit("add", [step, self.wb]) if with_bias and self.wb is not None else step

    def recur(self, h: Value, with_bias: bool = True) -> Value:
        """h R^T (+ Rb): [B, G * H]."""
        out = self.ctx.emit("matmul", [h, self.r_t])
        return self.ctx.emit("add", [out, self.rb]) if with_bias and self.rb is not None else out

    def alive(self, t: int) -> Value | None:
        """[B, 1] bool: whether step t lies within each sequence; None when every sequence is full length."""
        if self.layer.lens is None:
            return None
        live = self.ctx.emit("less", [self.ctx.const(np.int64(t)), self.ctx.emit("cast", [self.layer.lens], to="int64")])
        return self.ctx.emit("reshape", [live], shape=(-1, 1), allowzero=False)

    def keep(self, live: Value | None, new: Value, old: Value) -> Value:
        return new if live is None else self.ctx.emit("where", [live, new, old])

    def outputs(self, ys: list[Value]) -> Value:
        """The per-step outputs as [T, B, H] in sequence order."""
        ctx = self.ctx
        one_step = (1, self.layer.batch, self.layer.hidden)
        y = ctx.emit("concat", [ctx.emit("reshape", [v], shape=one_step, allowzero=False) for v in ys], axis=0)
        if self.reverse:
            y = ctx.emit("reverse_sequence", [y, self.layer.lens], batch_axis=1, time_axis=0) \
                if self.layer.lens is not None else ctx.emit("slice", [y], starts=(-1,), ends=(-(2**62),), axes=(0,),
                                                             steps=(-1,))
        return y


def _clipped(ctx: Ctx, v: Value, clip: float | None) -> Value:
    return v if clip is None else ctx.emit("clip", [v], min=-float(clip), max=float(clip))


MAX_UNROLLED_STEPS = 4096
"""Recurrent ops are unrolled at import, a few nodes per step: past this the graph would not fit in memory."""

Cell = Callable[[_Direction, int, list[Value], list[Activation]], tuple[Value, list[Value]]]


def _unroll(ctx: Ctx, layer: _Layer, gates: int, direction: str, acts: list[list[Activation]], cell: Cell,
            init: Callable[[_Direction], list[Value]], layout: int) -> list[Value]:
    """Run ``cell`` over every step of every direction; returns Y and each final state, in ONNX layout."""
    if layer.steps * layer.directions > MAX_UNROLLED_STEPS:
        raise ctx.fail(f"{layer.steps} time steps x {layer.directions} direction(s) is more than hetflow unrolls "
                       f"at import ({MAX_UNROLLED_STEPS})")
    ys, finals = [], []
    for d in range(layer.directions):
        run = _Direction(ctx, layer, d, gates, reverse=direction == "reverse" or d == 1)
        state, out = init(run), []
        for t in range(layer.steps):
            live = run.alive(t)
            y, new = cell(run, t, state, acts[d])
            state = [run.keep(live, n, o) for n, o in zip(new, state)]
            out.append(run.keep(live, y, run.zeros))
        shape = (layer.steps, 1, layer.batch, layer.hidden)
        ys.append(ctx.emit("reshape", [run.outputs(out)], shape=shape, allowzero=False))  # [T, 1, B, H]
        finals.append(state)
    y = ys[0] if len(ys) == 1 else ctx.emit("concat", ys, axis=1)  # [T, D, B, H]
    results = [ctx.emit("transpose", [y], perm=(2, 0, 1, 3)) if layout else y]
    for i in range(len(finals[0])):
        parts = [ctx.emit("reshape", [f[i]], shape=(1, layer.batch, layer.hidden), allowzero=False) for f in finals]
        s = parts[0] if len(parts) == 1 else ctx.emit("concat", parts, axis=0)  # [D, B, H]
        results.append(ctx.emit("transpose", [s], perm=(1, 0, 2)) if layout else s)
    return results


def _requested(ctx: Ctx, results: list[Value]) -> list[Value | None]:
    return [v if ctx.wants_output(i) else None for i, v in enumerate(results)]


# ------------------------------------------------------------------ RNN


def _rnn(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
         activations: Sequence[str] | None, activation_alpha: Sequence[float] | None,
         activation_beta: Sequence[float] | None, clip: float | None, direction: str, layout: int) -> list[Value | None]:
    layer = _layer(ctx, x, w, r, b, lens, h0, direction, layout)
    acts = _activations(ctx, activations, ["Tanh"], activation_alpha, activation_beta, layer.directions)

    def cell(run: _Direction, t: int, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        h = f[0](_clipped(ctx, ctx.emit("add", [run.input(t), run.recur(state[0])]), clip))
        return h, [h]

    return _requested(ctx, _unroll(ctx, layer, 1, direction, acts, cell, lambda run: [run.h0], layout))


@onnx_op(since=7)
def RNN_v7(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
           initial_h: Value | None = None, *, activation_alpha: Sequence[float] | None = None,
           activation_beta: Sequence[float] | None = None, activations: Sequence[str] | None = None,
           clip: float | None = None, direction: str = "forward", hidden_size: int | None = None) -> list[Value | None]:
    return _rnn(ctx, x, w, r, b, sequence_lens, initial_h, activations, activation_alpha, activation_beta, clip,
                direction, 0)


@onnx_op(since=14)
def RNN_v14(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
            initial_h: Value | None = None, *, activation_alpha: Sequence[float] | None = None,
            activation_beta: Sequence[float] | None = None, activations: Sequence[str] | None = None,
            clip: float | None = None, direction: str = "forward", hidden_size: int | None = None,
            layout: int = 0) -> list[Value | None]:
    return _rnn(ctx, x, w, r, b, sequence_lens, initial_h, activations, activation_alpha, activation_beta, clip,
                direction, layout)


# ------------------------------------------------------------------ GRU


def _gru(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
         activations: Sequence[str] | None, activation_alpha: Sequence[float] | None,
         activation_beta: Sequence[float] | None, clip: float | None, direction: str, linear_before_reset: int,
         layout: int) -> list[Value | None]:
    layer = _layer(ctx, x, w, r, b, lens, h0, direction, layout)
    acts = _activations(ctx, activations, ["Sigmoid", "Tanh"], activation_alpha, activation_beta, layer.directions)
    n = layer.hidden
    one = _scalar(ctx, 1, x.type.dtype)

    def cell(run: _Direction, t: int, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        (h,) = state
        xi, hr = run.input(t), run.recur(h)
        z = f[0](_clipped(ctx, ctx.emit("add", [_cols(ctx, xi, 0, n), _cols(ctx, hr, 0, n)]), clip))
        reset = f[0](_clipped(ctx, ctx.emit("add", [_cols(ctx, xi, n, 2 * n), _cols(ctx, hr, n, 2 * n)]), clip))
        if linear_before_reset:  # r * (h Rh^T + Rbh)
            hidden = ctx.emit("mul", [reset, _cols(ctx, hr, 2 * n, 3 * n)])
        else:  # (r * h) Rh^T + Rbh
            rh = ctx.emit("matmul", [ctx.emit("mul", [reset, h]), _cols(ctx, run.r_t, 2 * n, 3 * n)])
            hidden = ctx.emit("add", [rh, _cols(ctx, run.rb, 2 * n, 3 * n)]) if run.rb is not None else rh
        cand = f[1](_clipped(ctx, ctx.emit("add", [_cols(ctx, xi, 2 * n, 3 * n), hidden]), clip))
        new = ctx.emit("add", [ctx.emit("mul", [ctx.emit("sub", [one, z]), cand]), ctx.emit("mul", [z, h])])
        return new, [new]

    return _requested(ctx, _unroll(ctx, layer, 3, direction, acts, cell, lambda run: [run.h0], layout))


@onnx_op(since=7)
def GRU_v7(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
           initial_h: Value | None = None, *, activation_alpha: Sequence[float] | None = None,
           activation_beta: Sequence[float] | None = None, activations: Sequence[str] | None = None,
           clip: float | None = None, direction: str = "forward", hidden_size: int | None = None,
           linear_before_reset: int = 0) -> list[Value | None]:
    return _gru(ctx, x, w, r, b, sequence_lens, initial_h, activations, activation_alpha, activation_beta, clip,
                direction, linear_before_reset, 0)


@onnx_op(since=14)
def GRU_v14(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
            initial_h: Value | None = None, *, activation_alpha: Sequence[float] | None = None,
            activation_beta: Sequence[float] | None = None, activations: Sequence[str] | None = None,
            clip: float | None = None, direction: str = "forward", hidden_size: int | None = None,
            layout: int = 0, linear_before_reset: int = 0) -> list[Value | None]:
    return _gru(ctx, x, w, r, b, sequence_lens, initial_h, activations, activation_alpha, activation_beta, clip,
                direction, linear_before_reset, layout)


# ------------------------------------------------------------------ LSTM


def _lstm(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
          c0: Value | None, p: Value | None, activations: Sequence[str] | None,
          activation_alpha: Sequence[float] | None, activation_beta: Sequence[float] | None, clip: float | None,
          direction: str, input_forget: int, layout: int) -> list[Value | None]:
    layer = _layer(ctx, x, w, r, b, lens, h0, direction, layout)
    if layout and c0 is not None:
        c0 = ctx.emit("transpose", [c0], perm=(1, 0, 2))
    acts = _activations(ctx, activations, ["Sigmoid", "Tanh", "Tanh"], activation_alpha, activation_beta,
                        layer.directions)
    n = layer.hidden
    one = _scalar(ctx, 1, x.type.dtype)

    def init(run: _Direction) -> list[Value]:
        c = _pick(ctx, c0, run.d) if c0 is not None else ctx.const(np.zeros((layer.batch, n), x.type.dtype.numpy),
                                                                    name="c0")
        return [run.h0, c]

    def peep(run: _Direction, i: int, c: Value) -> Value | None:
        return None if p is None else ctx.emit("mul", [_cols(ctx, _pick(ctx, p, run.d), i * n, (i + 1) * n), c])

    def gate(pre: Value, extra: Value | None, fn: Activation) -> Value:
        return fn(_clipped(ctx, pre if extra is None else ctx.emit("add", [pre, extra]), clip))

    def cell(run: _Direction, t: int, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        h, c = state
        pre = ctx.emit("add", [run.input(t), run.recur(h)])  # gates i, o, f, c
        i = gate(_cols(ctx, pre, 0, n), peep(run, 0, c), f[0])
        fg = ctx.emit("sub", [one, i]) if input_forget else gate(_cols(ctx, pre, 2 * n, 3 * n), peep(run, 2, c), f[0])
        cand = gate(_cols(ctx, pre, 3 * n, 4 * n), None, f[1])
        c_new = ctx.emit("add", [ctx.emit("mul", [fg, c]), ctx.emit("mul", [i, cand])])
        o = gate(_cols(ctx, pre, n, 2 * n), peep(run, 1, c_new), f[0])
        h_new = ctx.emit("mul", [o, f[2](c_new)])
        return h_new, [h_new, c_new]

    return _requested(ctx, _unroll(ctx, layer, 4, direction, acts, cell, init, layout))


@onnx_op(since=7)
def LSTM_v7(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
            initial_h: Value | None = None, initial_c: Value | None = None, p: Value | None = None, *,
            activation_alpha: Sequence[float] | None = None, activation_beta: Sequence[float] | None = None,
            activations: Sequence[str] | None = None, clip: float | None = None, direction: str = "forward",
            hidden_size: int | None = None, input_forget: int = 0) -> list[Value | None]:
    return _lstm(ctx, x, w, r, b, sequence_lens, initial_h, initial_c, p, activations, activation_alpha,
                 activation_beta, clip, direction, input_forget, 0)


@onnx_op(since=14)
def LSTM_v14(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None = None, sequence_lens: Value | None = None,
             initial_h: Value | None = None, initial_c: Value | None = None, p: Value | None = None, *,
             activation_alpha: Sequence[float] | None = None, activation_beta: Sequence[float] | None = None,
             activations: Sequence[str] | None = None, clip: float | None = None, direction: str = "forward",
             hidden_size: int | None = None, input_forget: int = 0, layout: int = 0) -> list[Value | None]:
    return _lstm(ctx, x, w, r, b, sequence_lens, initial_h, initial_c, p, activations, activation_alpha,
                 activation_beta, clip, direction, input_forget, layout)
