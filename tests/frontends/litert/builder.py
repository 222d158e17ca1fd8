"""Build one-operator TFLite flatbuffers with the ``tflite`` schema's generated builder functions (test helper)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
import tflite

_TYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
               np.dtype(np.int64): 4, np.dtype(np.int8): 9}


@dataclass
class T:
    """A tensor: name, shape, numpy dtype, constant data (None for a runtime tensor), quantization (scale, zp)."""

    name: str
    shape: tuple[int, ...]
    dtype: Any = np.float32
    data: np.ndarray | None = None
    quant: tuple[float, int] | None = None


def _fn(table: str, field: str) -> Any:
    return getattr(importlib.import_module(f"tflite.{table}"), f"{table}{field}")


def _vector(b: flatbuffers.Builder, table: str, field: str, values: list[int], kind: str = "Int32") -> int:
    _fn(table, f"Start{field}Vector")(b, len(values))
    for v in reversed(values):
        getattr(b, f"Prepend{kind}")(v)
    return b.EndVector()


def _table(b: flatbuffers.Builder, table: str, fields: dict[str, Any]) -> int:
    _fn(table, "Start")(b)
    for key, value in fields.items():
        _fn(table, f"Add{key}")(b, value)
    return _fn(table, "End")(b)


def one_op(op: str, inputs: list[T], outputs: list[T], options: tuple[str, dict[str, Any]] | None = None,
           version: int = 1, custom: str | None = None) -> bytes:
    """A model with one subgraph running ``op`` (a BuiltinOperator name, or CUSTOM with ``custom``)."""
    b = flatbuffers.Builder(1024)
    tensors = inputs + outputs
    buffers = [_table(b, "Buffer", {})]  # buffer 0 is the empty buffer by convention
    tensor_offsets = []
    for t in tensors:
        buffer_index = 0
        if t.data is not None:
            raw = np.ascontiguousarray(t.data, dtype=t.dtype).tobytes()
            data = b.CreateByteVector(raw)
            buffers.append(_table(b, "Buffer", {"Data": data}))
            buffer_index = len(buffers) - 1
        name = b.CreateString(t.name)
        shape = _vector(b, "Tensor", "Shape", list(t.shape))
        fields: dict[str, Any] = {"Shape": shape, "Type": _TYPE_CODES[np.dtype(t.dtype)], "Buffer": buffer_index, "Name": name}
        if t.quant is not None:
            scale = _vector(b, "QuantizationParameters", "Scale", [t.quant[0]], "Float32")
            zero = _vector(b, "QuantizationParameters", "ZeroPoint", [t.quant[1]], "Int64")
            fields["Quantization"] = _table(b, "QuantizationParameters", {"Scale": scale, "ZeroPoint": zero})
        tensor_offsets.append(_table(b, "Tensor", fields))
    code = getattr(tflite.BuiltinOperator, op if custom is None else "CUSTOM")
    code_fields: dict[str, Any] = {"DeprecatedBuiltinCode": min(code, 127), "BuiltinCode": code, "Version": version}
    if custom is not None:
        code_fields["CustomCode"] = b.CreateString(custom)
    opcode = _table(b, "OperatorCode", code_fields)
    runtime_inputs = [i for i, t in enumerate(inputs) if t.data is None]
    op_fields: dict[str, Any] = {"OpcodeIndex": 0,
                                 "Inputs": _vector(b, "Operator", "Inputs", list(range(len(inputs)))),
                                 "Outputs": _vector(b, "Operator", "Outputs", [len(inputs) + i for i in range(len(outputs))])}
    if options is not None:
        kind, values = options
        op_fields["BuiltinOptionsType"] = getattr(tflite.BuiltinOptions, kind)
        op_fields["BuiltinOptions"] = _table(b, kind, values)
    operator = _table(b, "Operator", op_fields)

    def offsets(table: str, field: str, items: list[int]) -> int:
        _fn(table, f"Start{field}Vector")(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    subgraph = _table(b, "SubGraph", {
        "Tensors": offsets("SubGraph", "Tensors", tensor_offsets),
        "Inputs": _vector(b, "SubGraph", "Inputs", runtime_inputs),
        "Outputs": _vector(b, "SubGraph", "Outputs", [len(inputs) + i for i in range(len(outputs))]),
        "Operators": offsets("SubGraph", "Operators", [operator]),
    })
    model = _table(b, "Model", {
        "Version": 3,
        "OperatorCodes": offsets("Model", "OperatorCodes", [opcode]),
        "Subgraphs": offsets("Model", "Subgraphs", [subgraph]),
        "Buffers": offsets("Model", "Buffers", buffers),
    })
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())
