"""The layers of an FPGA design: one per call into the C++ template library.

A layer knows three things about itself, and they are kept side by side so that they cannot
drift apart: the configuration struct and call the generator writes for its template, the
NumPy model of that template's arithmetic (bit-exact: raw integers in, raw integers out), and
the work it does (trip counts, multiplications, storage) that the cycle and resource model reads.

Tensors are per sample, flat, in the IR's row-major order. Raw values are ``int64`` arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls.fixedpoint import FixedType


@dataclass
class Tensor:
    """An activation tensor of one sample: a C++ identifier, a static shape, a fixed-point type."""

    name: str
    shape: tuple[int, ...]
    type: FixedType
    value: str = ""
    """The IR value it holds (for tracing precision); empty for a tensor the backend made."""

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ctype(self) -> str:
        return f"{self.name}_t"


@dataclass
class Param:
    """A constant array the layer reads: weights, biases, lookup tables."""

    name: str
    raw: np.ndarray
    type: FixedType

    @property
    def size(self) -> int:
        return int(self.raw.size)

    @property
    def bits(self) -> int:
        return self.size * self.type.width


@dataclass(frozen=True)
class Work:
    """What one layer does per sample, for the cycle and resource model."""

    steps: int = 1
    """Outer trip count: output pixels of a convolution, rows of a dense, elements of an elementwise op."""
    mults_per_step: int = 0
    """Multiplications in one step; these are what the reuse factor folds onto fewer multipliers."""
    reuse: int = 1
    mult_widths: tuple[int, int] = (0, 0)
    acc_width: int = 0
    lanes: int = 1
    """Comparators, adders or table lookups working on one step (a pooling window's taps)."""
    lane_width: int = 0
    depth: int = 1
    """Pipeline depth of one step, in cycles."""


def _struct(name: str, base: str, consts: list[tuple[str, str, object]], types: list[tuple[str, str]]) -> str:
    lines = [f"struct {name} : {base} {{"]
    for cname, ctype, value in consts:
        lines.append(f"    static const {ctype} {cname} = {value};")
    for tname, cpp in types:
        lines.append(f"    typedef {cpp} {tname};")
    lines.append("};")
    return "\n".join(lines)


def exact_matmul(a: np.ndarray, b: np.ndarray, bound_bits: int) -> np.ndarray:
    """a @ b on raw integers, exactly: float64 BLAS while every partial sum stays below 2**53."""
    if bound_bits <= 52:
        return np.rint(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(np.int64)
    if bound_bits > 62:
        raise fx.FixedPointError(f"a {bound_bits}-bit accumulator is too wide for the NumPy model")
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


@dataclass
class Layer:
    """One template call. Subclasses set ``template`` and ``base`` and implement the three views."""

    name: str
    """The IR node (or graph input) whose settings it uses; the name in reports."""
    op: str
    inputs: list[Tensor]
    output: Tensor
    params: list[Param] = field(default_factory=list)
    index: int = 0
    reuse_factor: int = 1
    nodes: tuple[str, ...] = ()
    """The IR nodes this layer implements (a convolution with its folded batch norm and bias)."""

    template: str = ""
    base: ClassVar[str] = ""
    pointwise: ClassVar[bool] = False
    """Element i of the result depends on element i of each input only: a stream stage needs no frame buffer."""

    @property
    def config_name(self) -> str:
        return f"config{self.index}"

    # ------------------------------------------------------------ C++
    def constants(self) -> list[tuple[str, str, object]]:
        return []

    def typedefs(self) -> list[tuple[str, str]]:
        return []

    def structs(self) -> list[str]:
        return [_struct(self.config_name, self.base, self.constants(), self.typedefs())]

    def element_struct(self) -> str:
        """The config of one element of a pointwise layer, for a stream stage that runs element by element."""
        return f"struct {self.config_name}_1 : {self.config_name} {{\n    static const unsigned n_elem = 1;\n}};"

    def call(self, ins: list[str], out: str, element: bool = False) -> str:
        config = f"{self.config_name}_1" if element else self.config_name
        types = ", ".join([t.ctype for t in self.inputs] + [self.output.ctype, config])
        args = ", ".join([*ins, out, *(p.name for p in self.params)])
        return f"hf::{self.template}<{types}>({args});"

    # ------------------------------------------------------------ model
    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def work(self) -> Work:
        return Work(steps=self.output.size, lanes=1, lane_width=self.output.type.width)

    def _out(self, raw: np.ndarray, frac: int | np.ndarray) -> np.ndarray:
        return fx.requantize(raw, frac, self.output.type).reshape(-1)


def u(name: str, value: int) -> tuple[str, str, int]:
    return (name, "unsigned", int(value))


def i(name: str, value: int) -> tuple[str, str, int]:
    return (name, "int", int(value))


def ll(name: str, value: int) -> tuple[str, str, str]:
    return (name, "long long", f"{int(value)}LL")


def b(name: str, value: bool) -> tuple[str, str, str]:
    return (name, "bool", "true" if value else "false")


# ---------------------------------------------------------------- dense and convolution


@dataclass
class Dense(Layer):
    """y[r] = x[r] @ W + b: a matmul by a constant, with its bias (and a folded batch norm)."""

    n_rows: int = 1
    n_in: int = 1
    n_out: int = 1
    accum: FixedType = field(default_factory=lambda: FixedType(32, 16))

    template: str = "dense"
    base: ClassVar[str] = "hf::dense_config"

    @property
    def weight(self) -> Param:
        return self.params[0]

    @property
    def bias(self) -> Param:
        return self.params[1]

    def dense_constants(self, rows: int) -> list[tuple[str, str, object]]:
        return [u("n_rows", rows), u("n_in", self.n_in), u("n_out", self.n_out), u("reuse_factor", self.reuse_factor)]

    def dense_typedefs(self) -> list[tuple[str, str]]:
        return [("accum_t", self.accum.cpp()), ("weight_t", self.weight.type.cpp()), ("bias_t", self.bias.type.cpp())]

    def constants(self) -> list[tuple[str, str, object]]:
        return self.dense_constants(self.n_rows)

    def typedefs(self) -> list[tuple[str, str]]:
        return self.dense_typedefs()

    def exact_frac(self) -> int:
        return max(self.inputs[0].type.frac + self.weight.type.frac, self.bias.type.frac)

    def products(self, cols: np.ndarray) -> np.ndarray:
        """Accumulators (raw, ``accum`` fraction) for rows ``cols[r, n_in]``: bias plus every product, exact."""
        frac = self.exact_frac()
        bound = self.inputs[0].type.width + self.weight.type.width + max(self.n_in - 1, 0).bit_length() + 1
        w = self.weight.raw.reshape(self.n_in, self.n_out)
        acc = exact_matmul(cols, w, bound) << (frac - self.inputs[0].type.frac - self.weight.type.frac)
        acc = acc + fx.align(self.bias.raw, self.bias.type.frac, frac)
        return fx.requantize(acc, frac, self.accum)  # exact unless a narrower accum_t was configured (wraps)

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        acc = self.products(xs[0].reshape(self.n_rows, self.n_in))
        return self._out(acc, self.accum.frac)

    def work(self) -> Work:
        return Work(steps=self.n_rows, mults_per_step=self.n_in * self.n_out, reuse=self.reuse_factor,
                    mult_widths=(self.inputs[0].type.width, self.weight.type.width), acc_width=self.accum.width,
                    depth=3 + max(self.n_in - 1, 0).bit_length())


@dataclass
class Conv2D(Dense):
    """2-D convolution, im2col style: each output pixel is one dense row over its window."""

    geometry: tuple[int, ...] = ()
    """(C, H, W, M, KH, KW, SH, SW, PT, PL, OH, OW)."""

    template: str = "conv2d"
    base: ClassVar[str] = "hf::conv2d_config"

    def structs(self) -> list[str]:
        mult = _struct(f"{self.config_name}_mult", "hf::dense_config", self.dense_constants(1), self.dense_typedefs())
        names = ("n_chan", "in_height", "in_width", "n_filt", "filt_height", "filt_width", "stride_height",
                 "stride_width", "pad_top", "pad_left", "out_height", "out_width")
        conv = _struct(self.config_name, self.base, [u(n, v) for n, v in zip(names, self.geometry)],
                       [("mult_config", f"{self.config_name}_mult")])
        return [mult, conv]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        c, h, w, m, kh, kw, sh, sw, pt, pl, oh, ow = self.geometry
        x = xs[0].reshape(c, h, w)
        padded = np.zeros((c, max(h + pt, (oh - 1) * sh + kh), max(w + pl, (ow - 1) * sw + kw)), np.int64)
        padded[:, pt:pt + h, pl:pl + w] = x
        win = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]
        cols = win.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * kh * kw)  # [pixel][c, kh, kw]
        acc = self.products(cols)  # [pixel][m]
        return self._out(acc.T, self.accum.frac)

    def work(self) -> Work:
        oh, ow = self.geometry[10], self.geometry[11]
        return Work(steps=oh * ow, mults_per_step=self.n_in * self.n_out, reuse=self.reuse_factor,
                    mult_widths=(self.inputs[0].type.width, self.weight.type.width), acc_width=self.accum.width,
                    depth=3 + max(self.n_in - 1, 0).bit_length())


# ---------------------------------------------------------------- pooling


@dataclass
class Pool2D(Layer):
    """max_pool2d or avg_pool2d over NCHW (the average divides by a table of 1/count)."""

    geometry: tuple[int, ...] = ()
    """(C, H, W, OH, OW, KH, KW, SH, SW, PT, PL)."""
    count_box: tuple[int, int, int, int] = (0, 1, 0, 1)
    """Taps inside [top, bottom) x [left, right) count toward an average's divisor."""
    accum: FixedType | None = None

    base: ClassVar[str] = "hf::pool2d_config"

    @property
    def is_max(self) -> bool:
        return self.template == "max_pool2d"

    def constants(self) -> list[tuple[str, str, object]]:
        names = ("n_chan", "in_height", "in_width", "out_height", "out_width", "pool_height", "pool_width",
                 "stride_height", "stride_width", "pad_top", "pad_left")
        consts: list[tuple[str, str, object]] = [u(n, v) for n, v in zip(names, self.geometry)]
        top, bottom, left, right = self.count_box
        return consts + [i("count_top", top), i("count_bottom", bottom), i("count_left", left),
                         i("count_right", right)]

    def typedefs(self) -> list[tuple[str, str]]:
        if self.is_max:
            return []
        assert self.accum is not None
        return [("accum_t", self.accum.cpp()), ("inv_t", self.params[0].type.cpp())]

    def _windows(self, x: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
        c, h, w, oh, ow, kh, kw, sh, sw, pt, pl = self.geometry
        hh, ww = max(h + pt, (oh - 1) * sh + kh), max(w + pl, (ow - 1) * sw + kw)
        padded = np.full((c, hh, ww), fill, np.int64)
        padded[:, pt:pt + h, pl:pl + w] = x.reshape(c, h, w)
        inside = np.zeros((hh, ww), bool)
        inside[pt:pt + h, pl:pl + w] = True
        view = np.lib.stride_tricks.sliding_window_view
        win = view(padded, (kh, kw), axis=(1, 2))[:, ::sh, ::sw][:, :oh, :ow]
        mask = view(inside, (kh, kw))[::sh, ::sw][:oh, :ow]
        return win, mask

    def _counts(self) -> np.ndarray:
        c, h, w, oh, ow, kh, kw, sh, sw, pt, pl = self.geometry
        top, bottom, left, right = self.count_box
        ih = np.arange(oh)[:, None] * sh - pt + np.arange(kh)[None, :]
        iw = np.arange(ow)[:, None] * sw - pl + np.arange(kw)[None, :]
        rows = ((ih >= top) & (ih < bottom)).sum(axis=1)
        cols = ((iw >= left) & (iw < right)).sum(axis=1)
        return rows[:, None] * cols[None, :]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        t = self.inputs[0].type
        if self.is_max:
            win, mask = self._windows(xs[0], t.min_raw - 1)
            best = np.where(mask[None], win, np.iinfo(np.int64).min).max(axis=(3, 4))
            return self._out(best, t.frac)
        win, mask = self._windows(xs[0], 0)
        total = win.sum(axis=(3, 4))
        inv = self.params[0]
        prod = total * inv.raw[self._counts()][None]
        return self._out(prod, t.frac + inv.type.frac)

    def work(self) -> Work:
        c, oh, ow, kh, kw = self.geometry[0], self.geometry[3], self.geometry[4], self.geometry[5], self.geometry[6]
        return Work(steps=c * oh * ow, lanes=kh * kw, lane_width=self.inputs[0].type.width,
                    mults_per_step=0 if self.is_max else 1, mult_widths=(0, 0) if self.is_max else
                    ((self.accum or self.inputs[0].type).width, self.params[0].type.width),
                    depth=2 + (kh * kw - 1).bit_length())


@dataclass
class MeanRows(Layer):
    """reduce_mean over trailing axes: an exact row sum times 1/n_cols."""

    n_rows: int = 1
    n_cols: int = 1
    accum: FixedType | None = None

    template: str = "mean_rows"
    base: ClassVar[str] = "hf::mean_config"

    def constants(self) -> list[tuple[str, str, object]]:
        return [u("n_rows", self.n_rows), u("n_cols", self.n_cols)]

    def typedefs(self) -> list[tuple[str, str]]:
        assert self.accum is not None
        return [("accum_t", self.accum.cpp()), ("inv_t", self.params[0].type.cpp())]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        total = xs[0].reshape(self.n_rows, self.n_cols).sum(axis=1)
        inv = self.params[0]
        return self._out(total * inv.raw[0], self.inputs[0].type.frac + inv.type.frac)

    def work(self) -> Work:
        return Work(steps=self.n_rows * self.n_cols, mults_per_step=0, lanes=1,
                    lane_width=self.accum.width if self.accum else 0, depth=3)


# ---------------------------------------------------------------- activations


@dataclass
class Activation(Layer):
    """relu, leaky_relu, clip, hard_sigmoid (exact) and sigmoid/tanh (lookup table)."""

    has_min: bool = False
    has_max: bool = False
    index_shift: int = 0
    index_offset: int = 0

    base: ClassVar[str] = "hf::activ_config"
    pointwise: ClassVar[bool] = True

    def constants(self) -> list[tuple[str, str, object]]:
        consts: list[tuple[str, str, object]] = [u("n_elem", self.output.size)]
        if self.template == "clip":
            consts += [b("has_min", self.has_min), b("has_max", self.has_max)]
        if self.template == "lut_activation":
            consts += [u("table_size", self.params[0].size), i("index_shift", self.index_shift),
                       ll("index_offset", self.index_offset)]
        return consts

    def typedefs(self) -> list[tuple[str, str]]:
        if not self.params:
            return []
        return [("table_t" if self.template == "lut_activation" else "param_t", self.params[0].type.cpp())]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        x, t = xs[0], self.inputs[0].type
        out = self.output.type
        if self.template == "relu":
            return np.where(x > 0, fx.requantize(x, t.frac, out), 0)
        if self.template == "leaky_relu":
            alpha = self.params[0]
            neg = fx.requantize(x * alpha.raw[0], t.frac + alpha.type.frac, out)
            return np.where(x >= 0, fx.requantize(x, t.frac, out), neg)
        if self.template == "clip":
            p = self.params[0]
            frac = max(t.frac, p.type.frac)
            xa = fx.align(x, t.frac, frac)
            lo, hi = (fx.align(p.raw[k:k + 1], p.type.frac, frac)[0] for k in (0, 1))
            y = fx.requantize(xa, frac, out)
            if self.has_max:
                y = np.where(xa > hi, fx.requantize(p.raw[1:2], p.type.frac, out), y)
            if self.has_min:
                y = np.where(xa < lo, fx.requantize(p.raw[0:1], p.type.frac, out), y)
            return y
        if self.template == "hard_sigmoid":
            p = self.params[0]
            frac = max(t.frac + p.type.frac, p.type.frac)
            v = (x * p.raw[0] << (frac - t.frac - p.type.frac)) + fx.align(p.raw[1:2], p.type.frac, frac)
            one = np.int64(1) << frac
            return np.where(v < 0, fx.requantize(np.zeros(1, np.int64), 0, out),
                            np.where(v > one, fx.requantize(np.ones(1, np.int64), 0, out), fx.requantize(v, frac, out)))
        # lut_activation
        table = self.params[0]
        idx = x + self.index_offset
        idx = idx >> self.index_shift if self.index_shift >= 0 else idx << -self.index_shift
        idx = np.clip(idx, 0, table.size - 1)
        return fx.requantize(table.raw[idx], table.type.frac, out)

    def work(self) -> Work:
        mult = self.template in ("leaky_relu", "hard_sigmoid")
        return Work(steps=self.output.size, mults_per_step=1 if mult else 0,
                    mult_widths=(self.inputs[0].type.width, self.params[0].type.width) if mult else (0, 0),
                    lanes=1, lane_width=self.inputs[0].type.width, depth=2 if not mult else 4)


# ---------------------------------------------------------------- elementwise arithmetic


_BINARY = {"add": np.add, "sub": np.subtract}


@dataclass
class Binary(Layer):
    """Two tensors of one shape: add, sub, mul, maximum, minimum (exact, then one cast)."""

    base: ClassVar[str] = "hf::merge_config"
    pointwise: ClassVar[bool] = True

    def constants(self) -> list[tuple[str, str, object]]:
        return [u("n_elem", self.output.size)]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        (a, ta), (c, tc) = (xs[0], self.inputs[0].type), (xs[1], self.inputs[1].type)
        if self.template == "mul":
            return self._out(a * c, ta.frac + tc.frac)
        frac = max(ta.frac, tc.frac)
        a, c = fx.align(a, ta.frac, frac), fx.align(c, tc.frac, frac)
        if self.template in _BINARY:
            return self._out(_BINARY[self.template](a, c), frac)
        pick_a = a >= c if self.template == "maximum" else a <= c
        return self._out(np.where(pick_a, a, c), frac)

    def work(self) -> Work:
        mult = self.template == "mul"
        return Work(steps=self.output.size, mults_per_step=1 if mult else 0, lanes=1,
                    mult_widths=(self.inputs[0].type.width, self.inputs[1].type.width) if mult else (0, 0),
                    lane_width=max(t.type.width for t in self.inputs), depth=2)


@dataclass
class BinaryConst(Layer):
    """A tensor and a broadcast constant c[(i / inner) % n_const]: add_const, sub_const, mul_const, scale_shift."""

    inner: int = 1
    const_first: bool = False

    base: ClassVar[str] = "hf::merge_config"

    def constants(self) -> list[tuple[str, str, object]]:
        consts: list[tuple[str, str, object]] = [u("n_elem", self.output.size), u("n_const", self.params[0].size),
                                                  u("inner", self.inner)]
        if self.template == "sub_const":
            consts.append(b("const_first", self.const_first))
        return consts

    def typedefs(self) -> list[tuple[str, str]]:
        types = [("param_t", self.params[0].type.cpp())]
        if self.template == "scale_shift":
            types.append(("bias_t", self.params[1].type.cpp()))
        return types

    def _spread(self, p: Param) -> np.ndarray:
        return p.raw[(np.arange(self.output.size) // self.inner) % p.size]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        x, t = xs[0], self.inputs[0].type
        p = self.params[0]
        c = self._spread(p)
        if self.template == "mul_const":
            return self._out(x * c, t.frac + p.type.frac)
        if self.template == "scale_shift":
            shift = self.params[1]
            frac = max(t.frac + p.type.frac, shift.type.frac)
            v = (x * c << (frac - t.frac - p.type.frac)) + fx.align(self._spread(shift), shift.type.frac, frac)
            return self._out(v, frac)
        frac = max(t.frac, p.type.frac)
        xa, ca = fx.align(x, t.frac, frac), fx.align(c, p.type.frac, frac)
        if self.template == "add_const":
            return self._out(xa + ca, frac)
        return self._out(ca - xa if self.const_first else xa - ca, frac)

    def work(self) -> Work:
        mult = self.template in ("mul_const", "scale_shift")
        return Work(steps=self.output.size, mults_per_step=1 if mult else 0, lanes=1,
                    mult_widths=(self.inputs[0].type.width, self.params[0].type.width) if mult else (0, 0),
                    lane_width=self.inputs[0].type.width, depth=2 if not mult else 4)


# ---------------------------------------------------------------- data movement


@dataclass
class Concat2(Layer):
    """Two tensors joined along one axis (concat of more inputs is a chain of these)."""

    n_outer: int = 1
    inner: tuple[int, int] = (1, 1)

    template: str = "concat2"
    base: ClassVar[str] = "hf::concat_config"

    def constants(self) -> list[tuple[str, str, object]]:
        return [u("n_outer", self.n_outer), u("n_inner1", self.inner[0]), u("n_inner2", self.inner[1])]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        parts = [fx.requantize(x, t.type.frac, self.output.type).reshape(self.n_outer, n)
                 for x, t, n in zip(xs, self.inputs, self.inner)]
        return np.concatenate(parts, axis=1).reshape(-1)


@dataclass
class Transpose(Layer):
    """A permutation of up to four dims: y[i0, i1, i2, i3] = x[i0*s0 + i1*s1 + i2*s2 + i3*s3]."""

    dims: tuple[int, int, int, int] = (1, 1, 1, 1)
    strides: tuple[int, int, int, int] = (0, 0, 0, 0)

    template: str = "transpose"
    base: ClassVar[str] = "hf::transpose_config"

    def constants(self) -> list[tuple[str, str, object]]:
        return [u(f"d{k}", d) for k, d in enumerate(self.dims)] + [u(f"s{k}", s) for k, s in enumerate(self.strides)]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        idx = np.zeros(self.dims, np.int64)
        for k, (d, s) in enumerate(zip(self.dims, self.strides)):
            shape = [1, 1, 1, 1]
            shape[k] = d
            idx = idx + np.arange(d).reshape(shape) * s
        return fx.requantize(xs[0][idx.reshape(-1)], self.inputs[0].type.frac, self.output.type)


@dataclass
class Cast(Layer):
    """A copy with a change of type: a graph output, or an alias that must become its own array."""

    template: str = "cast"
    pointwise: ClassVar[bool] = True

    def structs(self) -> list[str]:
        return []

    def element_struct(self) -> str:
        return ""

    def call(self, ins: list[str], out: str, element: bool = False) -> str:
        n = 1 if element else self.output.size
        return f"hf::cast<{self.inputs[0].ctype}, {self.output.ctype}, {n}>({ins[0]}, {out});"

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        return fx.requantize(xs[0], self.inputs[0].type.frac, self.output.type)


# ---------------------------------------------------------------- softmax


@dataclass
class Softmax(Layer):
    """Softmax over the last axis by two lookup tables: exp of (x - max), and 1/m of the sum's mantissa."""

    n_rows: int = 1
    n_in: int = 1
    exp_shift: int = 0
    exp_offset: int = 0
    inv_bits: int = 10
    accum: FixedType | None = None
    wide: FixedType | None = None

    template: str = "softmax"
    base: ClassVar[str] = "hf::softmax_config"

    def constants(self) -> list[tuple[str, str, object]]:
        assert self.accum is not None
        return [u("n_rows", self.n_rows), u("n_in", self.n_in), u("table_size", self.params[0].size),
                i("exp_shift", self.exp_shift), ll("exp_offset", self.exp_offset), u("inv_bits", self.inv_bits),
                i("sum_frac", self.accum.frac)]

    def typedefs(self) -> list[tuple[str, str]]:
        assert self.accum is not None and self.wide is not None
        return [("table_t", self.params[0].type.cpp()), ("accum_t", self.accum.cpp()), ("wide_t", self.wide.cpp())]

    def evaluate(self, xs: list[np.ndarray]) -> np.ndarray:
        assert self.accum is not None
        x = xs[0].reshape(self.n_rows, self.n_in)
        exp_t, inv_t = self.params
        d = x - x.max(axis=1, keepdims=True)
        idx = d + self.exp_offset
        idx = idx >> self.exp_shift if self.exp_shift >= 0 else idx << -self.exp_shift
        e = exp_t.raw[np.clip(idx, 0, exp_t.size - 1)]
        total = e.sum(axis=1, keepdims=True) << (self.accum.frac - exp_t.type.frac)
        p = np.frexp(total.astype(np.float64))[1].astype(np.int64) - 1  # msb index (total < 2**53)
        drop = p - self.inv_bits
        mant = np.where(drop >= 0, total >> np.maximum(drop, 0), total << np.maximum(-drop, 0))
        inv = inv_t.raw[mant & ((1 << self.inv_bits) - 1)]
        scale = p - self.accum.frac
        return self._out(e * inv, exp_t.type.frac + inv_t.type.frac + scale)

    def work(self) -> Work:
        return Work(steps=3 * self.n_rows * self.n_in, mults_per_step=1, lanes=1,
                    mult_widths=(self.params[0].type.width, self.params[1].type.width),
                    lane_width=self.inputs[0].type.width, depth=8)
