"""A structure-aware mutator for ONNX models: protobuf-level edits a broken exporter or a damaged file produces,
and raw byte-level damage.

Every mutation is a function ``(rng, model) -> bytes`` taking a private copy of the model. Which mutation
a case gets, and every choice inside it, comes from the case's own seeded generator, so a case number
reproduces the same bytes on any machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto

Rng = np.random.Generator
Mutation = Callable[[Rng, onnx.ModelProto], bytes]

BAD_DIMS = (-7, -1, 0, 1, 3, 2**31 - 1, 2**31, 2**40, 2**62, -(2**62))
"""Dims a mutated file may claim: negative, zero, small, and sizes no machine can hold."""

BAD_INTS = (-(2**62), -(2**31), -1000, -2, -1, 0, 1, 2, 7, 1000, 2**31, 2**62)
BAD_FLOATS = (float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 1e30, -1e-30)
BAD_OPSETS = (-1, 0, 1, 5, 99, 10_000, 2**40)
BAD_ELEM_TYPES = (0, 1, 2, 3, 6, 7, 8, 9, 10, 16, 17, 23, 99, 2**20)


def _pick(rng: Rng, seq: list | tuple) -> object:
    return seq[int(rng.integers(len(seq)))]


def _value_names(model: onnx.ModelProto) -> list[str]:
    g = model.graph
    names = [v.name for v in g.input] + [t.name for t in g.initializer]
    names += [o for n in g.node for o in n.output if o]
    return names or ["x"]


def _all_value_infos(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    g = model.graph
    return [*g.input, *g.output, *g.value_info]


# ---------------------------------------------------------------- protobuf-level mutations
def wrong_dim(rng: Rng, model: onnx.ModelProto) -> bytes:
    """A declared dim becomes negative, zero, huge, symbolic, or is removed or added."""
    dims = [(vi, i) for vi in _all_value_infos(model) for i in range(len(vi.type.tensor_type.shape.dim))]
    if not dims:
        return model.SerializeToString()
    vi, i = _pick(rng, dims)  # type: ignore[misc]
    shape = vi.type.tensor_type.shape
    choice = int(rng.integers(4))
    if choice == 0:
        shape.dim[i].dim_value = int(_pick(rng, BAD_DIMS))  # type: ignore[arg-type]
    elif choice == 1:
        shape.dim[i].dim_param = str(_pick(rng, ("N", "", "?", "batch", "-1")))
    elif choice == 2:
        del shape.dim[i]
    else:
        shape.dim.add().dim_value = int(_pick(rng, BAD_DIMS))  # type: ignore[arg-type]
    return model.SerializeToString()


def wrong_initializer_dims(rng: Rng, model: onnx.ModelProto) -> bytes:
    """An initializer's dims no longer match its data (or are negative, zero, huge)."""
    inits = list(model.graph.initializer)
    if not inits:
        return wrong_dim(rng, model)
    t = _pick(rng, inits)
    if t.dims and rng.random() < 0.6:
        t.dims[int(rng.integers(len(t.dims)))] = int(_pick(rng, BAD_DIMS))  # type: ignore[arg-type]
    elif t.dims and rng.random() < 0.5:
        del t.dims[int(rng.integers(len(t.dims)))]
    else:
        t.dims.append(int(_pick(rng, BAD_DIMS)))  # type: ignore[arg-type]
    return model.SerializeToString()


def raw_data_length(rng: Rng, model: onnx.ModelProto) -> bytes:
    """A tensor's raw data is cut short, padded, or emptied; or its typed data list changes length."""
    tensors = list(model.graph.initializer) + _attribute_tensors(model)
    if not tensors:
        return wrong_dim(rng, model)
    t = _pick(rng, tensors)
    if t.raw_data:
        cut = int(rng.integers(len(t.raw_data) + 1))
        t.raw_data = t.raw_data[:cut] if rng.random() < 0.6 else t.raw_data + bytes(int(rng.integers(1, 9)))
        return model.SerializeToString()
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        data = getattr(t, field)
        if len(data):
            if rng.random() < 0.5:
                del data[int(rng.integers(len(data))):]
            else:
                data.append(data[0])
            return model.SerializeToString()
    t.raw_data = bytes(int(rng.integers(0, 64)))
    return model.SerializeToString()


def _attribute_tensors(model: onnx.ModelProto) -> list[TensorProto]:
    return [a.t for n in model.graph.node for a in n.attribute if a.type == AttributeProto.TENSOR]


def drop_initializer(rng: Rng, model: onnx.ModelProto) -> bytes:
    """An initializer disappears (its graph input, if any, stays declared or goes too)."""
    g = model.graph
    if not g.initializer:
        return drop_graph_input(rng, model)
    i = int(rng.integers(len(g.initializer)))
    name = g.initializer[i].name
    del g.initializer[i]
    if rng.random() < 0.5:
        keep = [vi for vi in g.input if vi.name != name]
        del g.input[:]
        g.input.extend(keep)
    return model.SerializeToString()


def drop_graph_input(rng: Rng, model: onnx.ModelProto) -> bytes:
    g = model.graph
    if g.input:
        del g.input[int(rng.integers(len(g.input)))]
    return model.SerializeToString()


def out_of_range_attribute(rng: Rng, model: onnx.ModelProto) -> bytes:
    """An attribute takes a value outside its range, the wrong kind, or disappears."""
    attrs = [(n, a) for n in model.graph.node for a in n.attribute]
    if not attrs:
        return rewire_edge(rng, model)
    node, a = _pick(rng, attrs)  # type: ignore[misc]
    name = a.name
    choice = int(rng.integers(5))
    if choice == 0:
        node.attribute.remove(a)
    elif a.type == AttributeProto.INT or choice == 1:
        a.Clear()
        a.name, a.type, a.i = name, AttributeProto.INT, int(_pick(rng, BAD_INTS))  # type: ignore[arg-type]
    elif a.type == AttributeProto.INTS and len(a.ints):
        _mutate_ints(rng, a)
    elif a.type == AttributeProto.FLOAT or choice == 2:
        a.Clear()
        a.name, a.type, a.f = name, AttributeProto.FLOAT, float(_pick(rng, BAD_FLOATS))  # type: ignore[arg-type]
    elif a.type == AttributeProto.STRING or choice == 3:
        a.Clear()
        a.name, a.type, a.s = name, AttributeProto.STRING, bytes(_pick(rng, (b"", b"\xff\xfe", b"NOTAMODE", b"a" * 300)))
    else:
        a.Clear()
        a.name, a.type = name, AttributeProto.INTS
        a.ints.extend(int(_pick(rng, BAD_INTS)) for _ in range(int(rng.integers(0, 6))))  # type: ignore[arg-type]
    return model.SerializeToString()


def _mutate_ints(rng: Rng, a: AttributeProto) -> None:
    choice = int(rng.integers(3))
    if choice == 0:
        a.ints[int(rng.integers(len(a.ints)))] = int(_pick(rng, BAD_INTS))  # type: ignore[arg-type]
    elif choice == 1:
        del a.ints[int(rng.integers(len(a.ints))):]
    else:
        a.ints.extend(int(_pick(rng, BAD_INTS)) for _ in range(int(rng.integers(1, 4))))  # type: ignore[arg-type]


def rewire_edge(rng: Rng, model: onnx.ModelProto) -> bytes:
    """A node input points at another value: any earlier one, a later one, its own output, or nothing defined."""
    nodes = [n for n in model.graph.node if n.input]
    if not nodes:
        return wrong_dtype(rng, model)
    node = _pick(rng, nodes)
    i = int(rng.integers(len(node.input)))
    choice = int(rng.integers(4))
    if choice == 0:
        node.input[i] = str(_pick(rng, _value_names(model)))
    elif choice == 1 and node.output:
        node.input[i] = node.output[0]  # a self-loop
    elif choice == 2:
        node.input[i] = "no_such_value" if rng.random() < 0.5 else ""
    else:
        later = [o for n in model.graph.node for o in n.output if o]
        node.input[i] = str(_pick(rng, later)) if later else ""
    return model.SerializeToString()


def cyclic_edges(rng: Rng, model: onnx.ModelProto) -> bytes:
    """Two nodes feed each other, or the node order is shuffled so that a value is used before it is made."""
    g = model.graph
    if len(g.node) >= 2 and rng.random() < 0.5:
        a, b = (int(x) for x in rng.choice(len(g.node), 2, replace=False))
        if g.node[a].input and g.node[b].output and g.node[b].input and g.node[a].output:
            g.node[a].input[0] = g.node[b].output[0]
            g.node[b].input[0] = g.node[a].output[0]
            return model.SerializeToString()
    order = list(g.node)
    rng.shuffle(order)  # type: ignore[arg-type]
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in order]
    del g.node[:]
    g.node.extend(copies)
    return model.SerializeToString()


def wrong_dtype(rng: Rng, model: onnx.ModelProto) -> bytes:
    """An input, output or initializer claims another element type (or one that does not exist)."""
    targets: list = [vi.type.tensor_type for vi in _all_value_infos(model)] + list(model.graph.initializer)
    targets += [a for n in model.graph.node for a in n.attribute if a.name in ("to", "dtype", "output_dtype")]
    if not targets:
        return bad_opset(rng, model)
    t = _pick(rng, targets)
    value = int(_pick(rng, BAD_ELEM_TYPES))  # type: ignore[arg-type]
    if isinstance(t, AttributeProto):
        t.i = value
    elif isinstance(t, TensorProto):
        t.data_type = value
    else:
        t.elem_type = value
    return model.SerializeToString()


def bad_opset(rng: Rng, model: onnx.ModelProto) -> bytes:
    """The opset import names a version that never existed, another domain, or goes missing."""
    choice = int(rng.integers(4))
    if choice == 0 and model.opset_import:
        model.opset_import[0].version = int(_pick(rng, BAD_OPSETS))  # type: ignore[arg-type]
    elif choice == 1 and model.opset_import:
        model.opset_import[0].domain = str(_pick(rng, ("com.example", "ai.onnx.ml", "ai.onnx")))
    elif choice == 2:
        model.ir_version = int(_pick(rng, (0, 1, 3, 99, 2**40)))  # type: ignore[arg-type]
    else:
        del model.opset_import[:]
    return model.SerializeToString()


def wrong_op(rng: Rng, model: onnx.ModelProto) -> bytes:
    """A node becomes another op (keeping its inputs and attributes), loses or gains inputs, or is dropped."""
    g = model.graph
    if not g.node:
        return bad_opset(rng, model)
    node = _pick(rng, list(g.node))
    choice = int(rng.integers(4))
    if choice == 0:
        others = sorted({n.op_type for n in g.node} | {"Reshape", "Gather", "Conv", "Concat", "Slice", "Expand", "Tile"})
        node.op_type = str(_pick(rng, others))
    elif choice == 1 and node.input:
        del node.input[int(rng.integers(len(node.input))):]
    elif choice == 2:
        node.input.append(str(_pick(rng, _value_names(model))))
    else:
        g.node.remove(node)
    return model.SerializeToString()


# ---------------------------------------------------------------- byte-level mutations
def flip_bytes(rng: Rng, model: onnx.ModelProto) -> bytes:
    data = bytearray(model.SerializeToString())
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(len(data)))
        data[i] ^= 1 << int(rng.integers(8)) if rng.random() < 0.7 else int(rng.integers(1, 256))
    return bytes(data)


def truncate(rng: Rng, model: onnx.ModelProto) -> bytes:
    data = model.SerializeToString()
    return data[: int(rng.integers(len(data)))]


def splice_bytes(rng: Rng, model: onnx.ModelProto) -> bytes:
    """Insert random bytes, or repeat a chunk of the file somewhere else."""
    data = model.SerializeToString()
    at = int(rng.integers(len(data) + 1))
    if rng.random() < 0.5:
        chunk = rng.integers(0, 256, int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
    else:
        start = int(rng.integers(len(data)))
        chunk = data[start: start + int(rng.integers(1, 65))]
    return data[:at] + chunk + data[at:]


STRUCTURAL: dict[str, Mutation] = {
    "wrong_dim": wrong_dim, "wrong_initializer_dims": wrong_initializer_dims, "raw_data_length": raw_data_length,
    "drop_initializer": drop_initializer, "drop_graph_input": drop_graph_input,
    "out_of_range_attribute": out_of_range_attribute, "rewire_edge": rewire_edge, "cyclic_edges": cyclic_edges,
    "wrong_dtype": wrong_dtype, "bad_opset": bad_opset, "wrong_op": wrong_op,
}
BYTE_LEVEL: dict[str, Mutation] = {"flip_bytes": flip_bytes, "truncate": truncate, "splice_bytes": splice_bytes}
ALL: dict[str, Mutation] = {**STRUCTURAL, **BYTE_LEVEL}


def mutate(rng: Rng, seed: bytes, *, byte_level_only: bool = False) -> tuple[str, bytes]:
    """One mutation of the serialized ``seed``, chosen by ``rng``: (its name, the mutated bytes).

    Structural mutations are applied 1-3 at a time (a damaged file rarely has exactly one fault).
    """
    table = BYTE_LEVEL if byte_level_only else ALL
    names = sorted(table)
    name = names[int(rng.integers(len(names)))]
    if name in BYTE_LEVEL:
        return name, table[name](rng, onnx.ModelProto.FromString(seed))
    data, applied = seed, []
    for _ in range(int(rng.integers(1, 4))):
        model = onnx.ModelProto.FromString(data)
        data = table[name](rng, model)
        applied.append(name)
        name = names[int(rng.integers(len(names)))]
        if name in BYTE_LEVEL:
            break
    return "+".join(applied), data
