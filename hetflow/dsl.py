"""A small Python DSL: write a model directly and get the same IR an ONNX import would give.

    from hetflow import dsl

    with dsl.model("mlp", seed=0) as m:
        x = m.input("x", ("N", 784))
        with m.layer("fc1"):
            h = dsl.relu(dsl.linear(x, m.param("w", dsl.he((784, 512))), m.param("b", dsl.zeros((512,)))))
        with m.layer("fc2"):
            y = h @ m.param("w", dsl.he((512, 10))) + m.param("b", dsl.zeros((10,)))
        m.output(y, name="logits")
    graph = m.graph

Parameters are seeded per model and per name, so a model builds the same weights every time
(``m.params`` holds them by name, e.g. to export them). ``m.layer`` / ``m.block`` open regions, so
the model carries its own layer names; ``form_regions`` keeps them.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetflow.ir import DType, Graph, Value, verify
from hetflow.ir.errors import HetflowError
from hetflow.ir.types import Dim


class DSLError(HetflowError, ValueError):
    """A model written with the DSL is malformed (mixed models, bad argument, duplicate name)."""


# ====================================================================== parameter initializers
@dataclass(frozen=True)
class Init:
    """A recipe for a parameter: ``fn(rng, shape)`` draws it; the model supplies a seeded rng."""

    shape: tuple[int, ...]
    fn: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
    dtype: str = "float32"

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.fn(rng, self.shape), dtype=DType.of(self.dtype).numpy)


def _fan_in(shape: tuple[int, ...]) -> int:
    """(in, out) for a linear weight, (out, in, *kernel) for a conv weight."""
    return shape[0] if len(shape) <= 2 else math.prod(shape[1:])


def _fan_out(shape: tuple[int, ...]) -> int:
    return shape[-1] if len(shape) <= 2 else shape[0] * math.prod(shape[2:])


def he(shape: Sequence[int], dtype: str = "float32") -> Init:
    """Kaiming-normal: N(0, 2 / fan_in); for layers followed by relu."""
    return Init(tuple(shape), lambda rng, s: rng.normal(0.0, math.sqrt(2.0 / _fan_in(s)), s), dtype)


def xavier(shape: Sequence[int], dtype: str = "float32") -> Init:
    """Glorot-uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    def draw(rng: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        a = math.sqrt(6.0 / (_fan_in(s) + _fan_out(s)))
        return rng.uniform(-a, a, s)

    return Init(tuple(shape), draw, dtype)


def normal(shape: Sequence[int], std: float = 0.02, mean: float = 0.0, dtype: str = "float32") -> Init:
    return Init(tuple(shape), lambda rng, s: rng.normal(mean, std, s), dtype)


def uniform(shape: Sequence[int], low: float = -0.1, high: float = 0.1, dtype: str = "float32") -> Init:
    return Init(tuple(shape), lambda rng, s: rng.uniform(low, high, s), dtype)


def full(shape: Sequence[int], value: float, dtype: str = "float32") -> Init:
    return Init(tuple(shape), lambda rng, s: np.full(s, value), dtype)


def zeros(shape: Sequence[int], dtype: str = "float32") -> Init:
    return full(shape, 0.0, dtype)


def ones(shape: Sequence[int], dtype: str = "float32") -> Init:
    return full(shape, 1.0, dtype)


# ====================================================================== tensors
class Tensor:
    """A value of a DSL model. Arithmetic operators build IR nodes: ``+ - * / @`` and unary ``-``."""

    __slots__ = ("model", "value")

    def __init__(self, model: Model, value: Value) -> None:
        self.model = model
        self.value = value

    @property
    def name(self) -> str:
        return self.value.name

    @property
    def shape(self) -> tuple[Dim, ...] | None:
        return self.value.type.shape

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    def __repr__(self) -> str:
        return f"Tensor(%{self.value.name}: {self.value.type})"

    def __add__(self, other: Operand) -> Tensor:
        return add(self, other)

    def __radd__(self, other: Operand) -> Tensor:
        return add(other, self)

    def __sub__(self, other: Operand) -> Tensor:
        return sub(self, other)

    def __rsub__(self, other: Operand) -> Tensor:
        return sub(other, self)

    def __mul__(self, other: Operand) -> Tensor:
        return mul(self, other)

    def __rmul__(self, other: Operand) -> Tensor:
        return mul(other, self)

    def __truediv__(self, other: Operand) -> Tensor:
        return div(self, other)

    def __rtruediv__(self, other: Operand) -> Tensor:
        return div(other, self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        return self.model.emit("neg", [self])

    def reshape(self, *shape: int) -> Tensor:
        return reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *perm: int) -> Tensor:
        return transpose(self, perm[0] if len(perm) == 1 and isinstance(perm[0], (tuple, list)) else perm)


Operand = Tensor | float | int | np.ndarray


# ====================================================================== models
class Model:
    """A model under construction: inputs, seeded parameters, nodes, regions and outputs of one Graph."""

    def __init__(self, name: str = "model", *, seed: int = 0) -> None:
        self.graph = Graph(name)
        self.seed = seed
        self.params: dict[str, np.ndarray] = {}
        self._scope: list[str] = []  # names of the open regions, outermost first
        self._in_layer = False
        self.graph.add_region(name, "network")

    # ------------------------------------------------------------ context
    def __enter__(self) -> Model:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()

    def finish(self) -> Graph:
        """Check the model is complete and well formed; return its graph."""
        if not self.graph.outputs:
            raise DSLError(f"model {self.graph.name!r} has no outputs; call m.output(...)")
        verify(self.graph)
        return self.graph

    # ------------------------------------------------------------ leaves
    def input(self, name: str, shape: Sequence[Dim] | None, dtype: str = "float32") -> Tensor:
        if any(v.name == name for v in self.graph.inputs):
            raise DSLError(f"model {self.graph.name!r}: input {name!r} is declared twice")
        return Tensor(self, self.graph.add_input(name, dtype, shape))

    def param(self, name: str, init: Init | np.ndarray | float | Sequence[float], dtype: str | None = None) -> Tensor:
        """A named parameter (a constant of the graph), drawn from ``init`` with this model's seed.

        Inside ``m.layer("fc1")`` the name is qualified: ``m.param("w", ...)`` is ``fc1/w``.
        """
        full_name = f"{self._scope[-1]}/{name}" if self._scope else name
        if full_name in self.params:
            raise DSLError(f"model {self.graph.name!r}: parameter {full_name!r} is declared twice")
        if isinstance(init, Init):
            rng = np.random.default_rng([self.seed, zlib.crc32(full_name.encode())])
            array = init(rng)
        elif isinstance(init, np.ndarray):
            array = init
        else:
            array = np.asarray(init, dtype=np.float32)
        if dtype is not None:
            array = array.astype(DType.of(dtype).numpy)
        value = self.graph.constant(array, name=full_name)
        if value.name != full_name:
            raise DSLError(f"model {self.graph.name!r}: parameter name {full_name!r} is already used by another value")
        self.params[full_name] = array
        return Tensor(self, value)

    def const(self, array: np.ndarray | float | int, dtype: str | DType = "float32", name: str = "const") -> Tensor:
        """An unnamed constant (not a parameter): scalars, shapes, masks."""
        return Tensor(self, self.graph.constant(np.asarray(array, dtype=DType.of(dtype).numpy), name=name))

    def output(self, *tensors: Tensor, names: Sequence[str] | None = None, name: str | None = None) -> None:
        """Mark graph outputs, optionally renaming them."""
        if name is not None:
            names = [name]
        if names is not None and len(names) != len(tensors):
            raise DSLError(f"model {self.graph.name!r}: {len(tensors)} outputs but {len(names)} names")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise DSLError(f"model {self.graph.name!r}: an output must be a DSL Tensor, not {type(t).__name__}")
            if t.model is not self:
                raise DSLError(f"model {self.graph.name!r}: output %{t.name} belongs to model {t.model.graph.name!r}")
            value = t.value
            wanted = names[i] if names is not None else None
            if wanted is not None and not self.graph.rename(value, wanted):
                value = self.graph.add_node("identity", [value], name=wanted, output_names=[wanted]).outputs[0]
            self.graph.outputs.append(value)

    # ------------------------------------------------------------ regions
    @contextmanager
    def layer(self, name: str) -> Iterator[None]:
        """Nodes made inside belong to layer ``name`` (qualified by the open blocks: ``res1/conv1``)."""
        if self._in_layer:
            raise DSLError(f"model {self.graph.name!r}: layer {name!r} is opened inside layer {self._scope[-1]!r}")
        with self._region(name, "layer"):
            self._in_layer = True
            try:
                yield
            finally:
                self._in_layer = False

    @contextmanager
    def block(self, name: str) -> Iterator[None]:
        """Layers (and nodes) made inside belong to block ``name``; blocks nest."""
        if self._in_layer:
            raise DSLError(f"model {self.graph.name!r}: block {name!r} is opened inside layer {self._scope[-1]!r}")
        with self._region(name, "block"):
            yield

    @contextmanager
    def _region(self, name: str, kind: str) -> Iterator[None]:
        parent = self._scope[-1] if self._scope else self.graph.name
        full = f"{parent}/{name}" if self._scope else name
        if full in self.graph.regions:
            raise DSLError(f"model {self.graph.name!r}: region {full!r} is opened twice")
        self.graph.add_region(full, kind, parent)  # type: ignore[arg-type]
        self._scope.append(full)
        try:
            yield
        finally:
            self._scope.pop()

    # ------------------------------------------------------------ nodes
    def emit(self, op: str, inputs: Sequence[Tensor | None], **attrs: Any) -> Tensor:
        """Add one IR node (in the open region) and return its first output."""
        return self.emit_multi(op, inputs, **attrs)[0]

    def emit_multi(self, op: str, inputs: Sequence[Tensor | None], **attrs: Any) -> list[Tensor]:
        region = self._scope[-1] if self._scope else None
        hint = f"{region}/{op}" if region else op
        node = self.graph.add_node(op, [None if t is None else t.value for t in inputs], attrs, name=hint, region=region)
        return [Tensor(self, v) for v in node.outputs]

    def __repr__(self) -> str:
        return f"Model({self.graph.name!r}, {len(self.graph.nodes)} nodes, {len(self.params)} params)"


def model(name: str = "model", *, seed: int = 0) -> Model:
    """Start a model; use as ``with dsl.model("mlp") as m: ...`` and read ``m.graph``."""
    return Model(name, seed=seed)


def _model_of(*operands: Any) -> Model:
    models = {id(t.model): t.model for t in operands if isinstance(t, Tensor)}
    if not models:
        raise DSLError("an operation needs at least one DSL Tensor operand, got " + ", ".join(type(t).__name__ for t in operands))
    if len(models) > 1:
        raise DSLError("operands come from different models: " + ", ".join(repr(m.graph.name) for m in models.values()))
    return next(iter(models.values()))


def _tensor(m: Model, x: Operand, like: Tensor) -> Tensor:
    """``x`` as a Tensor of ``m``; a Python or NumPy scalar/array becomes a constant of ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    return m.const(np.asarray(x), dtype=like.dtype)


# ====================================================================== elementwise
def _binary(op: str, a: Operand, b: Operand) -> Tensor:
    m = _model_of(a, b)
    like = a if isinstance(a, Tensor) else b
    assert isinstance(like, Tensor)
    return m.emit(op, [_tensor(m, a, like), _tensor(m, b, like)])


def add(a: Operand, b: Operand) -> Tensor:
    return _binary("add", a, b)


def sub(a: Operand, b: Operand) -> Tensor:
    return _binary("sub", a, b)


def mul(a: Operand, b: Operand) -> Tensor:
    return _binary("mul", a, b)


def div(a: Operand, b: Operand) -> Tensor:
    return _binary("div", a, b)


def relu(x: Tensor) -> Tensor:
    return x.model.emit("relu", [x])


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU; ``approximate="tanh"`` for the tanh approximation."""
    return x.model.emit("gelu", [x], approximate=approximate)


def sigmoid(x: Tensor) -> Tensor:
    return x.model.emit("sigmoid", [x])


def tanh(x: Tensor) -> Tensor:
    return x.model.emit("tanh", [x])


def exp(x: Tensor) -> Tensor:
    return x.model.emit("exp", [x])


def sqrt(x: Tensor) -> Tensor:
    return x.model.emit("sqrt", [x])


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    return x.model.emit("clip", [x], min=min, max=max)


# ====================================================================== nn
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """NumPy matmul semantics (batched, broadcasting)."""
    return _model_of(a, b).emit("matmul", [a, b])


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ w + b`` with ``w`` of shape (in, out)."""
    y = matmul(x, w)
    return y if b is None else add(y, b)


def _pair(v: int | Sequence[int], what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if len(v) != 2:
        raise DSLError(f"{what} takes an int or two ints, got {tuple(v)}")
    return (int(v[0]), int(v[1]))


def _pads(padding: int | Sequence[int] | str, kernel: tuple[int, int], stride: tuple[int, int],
          dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """IR pads (top, left, bottom, right) from an int, (ph, pw), (top, left, bottom, right) or "same"."""
    if padding == "same":
        if stride != (1, 1):
            raise DSLError(f'padding="same" needs stride 1, got {stride}; give the pads explicitly')
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    if isinstance(padding, str):
        raise DSLError(f'padding must be an int, a tuple or "same", not {padding!r}')
    if isinstance(padding, int) or len(padding) == 2:
        ph, pw = _pair(padding, "padding")
        return (ph, pw, ph, pw)
    if len(padding) == 4:
        return tuple(int(p) for p in padding)  # type: ignore[return-value]
    raise DSLError(f"padding takes 1, 2 or 4 ints, got {tuple(padding)}")


def conv2d(x: Tensor, w: Tensor, b: Tensor | None = None, *, stride: int | Sequence[int] = 1,
           padding: int | Sequence[int] | str = 0, dilation: int | Sequence[int] = 1, groups: int = 1) -> Tensor:
    """2-D convolution of x[N, C, H, W] with w[M, C/groups, kH, kW] (+ b[M])."""
    if w.shape is None or len(w.shape) != 4:
        raise DSLError(f"conv2d: weight %{w.name} must be 4-D (out, in/groups, kH, kW), got {w.value.type}")
    kernel = (int(w.shape[2]), int(w.shape[3]))
    strides, dilations = _pair(stride, "stride"), _pair(dilation, "dilation")
    inputs = [x, w] if b is None else [x, w, b]
    return _model_of(x, w).emit("conv", inputs, strides=strides, pads=_pads(padding, kernel, strides, dilations),
                                dilations=dilations, group=groups)


def max_pool2d(x: Tensor, kernel: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1, ceil_mode: bool = False) -> Tensor:
    """Max pooling over H, W; ``stride`` defaults to the kernel."""
    k = _pair(kernel, "kernel")
    s = _pair(stride if stride is not None else k, "stride")
    d = _pair(dilation, "dilation")
    return x.model.emit("max_pool", [x], kernel=k, strides=s, pads=_pads(padding, k, s, d),
                        dilations=d, ceil_mode=ceil_mode)


def avg_pool2d(x: Tensor, kernel: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False, count_include_pad: bool = False) -> Tensor:
    """Average pooling over H, W; ``stride`` defaults to the kernel."""
    k = _pair(kernel, "kernel")
    s = _pair(stride if stride is not None else k, "stride")
    return x.model.emit("avg_pool", [x], kernel=k, strides=s, pads=_pads(padding, k, s, (1, 1)),
                        ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def global_avg_pool(x: Tensor) -> Tensor:
    """Mean over every spatial axis, kept as size-1 dims (as ONNX GlobalAveragePool)."""
    if x.shape is None:
        raise DSLError(f"global_avg_pool: the rank of %{x.name} is unknown")
    return reduce_mean(x, tuple(range(2, len(x.shape))), keepdims=True)


def reduce_mean(x: Tensor, axes: Sequence[int] | None = None, keepdims: bool = True) -> Tensor:
    return x.model.emit("reduce_mean", [x], axes=None if axes is None else tuple(axes), keepdims=keepdims)


def batch_norm(x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor, eps: float = 1e-5) -> Tensor:
    """Inference batch normalization over axis 1."""
    return _model_of(x, scale).emit("batch_norm", [x, scale, bias, mean, var], epsilon=eps)


def layer_norm(x: Tensor, scale: Tensor, bias: Tensor | None = None, axis: int = -1, eps: float = 1e-5) -> Tensor:
    """Normalize over the axes from ``axis`` on, then scale and shift."""
    inputs = [x, scale] if bias is None else [x, scale, bias]
    return _model_of(x, scale).emit("layer_norm", inputs, axis=axis, epsilon=eps)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return x.model.emit("softmax", [x], axis=axis)


# ====================================================================== shape
def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """ONNX reshape: a 0 keeps the input dim, one -1 is inferred."""
    return x.model.emit("reshape", [x], shape=tuple(int(d) for d in shape), allowzero=False)


def flatten(x: Tensor, axis: int = 1) -> Tensor:
    """Collapse to 2-D at ``axis`` (as ONNX Flatten)."""
    if x.shape is None:
        return reshape(x, (0, -1) if axis == 1 else (1, -1))
    axis += len(x.shape) if axis < 0 else 0
    target: list[int] = []
    for j, group in enumerate((x.shape[:axis], x.shape[axis:])):
        if len(group) == 1 and j == 0:
            target.append(0)
        elif all(isinstance(d, int) for d in group):
            target.append(math.prod(group))  # type: ignore[arg-type]
        elif -1 in target:
            raise DSLError(f"flatten: cannot flatten {x.value.type} at axis {axis}: both halves have symbolic dims")
        else:
            target.append(-1)
    return reshape(x, target)


def transpose(x: Tensor, perm: Sequence[int]) -> Tensor:
    return x.model.emit("transpose", [x], perm=tuple(int(p) for p in perm))


def concat(tensors: Sequence[Tensor], axis: int) -> Tensor:
    return _model_of(*tensors).emit("concat", list(tensors), axis=axis)
