"""Lowering a quantized IR graph to an NVDLA loadable: engine ops, weights padded to the atoms, convolution
splits, and memory planning.

Every node is checked against the configuration's feature matrix before anything is lowered. Then:

* ``conv_integer`` / ``matmul_integer`` -> a CONV op whose accumulators stream into the SDP op of the
  ``requantize`` that must follow it (NVDLA's convolution pipeline always ends in the SDP);
* ``requantize`` -> SDP (bias, per-channel multiplier and shift, ReLU); ``qadd`` -> SDP element-wise;
  ``relu`` -> SDP; ``max_pool`` -> PDP, fed on the fly by the SDP when it is that SDP's only reader;
* ``concat`` along channels -> no op: its producers write into channel slices of one surface;
* ``reshape`` flattening a cube to ``[N, C*H*W]`` -> no op: a view of the same bytes;
* float16 ``conv`` / ``relu`` / ``add`` / ``max_pool`` (``passes/half.py``) -> CONV + SDP / SDP / SDP / PDP in
  fp16 mode, on configurations with fp16.

Weights are stored ``[Kp, Cp, R, S]``, padded with zeros to the atomic K and atomic C; a convolution that does
not fit the convolution buffer is split as the performance model plans it (``perf.plan_split``): along K into
kernel groups when the weights are the operand that streams, or into chunks of output rows (each with its halo
of input rows) when the features are.
Feature surfaces are int8 NCHW with channels padded to the memory atom, placed first-fit by liveness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hetflow.backends.nvdla import engines, table
from hetflow.backends.nvdla.hw import NvdlaConfig
from hetflow.backends.nvdla.loadable import ITEMSIZE, VERSION, Loadable, MemoryDesc, OpDesc, TensorDesc
from hetflow.backends.nvdla.perf import ConvShape, ConvSplit, plan_split
from hetflow.ir import Graph, Node, Value
from hetflow.ir.errors import HetflowError, UnsupportedOpError
from hetflow.ir.subgraph import escaping_values, extract


class NvdlaLoweringError(HetflowError):
    """A graph NVDLA cannot run: the node, the op and why."""


class NvdlaUnsupportedError(NvdlaLoweringError, UnsupportedOpError):
    """A node no engine of this configuration runs."""


@dataclass
class _Builder:
    graph: Graph
    config: NvdlaConfig
    ops: list[OpDesc] = field(default_factory=list)
    blobs: dict[str, np.ndarray] = field(default_factory=dict)
    producer: dict[str, int] = field(default_factory=dict)  # tensor name -> op writing it
    alias: dict[str, tuple[str, int]] = field(default_factory=dict)  # tensor -> (concat surface, channel offset)
    streamed: dict[int, int] = field(default_factory=dict)  # id(value) -> op whose output streams it
    fused: set[int] = field(default_factory=set)  # ids of nodes already lowered into an earlier op
    extra: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # surfaces no IR value names
    views: dict[str, str] = field(default_factory=dict)  # flattened tensor -> the cube whose bytes it is

    def add(self, engine: str, name: str, nodes: list[Node], inputs: list[str], output: str | None,
            params: dict, blobs: dict[str, np.ndarray] | None = None, fused_parent: int | None = None) -> int:
        op_id = len(self.ops)
        keys = []
        for key, array in (blobs or {}).items():
            self.blobs[f"op{op_id}.{key}"] = array
            keys.append(f"op{op_id}.{key}")
        self.ops.append(OpDesc(id=op_id, engine=engine, name=name, nodes=[n.name for n in nodes], inputs=inputs,
                               output=output, params=params, blobs=keys, dependency_count=0, consumers=[],
                               fused_parent=fused_parent))
        if output is not None:
            self.producer[output] = op_id
        return op_id


def check_graph(graph: Graph, config: NvdlaConfig) -> None:
    """Raise NvdlaUnsupportedError for the first node this configuration cannot run, naming node and op."""
    for node in graph.nodes:
        why = table.supports_on(node, config)
        if why is not None:
            raise NvdlaUnsupportedError(f"node {node.name!r} ({node.op}) cannot run on NVDLA: {why}")


def lower(graph: Graph, config: NvdlaConfig) -> tuple[Loadable, dict[str, np.ndarray]]:
    """The loadable and weight blobs of ``graph`` (quantized, every node NVDLA-capable) for ``config``."""
    check_graph(graph, config)
    b = _Builder(graph, config)
    users = graph.users()
    outputs = {id(v) for v in graph.outputs}
    for node in graph.nodes:
        if id(node) not in b.fused:
            _LOWER[node.op](b, node, users, outputs)
    _link(b)
    return _plan_memory(b), b.blobs


def _single_user(v: Value, users: dict[int, list[Node]], outputs: set[int], op: str) -> Node | None:
    us = users.get(id(v), [])
    return us[0] if len(us) == 1 and us[0].op == op and id(v) not in outputs else None


def _conv_like(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    acc = node.outputs[0]
    fused_rescale = node.op.endswith("_requant")
    if not fused_rescale and _single_user(acc, users, outputs, "requantize") is None:
        raise NvdlaLoweringError(f"node {node.name!r} ({node.op}): its int32 accumulators must feed one requantize "
                                 f"(the SDP); NVDLA's convolution pipeline does not write int32 to memory")
    x, w = node.inputs[0], node.inputs[1].const  # type: ignore[union-attr]
    if node.op.startswith("matmul"):  # [C, K] -> 1x1 kernels [K, C, 1, 1]
        w = w.T.reshape(w.shape[1], w.shape[0], 1, 1)
        attrs = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)}
    else:
        attrs = {k: tuple(node.attrs[k]) for k in ("strides", "pads", "dilations")}
    op = _conv_op(b, node, x, w, attrs, tuple(_dims(acc)[2:]))  # type: ignore[arg-type]
    b.streamed[id(acc)] = op
    if fused_rescale:
        _sdp(b, node, node.inputs[2:5], op, users, outputs)


def _conv_op(b: _Builder, node: Node, x: Value, w: np.ndarray, attrs: dict, out_hw: tuple[int, int]) -> int:
    """The CONV op of int8 (or float16) kernels ``w [K, C, R, S]`` over ``x``: weights padded to the int8 atoms
    (a multiple of fp16's too), split to fit."""
    cfg = b.config
    k, c, r, s = w.shape
    kp, cp = engines.pad_to(k, cfg.atomic_k), engines.pad_to(c, cfg.atomic_c)
    wp = np.zeros((kp, cp, r, s), w.dtype)
    wp[:k, :c] = w
    half = w.dtype == np.float16
    split = _split(node, x, out_hw, k, r, s, attrs, cfg, 2 if half else 1)
    params = {**{k_: list(v) for k_, v in attrs.items()}, "kernels": k, "channels": c, "padded": [kp, cp],
              "kernel_size": [r, s], "split": split.mode, "k_splits": [list(t) for t in split.k_groups],
              "row_chunks": [list(t) for t in split.row_chunks], "winograd": _winograd(cfg, r, s, attrs)}
    if half:
        params["precision"] = "fp16"
    return b.add("CONV", node.name, [node], [_surface(b, x)], None, params, {"weights": wp})


def _conv_half(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    """A float16 convolution: CONV in fp16 mode, then the SDP adds the bias in float32 (and a following ReLU) and
    rounds to float16; a following max pool rides on the fly into the PDP."""
    x, out = node.inputs[0], node.outputs[0]
    attrs = {k: tuple(node.attrs[k]) for k in ("strides", "pads", "dilations")}
    op = _conv_op(b, node, x, np.asarray(node.inputs[1].const), attrs, tuple(_dims(out)[2:]))  # type: ignore[arg-type, union-attr]
    nodes = [node]
    relu = _single_user(out, users, outputs, "relu")
    if relu is not None and table.supports_on(relu, b.config) is None:
        nodes.append(relu)
        b.fused.add(id(relu))
        out = relu.outputs[0]
    pool = _single_user(out, users, outputs, "max_pool")
    fused_pool = pool is not None and table.supports_on(pool, b.config) is None
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    blobs = {} if bias is None else {"bias": np.asarray(bias.const, np.float16).reshape(-1)}
    sdp = b.add("SDP", f"{node.name}/sdp", nodes, [], None if fused_pool else _surface(b, out),
                {"mode": "bs", "relu": len(nodes) > 1, "precision": "fp16"}, blobs, fused_parent=op)
    if fused_pool:
        b.streamed[id(out)] = sdp


def _add_half(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    """A float16 sum (a residual): the SDP's element-wise unit, a following ReLU in the same pass."""
    out, nodes = node.outputs[0], [node]
    relu = _single_user(out, users, outputs, "relu")
    if relu is not None and table.supports_on(relu, b.config) is None:
        nodes.append(relu)
        b.fused.add(id(relu))
        out = relu.outputs[0]
    b.add("SDP", node.name, nodes, [_surface(b, v) for v in node.inputs], _surface(b, out),  # type: ignore[arg-type]
          {"mode": "ew", "relu": len(nodes) > 1, "precision": "fp16"})


def _winograd(cfg: NvdlaConfig, r: int, s: int, attrs: dict) -> bool:
    """NVDLA's Winograd mode runs 3x3, stride-1, undilated convolutions on builds that have it."""
    return cfg.winograd and (r, s) == (3, 3) and attrs["strides"] == (1, 1) and attrs["dilations"] == (1, 1)


def _split(node: Node, x: Value, out_hw: tuple[int, int], k: int, r: int, s: int, attrs: dict,
           cfg: NvdlaConfig, element_bytes: int = 1) -> ConvSplit:
    """The performance model's split of this convolution (kernel groups or output-row chunks), refused when even
    its smallest piece does not fit the buffer."""
    n, c, h, w = _dims(x)
    p, q = out_hw
    shape = ConvShape(n, c, h, w, k, r, s, attrs["strides"], (p, q), (p, q), pad_top=attrs["pads"][0],
                      dilation=attrs["dilations"][0], element_bytes=element_bytes)
    split = plan_split(shape, cfg)
    if split.overflow:
        what = "one kernel group beside one band of input rows" if split.mode == "weights" \
            else "one output row's input rows beside one kernel group"
        raise NvdlaLoweringError(f"node {node.name!r} ({node.op}): {what} does not fit the {cfg.cbuf_bytes} B "
                                 f"convolution buffer of {cfg.name}")
    return split


def _requantize(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    acc = node.inputs[0]
    if id(acc) not in b.streamed:  # type: ignore[arg-type]
        raise NvdlaLoweringError(f"node {node.name!r} (requantize): its input must come from a CONV "
                                 f"(conv_integer or matmul_integer) in the same NVDLA program")
    _sdp(b, node, node.inputs[1:4], b.streamed[id(acc)], users, outputs)  # type: ignore[arg-type]


def _sdp(b: _Builder, node: Node, rescale: list[Value | None], parent: int, users: dict[int, list[Node]],
         outputs: set[int]) -> None:
    """The SDP op behind CONV op ``parent``: bias, multiplier, shift, ReLU; a following max pool rides on the fly
    into the PDP, or a following residual sum into the SDP's element-wise stage."""
    bias, mult, shift = (v.const if v is not None else None for v in rescale)
    out = node.outputs[0]
    pool = _single_user(out, users, outputs, "max_pool")
    fused_pool = pool is not None and table.supports_on(pool, b.config) is None
    add = _single_user(out, users, outputs, "qadd")
    params: dict = {"relu": bool(node.attrs["relu"]), "mode": "bs"}
    blobs = {"multiplier": np.asarray(mult, np.int32), "shift": np.asarray(shift, np.int32)}
    if bias is not None:
        blobs["bias"] = np.asarray(bias, np.int32)
    nodes, inputs, target = [node], [], out
    other = None if add is None else add.inputs[1] if add.inputs[0] is out else add.inputs[0]
    if not fused_pool and add is not None and id(add) not in b.fused and table.supports_on(add, b.config) is None \
            and (other.name in b.producer or other.producer is None):  # type: ignore[union-attr]
        # The residual sum rides in the same SDP pass (BS stage, then EW stage), as NVDLA fuses conv + eltwise;
        # only once its other operand is in memory already (else the conv producing that operand takes the sum).
        mine = 0 if add.inputs[0] is out else 1
        a = add.attrs
        params["ew"] = {"operand": mine, "a_multiplier": a["a_multiplier"], "b_multiplier": a["b_multiplier"],
                        "shift": a["shift"], "relu": bool(a["relu"])}
        nodes, inputs, target = [node, add], [_surface(b, add.inputs[1 - mine])], add.outputs[0]  # type: ignore[arg-type]
        b.fused.add(id(add))
    op = b.add("SDP", f"{node.name}/sdp", nodes, inputs, None if fused_pool else _surface(b, target), params, blobs,
               fused_parent=parent)
    if fused_pool:
        b.streamed[id(out)] = op


def _qadd(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    a = node.attrs
    b.add("SDP", node.name, [node], [_surface(b, v) for v in node.inputs], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
          {"mode": "ew", "a_multiplier": a["a_multiplier"], "b_multiplier": a["b_multiplier"], "shift": a["shift"],
           "relu": bool(a["relu"])})


def _relu(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    if table.computes_half(node):
        b.add("SDP", node.name, [node], [_surface(b, node.inputs[0])], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
              {"mode": "bs", "relu": True, "precision": "fp16"})
        return
    b.add("SDP", node.name, [node], [_surface(b, node.inputs[0])], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
          {"mode": "bs", "relu": True}, {"multiplier": np.ones(1, np.int32), "shift": np.zeros(1, np.int32)})


def _max_pool(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    x = node.inputs[0]
    parent = b.streamed.get(id(x))  # type: ignore[arg-type]
    a = node.attrs
    b.add("PDP", node.name, [node], [] if parent is not None else [_surface(b, x)], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
          {"method": "max", "kernel": list(a["kernel"]), "strides": list(a["strides"]), "pads": list(a["pads"])},
          fused_parent=parent)


def _deconv(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    """A transposed convolution as NVIDIA's compiler lowers it: one CONV computing the ``s x s`` output phases as
    ``M * s * s`` channels (each phase a stride-1 convolution by the flipped taps of the kernel that land on it),
    its SDP rescale, then a RUBIK contract moving the phases into space and keeping the window the pads leave.
    Stride 1 needs no RUBIK: the flipped kernel with the complementary padding is the whole answer."""
    x, out = node.inputs[0], node.outputs[0]
    w = node.inputs[1].const  # type: ignore[union-attr]
    st = node.attrs["strides"][0]
    pads = node.attrs["pads"]
    cin, m, kh, kw = w.shape
    th, tw = -(-kh // st), -(-kw // st)
    wpad = np.zeros((cin, m, th * st, tw * st), np.int8)
    wpad[:, :, :kh, :kw] = w
    # phase (a, b), tap (u, v) of output channel o: wpad[c, o, a + (th-1-u)*st, b + (tw-1-v)*st], channels o-major
    phases = wpad.reshape(cin, m, th, st, tw, st)[:, :, ::-1, :, ::-1, :].transpose(1, 3, 5, 0, 2, 4)
    wk = np.ascontiguousarray(phases.reshape(m * st * st, cin, th, tw))
    n, _, h, wd = _dims(x)  # type: ignore[arg-type]
    rescale = node.inputs[2:5]
    if st == 1:
        conv_pads = (kh - 1 - pads[0], kw - 1 - pads[1], kh - 1 - pads[2], kw - 1 - pads[3])
        attrs = {"strides": (1, 1), "pads": conv_pads, "dilations": (1, 1)}
        op = _conv_op(b, node, x, wk, attrs, tuple(_dims(out)[2:]))  # type: ignore[arg-type]
        b.streamed[id(out)] = op
        _sdp(b, node, rescale, op, users, outputs)
        return
    attrs = {"strides": (1, 1), "pads": (th - 1, tw - 1, th - 1, tw - 1), "dilations": (1, 1)}
    mid = f"{node.name}/phases"
    b.extra[mid] = (n, m * st * st, h + th - 1, wd + tw - 1)
    op = _conv_op(b, node, x, wk, attrs, b.extra[mid][2:])  # type: ignore[arg-type]
    bias, mult, shift = (None if v is None else np.broadcast_to(np.asarray(v.const).reshape(-1), (m,)) for v in rescale)
    blobs = {"multiplier": np.repeat(mult, st * st).astype(np.int32), "shift": np.repeat(shift, st * st).astype(np.int32)}
    if bias is not None:
        blobs["bias"] = np.repeat(bias, st * st).astype(np.int32)
    b.add("SDP", f"{node.name}/sdp", [node], [], mid, {"relu": bool(node.attrs["relu"]), "mode": "bs"}, blobs,
          fused_parent=op)
    b.add("RUBIK", f"{node.name}/contract", [node], [mid], _surface(b, out),
          {"mode": "contract", "blocksize": st, "order": "CRD", "crop": [pads[0], pads[1]]})


def _depth_to_space(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    a = node.attrs
    b.add("RUBIK", node.name, [node], [_surface(b, node.inputs[0])], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
          {"mode": "contract", "blocksize": a["blocksize"], "order": a["mode"], "crop": [0, 0]})


def _qlrn(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    a = node.attrs
    b.add("CDP", node.name, [node], [_surface(b, node.inputs[0])], _surface(b, node.outputs[0]),  # type: ignore[arg-type]
          {"method": "lrn", "size": a["size"], "index_shift": a["index_shift"], "multiplier": a["multiplier"],
           "shift": a["shift"]}, {"lut": np.asarray(node.inputs[1].const, np.int16)})  # type: ignore[union-attr]


def _concat(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    out = _surface(b, node.outputs[0])
    offset = 0
    for v in node.inputs:
        name = _surface(b, v)  # type: ignore[arg-type]
        if name in b.alias or (name not in b.producer and v.producer is not None):  # type: ignore[union-attr]
            raise NvdlaLoweringError(f"node {node.name!r} (concat): operand %{name} is written neither by an NVDLA "
                                     f"op nor by the host, so nothing can place it in the concatenation")
        b.alias[name] = (out, offset)
        offset += v.type.shape[1]  # type: ignore[union-attr, index]


def _flatten(b: _Builder, node: Node, users: dict[int, list[Node]], outputs: set[int]) -> None:
    """``[N, C, H, W] -> [N, C*H*W]``: no op. A cube's planes are contiguous within an image (channel padding only
    lengthens the image stride), so the flat tensor is a view of the same bytes, read as ``C*H*W`` channels of 1x1."""
    b.views[_surface(b, node.outputs[0])] = _surface(b, node.inputs[0])  # type: ignore[arg-type]


_LOWER = {"conv_integer": _conv_like, "matmul_integer": _conv_like, "conv_requant": _conv_like,
          "matmul_requant": _conv_like, "requantize": _requantize, "qadd": _qadd,
          "relu": _relu, "max_pool": _max_pool, "qlrn": _qlrn, "concat": _concat,
          "conv_transpose_requant": _deconv, "depth_to_space": _depth_to_space, "conv": _conv_half,
          "add": _add_half, "reshape": _flatten}


def _surface(b: _Builder, v: Value) -> str:
    return v.name


def _link(b: _Builder) -> None:
    """Dependencies: an op depends on the producers of what it reads and on its fused parent."""
    writers: dict[str, set[int]] = {t: {p} for t, p in b.producer.items()}
    for t, (root, _) in b.alias.items():
        writers.setdefault(root, set()).update({b.producer[t]} if t in b.producer else set())  # else: the host
    for t, base in b.views.items():
        writers[t] = writers.get(base, set())
    for op in b.ops:
        parents = {p for t in op.inputs for p in writers.get(t, ())}
        if op.fused_parent is not None:
            parents.add(op.fused_parent)
        for p in sorted(parents):
            b.ops[p].consumers.append(op.id)
        op.dependency_count = len(parents)
    head: dict[int, int] = {}
    for op in b.ops:  # the command stream is issued in order: nothing may wait on a later pipeline
        head[op.id] = head[op.fused_parent] if op.fused_parent is not None else op.id
        late = [c for c in op.consumers if head.get(c, c) < head[op.id] and c != op.id]
        if late:
            raise NvdlaLoweringError(f"op {op.id} ({op.name}) feeds op {late[0]}, which issues before it")


def _dims(v: Value) -> tuple[int, int, int, int]:
    shape = tuple(v.type.shape)  # type: ignore[arg-type]
    return shape + (1,) * (4 - len(shape))  # type: ignore[return-value]


def _plan_memory(b: _Builder) -> Loadable:
    """Place every surface first-fit in one DRAM region by liveness (op index of first write to last read)."""
    values = {v.name: v for v in b.graph.values()}
    names = [t for t in _surface_names(b) if t not in b.alias and t not in b.views]
    last = len(b.ops)
    live: dict[str, list[int]] = {}
    for t in names:
        live[t] = [0 if t in _graph_inputs(b) else last, last if t in _graph_outputs(b) else 0]
    for t in [*b.alias, *b.views]:  # the host writes an input straight into its slice before the run
        if t in _graph_inputs(b):
            live[_root(b, t)][0] = 0
        if t in _graph_outputs(b):
            live[_root(b, t)][1] = last
    head: dict[int, int] = {}  # a fused op runs when the op heading its pipeline does
    for op in b.ops:
        head[op.id] = head[op.fused_parent] if op.fused_parent is not None else op.id
    for op in b.ops:
        for t in op.inputs + ([op.output] if op.output else []):
            root = _root(b, t)
            live[root][0] = min(live[root][0], head[op.id], op.id)
            live[root][1] = max(live[root][1], head[op.id], op.id)
    dims = {**{t: _dims(v) for t, v in values.items()}, **b.extra}
    dtypes = {t: values[t].type.dtype.value if t in values else "int8" for t in dims}
    sizes = {t: _bytes(dims[t], b.config) * ITEMSIZE[dtypes[t]] for t in names}
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    offsets: dict[str, int] = {}
    for t in sorted(names, key=lambda n: -sizes[n]):
        first, end = live[t]
        offset = 0
        for o, sz, f, e in sorted(placed):
            overlaps_time = not (end < f or e < first)
            if overlaps_time and offset + sizes[t] > o and offset < o + sz:
                offset = o + sz
        offsets[t] = offset
        placed.append((offset, sizes[t], first, end))
    tensors = [_desc(t, dims[t], offsets[t], b.config, dtypes[t]) for t in names]
    for t, (root, c0) in b.alias.items():
        parent = next(d for d in tensors if d.name == root)
        tensors.append(TensorDesc(name=t, memory=0, offset=parent.offset + c0 * parent.channel_stride,
                                  dims=_dims(values[t]), channel_stride=parent.channel_stride,
                                  batch_stride=parent.batch_stride, dtype=parent.dtype))
    for t, base in b.views.items():
        parent = next(d for d in tensors if d.name == base)
        n, chw = _dims(values[t])[:2]
        tensors.append(TensorDesc(name=t, memory=0, offset=parent.offset, dims=(n, chw, 1, 1),
                                  channel_stride=parent.itemsize, batch_stride=parent.batch_stride, dtype=parent.dtype))
    size = max((o + sz for o, sz, _, _ in placed), default=0)
    weights = sum(a.nbytes for a in b.blobs.values())
    cfg = b.config
    return Loadable(version=VERSION, config={"name": cfg.name, "atomic_c": cfg.atomic_c, "atomic_k": cfg.atomic_k,
                                             "memory_atomic": cfg.memory_atomic, "cbuf_bytes": cfg.cbuf_bytes},
                    memory=[MemoryDesc(id=0, kind="dram", size=size), MemoryDesc(id=1, kind="weights", size=weights)],
                    tensors=tensors, ops=b.ops, inputs=sorted(_graph_inputs(b)), outputs=[v.name for v in b.graph.outputs])


def _root(b: _Builder, t: str) -> str:
    """The placed surface whose bytes tensor ``t`` is: itself, or what it is a view or a concatenated slice of."""
    t = b.views.get(t, t)
    return b.alias.get(t, (t, 0))[0]


def _surface_names(b: _Builder) -> list[str]:
    seen: dict[str, None] = {}
    for t in [*_graph_inputs(b), *(t for op in b.ops for t in op.inputs), *(op.output for op in b.ops if op.output)]:
        seen[t] = None
    for root, _ in b.alias.values():
        seen[root] = None
    for base in b.views.values():
        seen[base] = None
    return list(seen)


def _graph_inputs(b: _Builder) -> set[str]:
    return {v.name for v in b.graph.inputs}


def _graph_outputs(b: _Builder) -> set[str]:
    return {v.name for v in b.graph.outputs}


def _desc(name: str, dims: tuple[int, int, int, int], offset: int, cfg: NvdlaConfig, dtype: str) -> TensorDesc:
    n, c, h, w = dims
    size = ITEMSIZE[dtype]
    return TensorDesc(name=name, memory=0, offset=offset, dims=(n, c, h, w), channel_stride=h * w * size,
                      batch_stride=engines.pad_to(c, cfg.memory_atomic) * h * w * size, dtype=dtype)


def _bytes(dims: tuple[int, int, int, int], cfg: NvdlaConfig) -> int:
    n, c, h, w = dims
    return n * engines.pad_to(c, cfg.memory_atomic) * h * w


def nvdla_part(graph: Graph, config: NvdlaConfig) -> Graph:
    """The nodes of ``graph`` this configuration can run, as one standalone graph (values made by other nodes
    become its inputs; values other nodes or the graph read become its outputs): what a placement that puts
    every capable node on the NVDLA would give it, for performance sweeps without a cluster."""
    keep = [n for n in graph.nodes if table.supports_on(n, config) is None]
    return extract(graph, keep, escaping_values(graph, keep), f"{graph.name}_nvdla")
