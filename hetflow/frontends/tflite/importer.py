"""TFLite flatbuffer -> hetflow IR, operator by operator through the mapping table.

Layout: TFLite tensors are NHWC and the IR's conv and pool ops NCHW; mappings transpose at the op and
``TfliteCtx.nchw`` folds a transpose that undoes the previous one, so chains of convolutions stay NCHW.
Quantization: a quantized tensor (int8/uint8/int16/int32 with a scale) is carried as its dequantized float
value. Constants are dequantized at import; an op whose output is quantized rounds onto that tensor's grid
(what the integer kernel does), so results track LiteRT's to a quantization step; quantized graph inputs are
dequantized on entry and quantized outputs are quantized back on exit. Sparse constants are densified at import,
which makes the DENSIFY operator an identity.
"""

from __future__ import annotations

import inspect
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hetflow.frontends.table import attribute_names
from hetflow.frontends.tflite.context import TfliteCtx
from hetflow.frontends.tflite.table import TFLITE_TABLE
from hetflow.ir import DType, Graph, Value
from hetflow.ir.errors import HetflowError, ModelError, UnsupportedOpError
from hetflow.passes import run_passes

IMPORT_PASSES = ("constant_fold", "dce", "cse", "dce")

_TYPES = {0: DType.float32, 1: DType.float16, 2: DType.int32, 3: DType.uint8, 4: DType.int64, 6: DType.bool,
          7: DType.int16, 9: DType.int8, 10: DType.float64}
"""TFLite TensorType -> IR dtype (STRING, COMPLEX and the 4-bit types are not supported)."""

_CUSTOM = 32
"""BuiltinOperator.CUSTOM: the op is named by its custom_code."""

_PARSE_ERRORS = (IndexError, struct.error, ValueError, TypeError, UnicodeDecodeError, AttributeError)
"""What the flatbuffers accessors raise on a truncated or corrupt buffer."""


@dataclass(frozen=True)
class Quant:
    """A tensor's affine quantization: real = (q - zero_point) * scale, per tensor or along ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    dtype: DType

    def broadcast(self, rank: int) -> tuple[np.ndarray, np.ndarray]:
        shape = [1] * rank
        if self.scale.size > 1:
            shape[self.axis] = self.scale.size
        return self.scale.reshape(shape).astype(np.float32), self.zero_point.reshape(shape).astype(np.float32)

    @property
    def limits(self) -> tuple[float, float]:
        info = np.iinfo(self.dtype.numpy)
        return float(info.min), float(info.max)


def import_model(source: str | Path | bytes, *, passes: tuple[str, ...] = IMPORT_PASSES) -> Graph:
    """Import a TFLite model; one-line errors for a missing, truncated or corrupt file and for unsupported ops."""
    try:
        import tflite
    except ImportError:
        raise HetflowError('TFLite support is not installed: run `pip install -e ".[tflite]"`') from None
    where = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise ModelError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{where}: not a TFLite model (no TFL3 identifier at bytes 4..8); is the file truncated?")
    try:
        model = tflite.Model.GetRootAs(data, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"{where}: the TFLite model has no subgraph")
        graph = _Importer(tflite, model, where).run()
    except _PARSE_ERRORS as exc:
        raise ModelError(f"{where}: TFLite flatbuffer is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    return run_passes(graph, passes)


class _Importer:
    def __init__(self, tflite: Any, model: Any, where: str) -> None:
        self.tflite = tflite
        self.model = model
        self.where = where
        self.sub = model.Subgraphs(0)
        self.graph = Graph((self.sub.Name() or b"model").decode(errors="replace"))
        self.env: dict[int, Value] = {}
        self.ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.option_classes = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
        self.ctx = TfliteCtx(self.graph)

    def run(self) -> Graph:
        for i in range(self.sub.InputsLength()):
            self.add_input(self.sub.Inputs(i))
        for i in range(self.sub.OperatorsLength()):
            self.add_operator(i, self.sub.Operators(i))
        for i in range(self.sub.OutputsLength()):
            self.add_output(self.sub.Outputs(i))
        return self.graph

    # ------------------------------------------------------------------ tensors

    def tensor_name(self, index: int) -> str:
        return (self.sub.Tensors(index).Name() or f"t{index}".encode()).decode(errors="replace")

    def dtype(self, index: int) -> DType:
        t = self.sub.Tensors(index)
        try:
            return _TYPES[t.Type()]
        except KeyError:
            raise ModelError(f"{self.where}: tensor '{self.tensor_name(index)}' has unsupported type {t.Type()}") from None

    def shape(self, index: int) -> tuple[int | str, ...]:
        t = self.sub.Tensors(index)
        dims = [int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else [])]
        signature = [int(d) for d in (t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else dims)]
        return tuple("batch" if s == -1 and i == 0 else d for i, (d, s) in enumerate(zip(dims, signature)))

    def quant(self, index: int) -> Quant | None:
        q = self.sub.Tensors(index).Quantization()
        if q is None or q.ScaleLength() == 0 or self.dtype(index).is_float:
            return None
        zero = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength(), np.int64)
        return Quant(np.asarray(q.ScaleAsNumpy()), np.asarray(zero), int(q.QuantizedDimension()), self.dtype(index))

    def constant(self, index: int) -> Value | None:
        t = self.sub.Tensors(index)
        buffer = self.model.Buffers(t.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            return None
        dtype = self.dtype(index)
        shape = [int(d) for d in (t.ShapeAsNumpy() if t.ShapeLength() else [])]
        values = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype.numpy)
        sparsity = t.Sparsity()
        array = values.reshape(shape) if sparsity is None else self.densify(index, sparsity, values, shape)
        quant = self.quant(index)
        if quant is not None:
            scale, zero = quant.broadcast(array.ndim)
            array = ((array.astype(np.float32) - zero) * scale).astype(np.float32)
        return self.graph.constant(array, name=_ir_name(self.tensor_name(index)))

    def densify(self, index: int, sparsity: Any, values: np.ndarray, shape: list[int]) -> np.ndarray:
        """The dense array of a sparse constant (TFLite's DENSE / SPARSE_CSR levels in traversal order).

        Each level either walks all of a dense dim or, for CSR, the stored coordinates of the current
        segment; a leaf's position in the walk is its index into the stored values. Block-sparse tensors
        (a block map) are refused with a one-line error.
        """
        if sparsity.BlockMapLength():
            raise ModelError(f"{self.where}: tensor '{self.tensor_name(index)}' is block-sparse; not supported")
        order = [int(d) for d in sparsity.TraversalOrderAsNumpy()]
        levels = [self.level(sparsity.DimMetadata(i)) for i in range(sparsity.DimMetadataLength())]
        dense = np.zeros(shape, dtype=values.dtype)
        coords = [0] * len(shape)

        def walk(level: int, position: int) -> None:
            if level == len(levels):
                dense[tuple(coords)] = values[position]
                return
            dense_size, segments, indices = levels[level]
            if segments is None:
                for i in range(dense_size):
                    coords[order[level]] = i
                    walk(level + 1, position * dense_size + i)
                return
            for k in range(int(segments[position]), int(segments[position + 1])):
                coords[order[level]] = int(indices[k])
                walk(level + 1, k)

        walk(0, 0)
        return dense

    def level(self, meta: Any) -> tuple[int, np.ndarray | None, np.ndarray | None]:
        """(dense size, CSR segments, CSR indices) of one sparsity level."""
        if meta.Format() == 0:
            return int(meta.DenseSize()), None, None
        return 0, self.index_vector(meta.ArraySegmentsType(), meta.ArraySegments()), \
            self.index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())

    def index_vector(self, kind: int, table: Any) -> np.ndarray:
        classes = {1: self.tflite.Int32Vector, 2: self.tflite.Uint16Vector, 3: self.tflite.Uint8Vector}
        vector = classes[kind]()
        vector.Init(table.Bytes, table.Pos)
        return np.asarray(vector.ValuesAsNumpy())

    def value(self, index: int) -> Value | None:
        if index < 0:
            return None
        if index not in self.env:
            const = self.constant(index)
            if const is None:
                raise ModelError(f"{self.where}: tensor '{self.tensor_name(index)}' is read before any operator writes it")
            self.env[index] = const
        return self.env[index]

    def add_input(self, index: int) -> None:
        name = _ir_name(self.tensor_name(index))
        value = self.graph.add_input(name, self.dtype(index), self.shape(index))
        quant = self.quant(index)
        self.env[index] = self.ctx.dequantize(value, quant) if quant is not None else value

    def add_output(self, index: int) -> None:
        value = self.value(index)
        quant = self.quant(index)
        if quant is not None:
            value = self.ctx.quantize(value, quant)
        name = _ir_name(self.tensor_name(index))
        fresh = value.producer is not None and all(v is not value for v in self.graph.outputs)
        if fresh and (value.name == name or self.graph.rename(value, name)):
            self.graph.outputs.append(value)
        else:
            self.graph.outputs.append(self.graph.add_node("identity", [value], name=name, output_names=[name]).outputs[0])

    # ------------------------------------------------------------------ operators

    def op_name(self, op: Any) -> tuple[str, int]:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == _CUSTOM:
            custom = (code.CustomCode() or b"?").decode(errors="replace")
            raise UnsupportedOpError(f"{self.where}: custom op '{custom}' is not supported (only TFLite builtin "
                                     f"operators are; run `{TFLITE_TABLE.listing}` for the list)")
        return self.ops.get(builtin, f"builtin#{builtin}"), int(code.Version())

    def add_operator(self, i: int, op: Any) -> None:
        name, version = self.op_name(op)
        outputs = [int(op.Outputs(j)) for j in range(op.OutputsLength())]
        label = self.tensor_name(outputs[0]) if outputs else f"op{i}"
        here = f"{self.where}: operator {i} '{label}' ({name})"
        mapping = TFLITE_TABLE.lookup(name, "", version, here)
        inputs = [self.value(int(op.Inputs(j))) for j in range(op.InputsLength())]
        while inputs and inputs[-1] is None:
            inputs.pop()
        attrs = self.options(op, here, attribute_names(mapping.fn))
        self.ctx.node_name, self.ctx.op_type = f"{_ir_name(label)}.{name.lower()}", name  # tensor names stay free for outputs
        self.ctx.out_quant = [self.quant(o) for o in outputs]
        try:
            inspect.signature(mapping.fn).bind(self.ctx, *inputs, **attrs)
        except TypeError as exc:
            raise ModelError(f"{here}: wrong inputs ({len(inputs)}): {exc}") from None
        try:
            result = mapping.fn(self.ctx, *inputs, **attrs)
        except HetflowError as exc:
            exc.args = (f"{self.where}: operator {i}: {exc}",)
            raise
        results = result if isinstance(result, (list, tuple)) else [result]
        for index, value, quant in zip(outputs, results, self.ctx.out_quant):
            if quant is not None:  # the integer kernel's output lands on this tensor's grid
                value = self.ctx.dequantize(self.ctx.quantize(value, quant), quant)
            if value.producer is not None:
                self.graph.rename(value, _ir_name(self.tensor_name(index)))
            self.env[index] = value

    def options(self, op: Any, here: str, accepted: set[str]) -> dict[str, Any]:
        """The operator's builtin options as snake_case keywords; a set option the mapping lacks is an error."""
        table = op.BuiltinOptions()
        if table is None:
            return {}
        class_name = self.option_classes.get(op.BuiltinOptionsType())
        cls = getattr(self.tflite, class_name or "", None)
        if cls is None:
            return {}
        options = cls()
        options.Init(table.Bytes, table.Pos)
        found: dict[str, Any] = {}
        for field, getter in _option_getters(cls):
            value = getter(options)
            key = _snake(field)
            if key in accepted:
                found[key] = value.tolist() if isinstance(value, np.ndarray) else value
            elif _is_set(value):
                raise ModelError(f"{here}: option {key}={value!r} is not supported by hetflow's mapping")
        return found


def _option_getters(cls: type) -> list[tuple[str, Any]]:
    """(field, getter) for each field of a generated options class: scalars, and vectors as numpy arrays."""
    getters = []
    for attr, fn in vars(cls).items():
        if not attr[:1].isupper() or attr in ("Init", "GetRootAs") or attr.startswith("GetRootAs"):
            continue
        if attr.endswith(("Length", "IsNone", "BufferHasIdentifier")):
            continue
        params = list(inspect.signature(fn).parameters)
        if attr.endswith("AsNumpy"):
            getters.append((attr[: -len("AsNumpy")], fn))
        elif params == ["self"]:
            getters.append((attr, fn))
    return getters


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _is_set(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.size > 0
    return bool(value)


def _ir_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) or "t"
