"""ONNX recurrent layers (RNN, GRU, LSTM): unrolled into IR ops over a short static sequence, otherwise one
``loop`` over time steps per direction.

A layer whose sequence length and batch are known at import, with few enough steps, is unrolled (every
backend then compiles each step's ops). A dynamic sequence length (or batch), or a long sequence, becomes
a ``loop`` whose body is one step of the cell, built by the same cell functions: the length is read at
run time, and the reference backend runs the body once per step. Per direction the input projection of
every step is one matmul up front; each step then adds the
recurrent projection and applies the gates. ``sequence_lens`` is honoured: a step past a sequence's
end keeps its state and outputs zeros, and the reverse direction reverses each sequence within its
own length. The activations and their alpha/beta follow the ONNX list, one set per direction.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.mappings.composite import MAX_UNROLLED_STEPS, _dim, _scalar
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Graph, Value

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
    steps: int | None  # None: known only at run time
    batch: int | None
    hidden: int
    directions: int
    acts: tuple[Sequence[str] | None, Sequence[float] | None, Sequence[float] | None]  # names, alphas, betas

    @property
    def unrolled(self) -> bool:
        """Whether the layer is unrolled at import (short and static) rather than a loop over time."""
        return self.steps is not None and self.batch is not None and \
            self.steps * self.directions <= MAX_UNROLLED_STEPS


def _static(x: Value, axis: int) -> int | None:
    shape = x.type.shape
    return shape[axis] if shape is not None and len(shape) > axis and isinstance(shape[axis], int) else None


def _layer(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
           direction: str, layout: int, acts: tuple = (None, None, None)) -> _Layer:
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}")
    if layout:  # [B, T, I] and [B, D, H] -> [T, B, I] and [D, B, H]
        x = ctx.emit("transpose", [x], perm=(1, 0, 2))
        h0 = ctx.emit("transpose", [h0], perm=(1, 0, 2)) if h0 is not None else None
    directions = 2 if direction == "bidirectional" else 1
    if _dim(ctx, w, 0, ctx.op_type) != directions:
        raise ctx.fail(f"direction {direction!r} needs {directions} weight set(s), W is {w.type}")
    if x.type.rank != 3:
        raise ctx.fail(f"X must be 3-D, got {x.type}")
    return _Layer(x, w, r, b, lens, h0, _static(x, 0), _static(x, 1), _dim(ctx, r, 2, ctx.op_type), directions, acts)


def _pick(ctx: Ctx, v: Value, d: int) -> Value:
    """Direction d of a [D, ...] parameter."""
    return ctx.emit("gather", [v, ctx.const(np.int64(d))], axis=0)


def _cols(ctx: Ctx, v: Value, start: int, stop: int) -> Value:
    return ctx.emit("slice", [v], starts=(start,), ends=(stop,), axes=(-1,), steps=(1,))


class _Direction:
    """One direction of a layer: projections, per-step reads and masking by sequence length."""

    def __init__(self, ctx: Ctx, layer: _Layer, d: int, gates: int, reverse: bool, p: Value | None = None) -> None:
        self.ctx, self.layer, self.d, self.reverse = ctx, layer, d, reverse
        self.lens = layer.lens
        self.p = _pick(ctx, p, d) if p is not None else None  # LSTM peepholes [3 * H]
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
        self.h0 = _pick(ctx, layer.h0, d) if layer.h0 is not None else _zero_state(ctx, layer)
        self.zeros = ctx.const(np.zeros((), layer.x.type.dtype.numpy), name="zero")

    def input(self, t: int | Value, with_bias: bool = True) -> Value:
        """x_t W^T (+ Wb): [B, G * H]; ``t`` a step number (unrolled) or the loop body's iteration value."""
        if isinstance(t, Value):
            step = self.ctx.emit("gather", [self.x_proj, t], axis=0)
        else:
            step = self.ctx.emit("slice", [self.x_proj], starts=(t,), ends=(t + 1,), axes=(0,), steps=(1,))
            step = self.ctx.emit("reshape", [step], shape=(self.layer.batch, -1), allowzero=False)
        return self.ctx.emit("add", [step, self.wb]) if with_bias and self.wb is not None else step

    def recur(self, h: Value, with_bias: bool = True) -> Value:
        """h R^T (+ Rb): [B, G * H]."""
        out = self.ctx.emit("matmul", [h, self.r_t])
        return self.ctx.emit("add", [out, self.rb]) if with_bias and self.rb is not None else out

    def alive(self, t: int | Value) -> Value | None:
        """[B, 1] bool: whether step t lies within each sequence; None when every sequence is full length."""
        if self.lens is None:
            return None
        step = t if isinstance(t, Value) else self.ctx.const(np.int64(t))
        live = self.ctx.emit("less", [step, self.ctx.emit("cast", [self.lens], to="int64")])
        return self.ctx.emit("reshape", [live], shape=(-1, 1), allowzero=False)

    def peephole(self, i: int, c: Value) -> Value | None:
        """P_i (.) c for gate i of (input, output, forget); None without peepholes."""
        if self.p is None:
            return None
        n = self.layer.hidden
        return self.ctx.emit("mul", [_cols(self.ctx, self.p, i * n, (i + 1) * n), c])

    def in_body(self, body: Ctx) -> tuple[_Direction, list[Value]]:
        """This direction as seen from a loop body built in ``body``: every value a step reads becomes a body
        input. Returns the body's view and the outer values the loop must pass (its captures), in input order."""
        inner = copy.copy(self)
        inner.ctx = body
        captured: list[Value] = []

        def take(v: Value | None) -> Value | None:
            if v is None:
                return None
            if v.const is not None:  # weights are copied in, so that folding inside the body sees them
                return body.const(v.const, name=v.name)
            captured.append(v)
            return body.graph.add_input(v.name, v.type.dtype, v.type.shape)

        inner.x_proj, inner.r_t = take(self.x_proj), take(self.r_t)  # type: ignore[assignment]
        inner.wb, inner.rb, inner.lens, inner.p = take(self.wb), take(self.rb), take(self.lens), take(self.p)
        inner.zeros = body.const(np.zeros((), self.layer.x.type.dtype.numpy), name="zero")
        return inner, captured

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



Step = int | Value
"""A time step: its number (unrolled) or the loop body's iteration value."""
Cell = Callable[[_Direction, Step, list[Value], list[Activation]], tuple[Value, list[Value]]]
Acts = Callable[[Ctx], list[list[Activation]]]
"""Builds, in a given context, each direction's activations (a loop body needs its own)."""


def _zero_state(ctx: Ctx, layer: _Layer) -> Value:
    """A zero [B, H] state; with a dynamic batch, built from X's shape at run time. A small one is folded to a
    constant as it is emitted; a large one is made when the graph runs (no size in a file allocates at import)."""
    dtype = layer.x.type.dtype
    if layer.batch is not None:
        dims = ctx.const(np.array([layer.batch, layer.hidden], np.int64), name="h0_shape")
    else:
        batch = ctx.emit("shape", [layer.x], start=1, end=2)
        dims = ctx.emit("concat", [batch, ctx.const(np.array([layer.hidden], np.int64))], axis=0)
    return ctx.emit("constant_of_shape", [dims], value=0.0, dtype=dtype.value)


def _unrolled(run: _Direction, steps: int, cell: Cell, acts: list[Activation],
              state: list[Value]) -> tuple[Value, list[Value]]:
    """One direction unrolled: (Y as [T, B, H] in sequence order, the final states)."""
    out = []
    for t in range(steps):
        live = run.alive(t)
        y, new = cell(run, t, state, acts)
        state = [run.keep(live, n, o) for n, o in zip(new, state)]
        out.append(run.keep(live, y, run.zeros))
    return run.outputs(out), state


def _looped(run: _Direction, cell: Cell, acts: Acts, state: list[Value]) -> tuple[Value, list[Value]]:
    """One direction as a ``loop`` over the time steps, its body one step of ``cell``: (Y [T, B, H], final states)."""
    ctx, layer = run.ctx, run.layer
    body = Ctx(Graph(f"{ctx.node_name}_step"), ctx.version)
    body.node_name, body.op_type = f"{ctx.node_name}_step", ctx.op_type
    t = body.graph.add_input("t", DType.int64, ())
    go = body.graph.add_input("cond", DType.bool, ())
    carried = [body.graph.add_input(f"state{i}", v.type.dtype, v.type.shape) for i, v in enumerate(state)]
    inner, captured = run.in_body(body)
    live = inner.alive(t)
    y, new = cell(inner, t, carried, acts(body)[run.d])
    body.graph.outputs += [go, *(inner.keep(live, n, o) for n, o in zip(new, carried)), inner.keep(live, y, inner.zeros)]
    steps = ctx.const(np.int64(layer.steps)) if layer.steps is not None else ctx.emit("shape", [layer.x], start=0, end=1)
    node = ctx.graph.add_node("loop", [steps, None, *state, *captured], {"body": body.graph, "num_carried": len(state)},
                              name=ctx.node_name, region=ctx.region)
    *final, ys = node.outputs
    if ys.type.shape is not None and layer.x.type.shape is not None:  # the loop runs once per step of X
        ys.type = ys.type.with_shape((layer.x.type.shape[0], *ys.type.shape[1:]))
    y_all = ys
    if run.reverse:
        y_all = ctx.emit("reverse_sequence", [ys, layer.lens], batch_axis=1, time_axis=0) if layer.lens is not None \
            else ctx.emit("slice", [ys], starts=(-1,), ends=(-(2**62),), axes=(0,), steps=(-1,))
    return y_all, final


def _run_layer(ctx: Ctx, layer: _Layer, gates: int, direction: str, acts: Acts, cell: Cell,
               init: Callable[[_Direction], list[Value]], layout: int, p: Value | None = None) -> list[Value]:
    """Run ``cell`` over every step of every direction; returns Y and each final state, in ONNX layout."""
    ys, finals = [], []
    outer_acts = acts(ctx) if layer.unrolled else []
    for d in range(layer.directions):
        run = _Direction(ctx, layer, d, gates, direction == "reverse" or d == 1, p)
        if layer.unrolled:
            y, state = _unrolled(run, layer.steps, cell, outer_acts[d], init(run))  # type: ignore[arg-type]
        else:
            y, state = _looped(run, cell, acts, init(run))
        ys.append(ctx.emit("reshape", [y], shape=(0, 1, -1, layer.hidden), allowzero=False))  # [T, 1, B, H]
        finals.append(state)
    y = ys[0] if len(ys) == 1 else ctx.emit("concat", ys, axis=1)  # [T, D, B, H]
    results = [ctx.emit("transpose", [y], perm=(2, 0, 1, 3)) if layout else y]
    for i in range(len(finals[0])):
        parts = [ctx.emit("reshape", [f[i]], shape=(1, -1, layer.hidden), allowzero=False) for f in finals]
        s = parts[0] if len(parts) == 1 else ctx.emit("concat", parts, axis=0)  # [D, B, H]
        results.append(ctx.emit("transpose", [s], perm=(1, 0, 2)) if layout else s)
    return results


def _requested(ctx: Ctx, results: list[Value]) -> list[Value | None]:
    return [v if ctx.wants_output(i) else None for i, v in enumerate(results)]


def _acts(names: Sequence[str] | None, defaults: list[str], alphas: Sequence[float] | None,
          betas: Sequence[float] | None, directions: int) -> Acts:
    return lambda ctx: _activations(ctx, names, defaults, alphas, betas, directions)


# ------------------------------------------------------------------ RNN


def _rnn(ctx: Ctx, x: Value, w: Value, r: Value, b: Value | None, lens: Value | None, h0: Value | None,
         activations: Sequence[str] | None, activation_alpha: Sequence[float] | None,
         activation_beta: Sequence[float] | None, clip: float | None, direction: str, layout: int) -> list[Value | None]:
    layer = _layer(ctx, x, w, r, b, lens, h0, direction, layout)
    acts = _acts(activations, ["Tanh"], activation_alpha, activation_beta, layer.directions)
    acts(ctx)  # a bad activation list fails here, once

    def cell(run: _Direction, t: Step, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        h = f[0](_clipped(run.ctx, run.ctx.emit("add", [run.input(t), run.recur(state[0])]), clip))
        return h, [h]

    return _requested(ctx, _run_layer(ctx, layer, 1, direction, acts, cell, lambda run: [run.h0], layout))


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
    acts = _acts(activations, ["Sigmoid", "Tanh"], activation_alpha, activation_beta, layer.directions)
    acts(ctx)
    n = layer.hidden

    def cell(run: _Direction, t: Step, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        (h,) = state
        c = run.ctx
        xi, hr = run.input(t), run.recur(h)
        z = f[0](_clipped(c, c.emit("add", [_cols(c, xi, 0, n), _cols(c, hr, 0, n)]), clip))
        reset = f[0](_clipped(c, c.emit("add", [_cols(c, xi, n, 2 * n), _cols(c, hr, n, 2 * n)]), clip))
        if linear_before_reset:  # r * (h Rh^T + Rbh)
            hidden = c.emit("mul", [reset, _cols(c, hr, 2 * n, 3 * n)])
        else:  # (r * h) Rh^T + Rbh
            rh = c.emit("matmul", [c.emit("mul", [reset, h]), _cols(c, run.r_t, 2 * n, 3 * n)])
            hidden = c.emit("add", [rh, _cols(c, run.rb, 2 * n, 3 * n)]) if run.rb is not None else rh
        cand = f[1](_clipped(c, c.emit("add", [_cols(c, xi, 2 * n, 3 * n), hidden]), clip))
        one = _scalar(c, 1, x.type.dtype)
        new = c.emit("add", [c.emit("mul", [c.emit("sub", [one, z]), cand]), c.emit("mul", [z, h])])
        return new, [new]

    return _requested(ctx, _run_layer(ctx, layer, 3, direction, acts, cell, lambda run: [run.h0], layout))


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
    acts = _acts(activations, ["Sigmoid", "Tanh", "Tanh"], activation_alpha, activation_beta, layer.directions)
    acts(ctx)
    n = layer.hidden

    def init(run: _Direction) -> list[Value]:
        return [run.h0, _pick(ctx, c0, run.d) if c0 is not None else _zero_state(ctx, layer)]

    def cell(run: _Direction, t: Step, state: list[Value], f: list[Activation]) -> tuple[Value, list[Value]]:
        h, cs = state
        c = run.ctx

        def gate(pre: Value, extra: Value | None, fn: Activation) -> Value:
            return fn(_clipped(c, pre if extra is None else c.emit("add", [pre, extra]), clip))

        pre = c.emit("add", [run.input(t), run.recur(h)])  # gates i, o, f, c
        i = gate(_cols(c, pre, 0, n), run.peephole(0, cs), f[0])
        one = _scalar(c, 1, x.type.dtype)
        fg = c.emit("sub", [one, i]) if input_forget else gate(_cols(c, pre, 2 * n, 3 * n), run.peephole(2, cs), f[0])
        cand = gate(_cols(c, pre, 3 * n, 4 * n), None, f[1])
        c_new = c.emit("add", [c.emit("mul", [fg, cs]), c.emit("mul", [i, cand])])
        o = gate(_cols(c, pre, n, 2 * n), run.peephole(1, c_new), f[0])
        h_new = c.emit("mul", [o, f[2](c_new)])
        return h_new, [h_new, c_new]

    return _requested(ctx, _run_layer(ctx, layer, 4, direction, acts, cell, init, layout, p))


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
