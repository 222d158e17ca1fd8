"""Transformer-era ONNX ops with no IR node of their own, decomposed into existing IR ops.

Attention (scaled dot-product with masks, causal and sliding windows, KV cache, grouped heads) and
FlexAttention (its score/probability subgraphs inlined), RotaryEmbedding, TensorScatter (a KV-cache
write), the recurrent sequence mixers LinearAttention and CausalConvWithState (unrolled over the
static sequence), RMSNormalization and LpNormalization, the losses NegativeLogLikelihoodLoss and
SoftmaxCrossEntropyLoss, Swish and SwiGLU. Each follows the ONNX reference implementation step by
step (the conformance data comes from it), so that 16-bit rounding matches as well as the IR allows.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import Scope, _import_node, onnx_dtype
from hetflow.frontends.onnx.mappings.shape import _squeeze, _unsqueeze
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Value

IMPORT_TABLE_ELEMENTS = 1 << 20
"""Position tables (causal masks, key positions) up to this many entries are built as constants at import;
larger ones are computed when the graph runs, so that no sequence length in a file sizes an import-time array."""

MAX_UNROLLED_STEPS = 4096
"""Static sequences up to this many steps (x directions) are unrolled at import, where each step's ops compile
on any backend; longer or dynamic ones run as a loop over time (a few nodes per step would not fit in memory)."""

# ------------------------------------------------------------------ helpers


def _scalar(ctx: Ctx, value: float, dtype: DType, name: str = "scalar") -> Value:
    """A rank-0 constant in ``dtype``."""
    return ctx.const(np.asarray(value).astype(dtype.numpy), name=name)


def _dim(ctx: Ctx, x: Value, axis: int, what: str) -> int:
    """A dim of ``x`` that must be known at import time."""
    shape = x.type.shape
    if shape is None or not -len(shape) <= axis < len(shape) or not isinstance(shape[axis], int):
        raise ctx.fail(f"{what} needs dim {axis} of %{x.name} ({x.type}) to be known")
    return int(shape[axis])


def _rank(ctx: Ctx, x: Value, what: str) -> int:
    if x.type.rank is None:
        raise ctx.fail(f"{what} needs the rank of %{x.name}, which is unknown")
    return int(x.type.rank)


def _widen(ctx: Ctx, x: Value) -> Value:
    """``x`` in float32 when it is a 16-bit float (the stash type), else ``x`` itself."""
    if x.type.dtype in (DType.float16, DType.bfloat16):
        return ctx.emit("cast", [x], to="float32")
    return x


def _narrow(ctx: Ctx, x: Value, dtype: DType) -> Value:
    return x if x.type.dtype is dtype else ctx.emit("cast", [x], to=dtype.value)


# ------------------------------------------------------------------ attention


def _split_heads(ctx: Ctx, x: Value, heads: int) -> Value:
    """[B, S, heads * D] -> [B, heads, S, D]."""
    x = ctx.emit("reshape", [x], shape=(0, 0, int(heads), -1), allowzero=False)
    return ctx.emit("transpose", [x], perm=(0, 2, 1, 3))


def _share_heads(ctx: Ctx, x: Value, q_heads: int, kv_heads: int) -> Value:
    """[B, kv_heads, ...] -> [B, q_heads, ...]: grouped-query attention, where each key/value head
    serves q_heads / kv_heads consecutive query heads."""
    if q_heads == kv_heads:
        return x
    if q_heads < 1 or kv_heads < 1 or q_heads % kv_heads:
        raise ctx.fail(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
    heads = ctx.const(np.repeat(np.arange(kv_heads, dtype=np.int64), q_heads // kv_heads), name="kv_heads")
    return ctx.emit("gather", [x, heads], axis=1)


def _masked_where(ctx: Ctx, allowed: Value, dtype: DType) -> Value:
    """0 where ``allowed``, -inf elsewhere: an additive attention bias."""
    return ctx.emit("where", [allowed, _scalar(ctx, 0, dtype), _scalar(ctx, -np.inf, dtype)])


def _add(ctx: Ctx, a: Value | None, b: Value) -> Value:
    return b if a is None else ctx.emit("add", [a, b])


def _positions(ctx: Ctx, q_len: int, kv_len: int, offset: int | Value) -> Value | np.ndarray:
    """``(i + offset) - j`` for query i and key j: an array when the offset is a number and the table is small,
    else a value ([B, 1, q, kv] from per-batch offsets) computed when the graph runs (so that no long sequence
    makes the importer allocate a q x kv table)."""
    if isinstance(offset, int) and q_len * kv_len <= IMPORT_TABLE_ELEMENTS:
        return np.arange(q_len, dtype=np.int64).reshape(q_len, 1) + offset - np.arange(kv_len, dtype=np.int64)
    i = ctx.emit("reshape", [_arange(ctx, q_len, "query_pos")], shape=(q_len, 1), allowzero=False)
    j = _arange(ctx, kv_len, "key_pos")
    if isinstance(offset, int):
        return ctx.emit("sub", [ctx.emit("add", [i, ctx.const(np.int64(offset))]), j])
    per_batch = ctx.emit("reshape", [offset], shape=(-1, 1, 1, 1), allowzero=False)
    return ctx.emit("sub", [ctx.emit("add", [per_batch, i]), j])


def _arange(ctx: Ctx, n: int, name: str) -> Value:
    """0 .. n-1 (int64): a constant when it is small, else made when the graph runs."""
    if n <= IMPORT_TABLE_ELEMENTS:
        return ctx.const(np.arange(n, dtype=np.int64), name=name)
    return ctx.emit("range", [ctx.const(np.int64(0)), ctx.const(np.int64(n)), ctx.const(np.int64(1))])


def _allowed(ctx: Ctx, diff: Value | np.ndarray, lo: int | None, hi: int | None) -> Value:
    """Where ``lo <= diff <= hi`` (a None bound is open), as a bool value."""
    if isinstance(diff, np.ndarray):
        ok = np.ones(diff.shape, bool)
        if lo is not None:
            ok &= diff >= lo
        if hi is not None:
            ok &= diff <= hi
        return ctx.const(ok, name="allowed")
    tests = []
    if lo is not None:
        tests.append(ctx.emit("greater_equal", [diff, ctx.const(np.int64(lo))]))
    if hi is not None:
        tests.append(ctx.emit("less_equal", [diff, ctx.const(np.int64(hi))]))
    return tests[0] if len(tests) == 1 else ctx.emit("logical_and", tests)


def _attention_bias(ctx: Ctx, dtype: DType, mask: Value | None, q_len: int | None, kv_len: int,
                    causal: bool, past_len: int | None, nonpad: Value | None, left: int, right: int) -> Value | None:
    """The additive bias: the mask (padded to kv_len, bool made 0/-inf), the causal frontier, the
    sliding window and the per-batch padding of an external cache, in the reference's order."""
    bias = None
    if mask is not None:
        width = _dim(ctx, mask, -1, "Attention's attn_mask")
        if width < kv_len:
            r = _rank(ctx, mask, "Attention's attn_mask")
            fill = False if mask.type.dtype is DType.bool else -np.inf
            mask = ctx.emit("pad", [mask], pads=(0,) * (2 * r - 1) + (kv_len - width,), mode="constant", value=fill)
        bias = _masked_where(ctx, mask, dtype) if mask.type.dtype is DType.bool else mask
    windowed = left >= 0 or right >= 0
    if causal or windowed:
        if q_len is None:
            raise ctx.fail("causal or windowed Attention needs the query sequence length to be known")
        if past_len is None and nonpad is not None:
            offset: int | Value = ctx.emit("sub", [nonpad, ctx.const(np.int64(q_len))])
        else:
            offset = past_len or 0
        diff = _positions(ctx, q_len, kv_len, offset)
        if causal:
            bias = _add(ctx, bias, _masked_where(ctx, _allowed(ctx, diff, 0, None), dtype))
        if windowed:
            lo = -right if right >= 0 else None
            hi = left if left >= 0 else None
            bias = _add(ctx, bias, _masked_where(ctx, _allowed(ctx, diff, lo, hi), dtype))
    if nonpad is not None:
        lengths = ctx.emit("reshape", [nonpad], shape=(-1, 1, 1, 1), allowzero=False)
        valid = ctx.emit("less", [_arange(ctx, kv_len, "key_pos"), lengths])
        bias = _add(ctx, bias, _masked_where(ctx, valid, dtype))
    return bias


def _fully_masked_rows(ctx: Ctx, bias: Value) -> Value | None:
    """Rows of the bias that are -inf throughout (no key attended), or None when there are none."""
    if bias.const is not None and not np.isneginf(np.max(bias.const, axis=-1)).any():
        return None
    top = ctx.emit("reduce_max", [bias], axes=(-1,), keepdims=True)
    return ctx.emit("isinf", [top], detect_negative=True, detect_positive=False)


def _softmax(ctx: Ctx, x: Value) -> Value:
    """Softmax over the last axis. In 16-bit floats it is spelled out op by op, each rounding to the
    input type as the ONNX reference does (the IR softmax computes 16-bit inputs in float32)."""
    if x.type.dtype not in (DType.float16, DType.bfloat16):
        return ctx.emit("softmax", [x], axis=-1)
    e = ctx.emit("exp", [ctx.emit("sub", [x, ctx.emit("reduce_max", [x], axes=(-1,), keepdims=True)])])
    return ctx.emit("div", [e, ctx.emit("reduce_sum", [e], axes=(-1,), keepdims=True)])


def _attention(ctx: Ctx, q: Value, k: Value, v: Value, mask: Value | None, past_key: Value | None,
               past_value: Value | None, nonpad: Value | None, *, is_causal: int, kv_num_heads: int | None,
               q_num_heads: int | None, qk_matmul_output_mode: int, scale: float | None, softcap: float,
               softmax_precision: int | None, left: int = -1, right: int = -1) -> list[Value | None]:
    rank = _rank(ctx, q, "Attention")
    given = (k, v)
    if rank == 3:
        if not q_num_heads or not kv_num_heads:
            raise ctx.fail("3-D Q, K and V need the q_num_heads and kv_num_heads attributes")
        q, k, v = _split_heads(ctx, q, q_num_heads), _split_heads(ctx, k, kv_num_heads), _split_heads(ctx, v, kv_num_heads)
    elif rank != 4:
        raise ctx.fail(f"Q must be 3-D or 4-D, got {q.type}")
    if (past_key is None) != (past_value is None):
        raise ctx.fail("past_key and past_value must be given together")
    dtype = q.type.dtype
    if scale is None:
        scale = 1 / np.sqrt(_dim(ctx, q, 3, "the default Attention scale"))
    root = _scalar(ctx, np.sqrt(scale), dtype, "sqrt_scale")
    past_len = None
    if past_key is not None:
        past_len = _dim(ctx, past_key, 2, "Attention with a KV cache")
        k = ctx.emit("concat", [past_key, k], axis=2)
        v = ctx.emit("concat", [past_value, v], axis=2)
    present_k, present_v = k, v
    q_len = q.type.shape[2] if isinstance(q.type.shape[2], int) else None  # type: ignore[index]
    needs_kv = mask is not None or is_causal or left >= 0 or right >= 0 or nonpad is not None
    kv_len = _dim(ctx, k, 2, "a masked Attention") if needs_kv else 0
    bias = _attention_bias(ctx, dtype, mask, q_len, kv_len, bool(is_causal), past_len, nonpad, left, right)

    q_heads, kv_heads = _dim(ctx, q, 1, "Attention"), _dim(ctx, k, 1, "Attention")
    k, v = _share_heads(ctx, k, q_heads, kv_heads), _share_heads(ctx, v, q_heads, kv_heads)
    k_t = ctx.emit("transpose", [k], perm=(0, 1, 3, 2))
    raw = ctx.emit("matmul", [ctx.emit("mul", [q, root]), ctx.emit("mul", [k_t, root])])
    scores = raw
    if softcap > 0:
        cap = _scalar(ctx, softcap, dtype, "softcap")
        scores = ctx.emit("mul", [ctx.emit("tanh", [ctx.emit("div", [scores, cap])]), cap])
    capped = scores
    if bias is not None:
        scores = ctx.emit("add", [scores, bias])
    biased = scores
    if softmax_precision is not None:
        scores = ctx.emit("cast", [scores], to=onnx_dtype(softmax_precision, ctx.where).value)
    dead = _fully_masked_rows(ctx, bias) if bias is not None else None
    if dead is not None:  # a row with no key to attend is zero, not NaN: soften it to zeros, then zero it
        zero = _scalar(ctx, 0, scores.type.dtype)
        probs = ctx.emit("where", [dead, zero, _softmax(ctx, ctx.emit("where", [dead, zero, scores]))])
    else:
        probs = _softmax(ctx, scores)
    probs = _narrow(ctx, probs, dtype)
    y = ctx.emit("matmul", [probs, _narrow(ctx, v, dtype)])  # V may be another float type (T2); Y is Q's (T1)
    if rank == 3:
        y = ctx.emit("reshape", [ctx.emit("transpose", [y], perm=(0, 2, 1, 3))], shape=(0, 0, -1), allowzero=False)
    qk: Value | None = None
    if ctx.wants_output(3):
        modes = {0: raw, 1: capped, 2: biased, 3: probs}
        if qk_matmul_output_mode not in modes:
            raise ctx.fail(f"qk_matmul_output_mode {qk_matmul_output_mode} is not one of 0, 1, 2, 3")
        qk = modes[qk_matmul_output_mode]
    # A present cache that is the K or V input itself gets a node of its own, so naming it never renames an input.
    present = [None if not ctx.wants_output(i) else ctx.emit("identity", [p]) if any(p is g for g in given) else p
               for i, p in ((1, present_k), (2, present_v))]
    return [y, *present, qk]


@onnx_op(since=23)
def Attention_v23(ctx: Ctx, q: Value, k: Value, v: Value, attn_mask: Value | None = None,
                  past_key: Value | None = None, past_value: Value | None = None, *, is_causal: int = 0,
                  kv_num_heads: int | None = None, q_num_heads: int | None = None, qk_matmul_output_mode: int = 0,
                  scale: float | None = None, softcap: float = 0.0,
                  softmax_precision: int | None = None) -> list[Value | None]:
    return _attention(ctx, q, k, v, attn_mask, past_key, past_value, None, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision)


@onnx_op(since=24)
def Attention_v24(ctx: Ctx, q: Value, k: Value, v: Value, attn_mask: Value | None = None,
                  past_key: Value | None = None, past_value: Value | None = None,
                  nonpad_kv_seqlen: Value | None = None, *, is_causal: int = 0, kv_num_heads: int | None = None,
                  q_num_heads: int | None = None, qk_matmul_output_mode: int = 0, scale: float | None = None,
                  softcap: float = 0.0, softmax_precision: int | None = None) -> list[Value | None]:
    if nonpad_kv_seqlen is not None and past_key is not None:
        raise ctx.fail("nonpad_kv_seqlen (an external cache) cannot be combined with past_key/past_value")
    return _attention(ctx, q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision)


@onnx_op(since=25)
def Attention_v25(ctx: Ctx, q: Value, k: Value, v: Value, attn_mask: Value | None = None,
                  past_key: Value | None = None, past_value: Value | None = None,
                  nonpad_kv_seqlen: Value | None = None, *, is_causal: int = 0, kv_num_heads: int | None = None,
                  left_window_size: int = -1, q_num_heads: int | None = None, qk_matmul_output_mode: int = 0,
                  right_window_size: int = -1, scale: float | None = None, softcap: float = 0.0,
                  softmax_precision: int | None = None) -> list[Value | None]:
    if nonpad_kv_seqlen is not None and past_key is not None:
        raise ctx.fail("nonpad_kv_seqlen (an external cache) cannot be combined with past_key/past_value")
    if q.type.rank == 4 and (q_num_heads is not None or kv_num_heads is not None):
        raise ctx.fail("q_num_heads and kv_num_heads must not be given for 4-D inputs")
    if left_window_size < -1 or right_window_size < -1:
        raise ctx.fail(f"window sizes must be -1 or nonnegative, got ({left_window_size}, {right_window_size})")
    return _attention(ctx, q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision, left=left_window_size, right=right_window_size)


def _inline(ctx: Ctx, body: onnx.GraphProto, args: list[Value]) -> Value:
    """Import a one-output subgraph attribute in place, its inputs bound to ``args``."""
    env: dict[str, Value] = {init.name: ctx.const(numpy_helper.to_array(init), name=init.name)
                             for init in body.initializer}
    formal = [vi.name for vi in body.input if vi.name not in env]
    if len(formal) != len(args) or len(body.output) != 1:
        raise ctx.fail(f"subgraph {body.name!r} must take {len(args)} input(s) and give 1 output, "
                       f"it takes {len(formal)} and gives {len(body.output)}")
    env.update(zip(formal, args))
    scope = Scope(ctx.graph)  # no parent: the subgraph's nodes land in this graph, reading only its own names
    scope.values.update(env)
    for index, node in enumerate(body.node):
        _import_node(scope, node, index, ctx.version, f"{ctx.where}: subgraph {body.name!r}")
    made = scope.values.get(body.output[0].name)
    if made is None:
        raise ctx.fail(f"subgraph {body.name!r}: its output {body.output[0].name!r} is made by no node")
    return made


@onnx_op(since=1, domain="ai.onnx.preview")
def FlexAttention(ctx: Ctx, q: Value, k: Value, v: Value, *, prob_mod: onnx.GraphProto | None = None,
                  scale: float | None = None, score_mod: onnx.GraphProto | None = None,
                  softmax_precision: int | None = None) -> Value:
    """Attention whose scores and probabilities pass through optional subgraphs, inlined here."""
    for x in (q, k, v):
        if _rank(ctx, x, "FlexAttention") != 4:
            raise ctx.fail(f"Q, K and V must be 4-D, got {x.type}")
    dtype = q.type.dtype
    if softmax_precision is not None:
        compute = onnx_dtype(softmax_precision, ctx.where)
    else:
        compute = DType.float64 if dtype is DType.float64 else DType.float32
    if scale is None:
        scale = 1 / np.sqrt(_dim(ctx, q, 3, "the default FlexAttention scale"))
    root = _scalar(ctx, np.sqrt(np.float32(scale)), dtype, "sqrt_scale")
    q_heads, kv_heads = _dim(ctx, q, 1, "FlexAttention"), _dim(ctx, k, 1, "FlexAttention")
    k, v = _share_heads(ctx, k, q_heads, kv_heads), _share_heads(ctx, v, q_heads, kv_heads)
    k_t = ctx.emit("transpose", [ctx.emit("mul", [k, root])], perm=(0, 1, 3, 2))
    scores = _narrow(ctx, ctx.emit("matmul", [ctx.emit("mul", [q, root]), k_t]), compute)
    if score_mod is not None:
        scores = _narrow(ctx, _inline(ctx, score_mod, [scores]), compute)
    probs = _softmax(ctx, scores)
    if prob_mod is not None:
        probs = _narrow(ctx, _inline(ctx, prob_mod, [probs]), compute)
    return _narrow(ctx, ctx.emit("matmul", [probs, _narrow(ctx, v, compute)]), v.type.dtype)


@onnx_op(since=23)
def RotaryEmbedding(ctx: Ctx, x: Value, cos_cache: Value, sin_cache: Value, position_ids: Value | None = None, *,
                    interleaved: int = 0, num_heads: int | None = None, rotary_embedding_dim: int = 0) -> Value:
    rank = _rank(ctx, x, "RotaryEmbedding")
    if rank == 4:  # [B, H, S, D] -> [B, S, H, D]
        x = ctx.emit("transpose", [x], perm=(0, 2, 1, 3))
    elif rank == 3:
        if not num_heads:
            raise ctx.fail("a 3-D input needs the num_heads attribute")
        x = ctx.emit("reshape", [x], shape=(0, 0, int(num_heads), -1), allowzero=False)
    else:
        raise ctx.fail(f"input must be 3-D or 4-D, got {x.type}")
    head = _dim(ctx, x, 3, "RotaryEmbedding")
    dim = int(rotary_embedding_dim) or head
    if dim % 2 or dim > head:
        raise ctx.fail(f"rotary_embedding_dim {dim} must be even and at most the head size {head}")
    if position_ids is not None:
        cos_cache = ctx.emit("gather", [cos_cache, position_ids], axis=0)
        sin_cache = ctx.emit("gather", [sin_cache, position_ids], axis=0)
    cos = ctx.emit("reshape", [cos_cache], shape=(0, 0, 1, -1), allowzero=False)
    sin = ctx.emit("reshape", [sin_cache], shape=(0, 0, 1, -1), allowzero=False)

    def part(start: int, end: int, step: int = 1) -> Value:
        return ctx.emit("slice", [x], starts=(start,), ends=(end,), axes=(3,), steps=(step,))

    x1, x2 = (part(0, dim, 2), part(1, dim, 2)) if interleaved else (part(0, dim // 2), part(dim // 2, dim))
    real = ctx.emit("sub", [ctx.emit("mul", [cos, x1]), ctx.emit("mul", [sin, x2])])
    imag = ctx.emit("add", [ctx.emit("mul", [sin, x1]), ctx.emit("mul", [cos, x2])])
    if interleaved:
        pairs = [ctx.emit("reshape", [t], shape=(0, 0, 0, 0, 1), allowzero=False) for t in (real, imag)]
        rotated = ctx.emit("reshape", [ctx.emit("concat", pairs, axis=-1)], shape=(0, 0, 0, -1), allowzero=False)
    else:
        rotated = ctx.emit("concat", [real, imag], axis=-1)
    y = rotated if dim == head else ctx.emit("concat", [rotated, part(dim, head)], axis=-1)
    if rank == 3:
        return ctx.emit("reshape", [y], shape=(0, 0, -1), allowzero=False)
    return ctx.emit("transpose", [y], perm=(0, 2, 1, 3))


# ------------------------------------------------------------------ normalization


@onnx_op(since=23)
def RMSNormalization(ctx: Ctx, x: Value, scale: Value, *, axis: int = -1, epsilon: float = 1e-5,
                     stash_type: int = 1) -> Value:
    if stash_type != 1:
        raise ctx.fail(f"stash_type={stash_type} is not supported; hetflow keeps statistics in float32")
    rank = _rank(ctx, x, "RMSNormalization")
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axes = tuple(range(axis % rank, rank))
    wide = _widen(ctx, x)
    mean_sq = ctx.emit("reduce_mean", [ctx.emit("mul", [wide, wide])], axes=axes, keepdims=True)
    rms = ctx.emit("sqrt", [ctx.emit("add", [mean_sq, _scalar(ctx, epsilon, wide.type.dtype, "epsilon")])])
    normalized = _narrow(ctx, ctx.emit("mul", [wide, ctx.emit("reciprocal", [rms])]), x.type.dtype)
    return ctx.emit("mul", [normalized, scale])


@onnx_op(since=1)
def LpNormalization(ctx: Ctx, x: Value, *, axis: int = -1, p: int = 2) -> Value:
    rank = _rank(ctx, x, "LpNormalization")
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axes = (axis % rank,)
    if p == 2:
        norm = ctx.emit("sqrt", [ctx.emit("reduce_sum", [ctx.emit("mul", [x, x])], axes=axes, keepdims=True)])
    elif p == 1:
        norm = ctx.emit("reduce_sum", [ctx.emit("abs", [x])], axes=axes, keepdims=True)
    else:
        raise ctx.fail(f"p must be 1 or 2, got {p}")
    # A zero norm means a zero slice: dividing it by 1 keeps it zero instead of 0/0.
    zero = ctx.emit("equal", [norm, _scalar(ctx, 0, x.type.dtype)])
    return ctx.emit("div", [x, ctx.emit("where", [zero, _scalar(ctx, 1, x.type.dtype), norm])])


# ------------------------------------------------------------------ losses


def _nll(ctx: Ctx, log_prob: Value, target: Value, weight: Value | None, ignore_index: int | None,
         reduction: str) -> Value:
    """-log_prob[n, target[n, ...], ...], weighted, with ignored targets contributing nothing."""
    if reduction not in ("none", "sum", "mean"):
        raise ctx.fail(f"reduction must be none, sum or mean, got {reduction!r}")
    dtype = log_prob.type.dtype
    ignored = None
    if ignore_index is not None:
        ignored = ctx.emit("equal", [target, ctx.const(np.asarray(ignore_index).astype(target.type.dtype.numpy))])
        # An ignored target may lie outside [0, C); gather at class 0 and zero the result.
        target = ctx.emit("where", [ignored, ctx.const(np.zeros((), target.type.dtype.numpy)), target])
    picked = ctx.emit("gather_elements", [log_prob, _unsqueeze(ctx, target, [1])], axis=1)
    loss = ctx.emit("neg", [_squeeze(ctx, picked, [1])])
    w = ctx.emit("gather", [weight, target], axis=0) if weight is not None else None
    if ignored is not None:
        w = ctx.emit("where", [ignored, _scalar(ctx, 0, dtype), w if w is not None else _scalar(ctx, 1, dtype)])
    if w is not None:
        loss = ctx.emit("mul", [loss, w])
    if reduction == "none":
        return loss
    total = ctx.emit("reduce_sum", [loss], axes=None, keepdims=False)
    if reduction == "sum":
        return total
    if w is None:
        return ctx.emit("reduce_mean", [loss], axes=None, keepdims=False)
    return ctx.emit("div", [total, ctx.emit("reduce_sum", [w], axes=None, keepdims=False)])


@onnx_op(since=12)
def NegativeLogLikelihoodLoss(ctx: Ctx, x: Value, target: Value, weight: Value | None = None, *,
                              ignore_index: int | None = None, reduction: str = "mean") -> Value:
    if _rank(ctx, x, "NegativeLogLikelihoodLoss") < 2:
        raise ctx.fail(f"input must be at least 2-D [N, C, ...], got {x.type}")
    return _nll(ctx, x, target, weight, ignore_index, reduction)


@onnx_op(since=12)
def SoftmaxCrossEntropyLoss(ctx: Ctx, scores: Value, labels: Value, weights: Value | None = None, *,
                            ignore_index: int | None = None, reduction: str = "mean") -> Value | list[Value]:
    if _rank(ctx, scores, "SoftmaxCrossEntropyLoss") < 2:
        raise ctx.fail(f"scores must be at least 2-D [N, C, ...], got {scores.type}")
    log_prob = ctx.emit("log_softmax", [scores], axis=1)
    loss = _nll(ctx, log_prob, labels, weights, ignore_index, reduction)
    return [loss, log_prob] if ctx.wants_output(1) else loss


# ------------------------------------------------------------------ gated activations


def _swish(ctx: Ctx, x: Value, alpha: float) -> Value:
    gate_in = x if alpha == 1.0 else ctx.emit("mul", [x, _scalar(ctx, alpha, x.type.dtype, "alpha")])
    return ctx.emit("mul", [x, ctx.emit("sigmoid", [gate_in])])


@onnx_op(since=24)
def Swish(ctx: Ctx, x: Value, *, alpha: float = 1.0) -> Value:
    return _swish(ctx, x, float(alpha))


@onnx_op(since=28)
def SwiGLU(ctx: Ctx, a: Value, b: Value, *, alpha: float = 1.0) -> Value:
    if a.type.shape is not None and b.type.shape is not None and a.type.shape != b.type.shape:
        raise ctx.fail(f"A and B must have the same shape (no broadcasting), got {a.type} and {b.type}")
    return ctx.emit("mul", [_swish(ctx, a, float(alpha)), b])




# ------------------------------------------------------------------ KV cache


@onnx_op(since=24)
def TensorScatter(ctx: Ctx, past_cache: Value, update: Value, write_indices: Value | None = None, *,
                  axis: int = -2, mode: str = "linear") -> Value:
    """Write update into the cache along ``axis`` from write_indices[b] on (wrapping around when circular)."""
    if mode not in ("linear", "circular"):
        raise ctx.fail(f"mode must be linear or circular, got {mode!r}")
    rank = _rank(ctx, past_cache, "TensorScatter")
    if not -rank < axis < rank or axis % rank == 0:
        raise ctx.fail(f"axis {axis} must name a dim after the batch dim of a rank-{rank} cache")
    axis %= rank
    if not update.type.is_static:
        raise ctx.fail(f"the update's shape must be known, got {update.type}")
    shape = update.type.shape
    if len(shape) != rank:  # type: ignore[arg-type]
        raise ctx.fail(f"the update {update.type} must have the cache's rank {rank}")
    steps = np.arange(shape[axis], dtype=np.int64).reshape([-1 if i == axis else 1 for i in range(rank)])  # type: ignore[index]
    index: Value = ctx.const(steps, name="update_steps")
    if write_indices is not None:
        start = ctx.emit("cast", [ctx.emit("reshape", [write_indices], shape=(-1,) + (1,) * (rank - 1),
                                           allowzero=False)], to="int64")
        index = ctx.emit("add", [start, index])
    if mode == "circular":
        index = ctx.emit("mod", [index, ctx.const(np.int64(_dim(ctx, past_cache, axis, "a circular TensorScatter")))])
    index = ctx.emit("expand", [index], shape=tuple(shape))  # type: ignore[arg-type]
    return ctx.emit("scatter_elements", [past_cache, index, update], axis=axis, reduction="none")


# ------------------------------------------------------------------ recurrent sequence mixers


@onnx_op(since=27)
def CausalConvWithState(ctx: Ctx, x: Value, weight: Value, bias: Value | None = None,
                        past_state: Value | None = None, *, activation: str = "none") -> list[Value]:
    """Depthwise causal 1-D convolution over [B, C, L], continuing from the last k - 1 inputs of the
    previous call (zeros when there is none); returns the output and the new k - 1 inputs."""
    if activation not in ("none", "silu", "swish"):
        raise ctx.fail(f"activation must be none, silu or swish, got {activation!r}")
    if _rank(ctx, x, "CausalConvWithState") != 3 or _rank(ctx, weight, "CausalConvWithState") != 3:
        raise ctx.fail(f"input must be [B, C, L] and weight [C, 1, k], got {x.type} and {weight.type}")
    channels, k = _dim(ctx, weight, 0, "CausalConvWithState"), _dim(ctx, weight, 2, "CausalConvWithState")
    if past_state is None:
        padded = ctx.emit("pad", [x], pads=(0, 0, k - 1, 0, 0, 0), mode="constant", value=0)
    else:
        padded = ctx.emit("concat", [past_state, x], axis=2)
    inputs = [padded, weight] + ([bias] if bias is not None else [])
    y = ctx.emit("conv", inputs, strides=(1,), pads=(0, 0), dilations=(1,), group=channels)
    if activation != "none":
        wide = _widen(ctx, y)
        y = _narrow(ctx, ctx.emit("mul", [wide, ctx.emit("sigmoid", [wide])]), y.type.dtype)
    # The last k - 1 inputs; for k = 1 a start past the end leaves an empty state.
    state = ctx.emit("slice", [padded], starts=(-(k - 1) if k > 1 else 2**62,), ends=(2**62,), axes=(2,), steps=(1,))
    return [y, state]


def _per_head(ctx: Ctx, x: Value, heads: int) -> Value:
    """[B, T, heads * D] -> [B, heads, T, D] in float32."""
    return ctx.emit("cast", [_split_heads(ctx, x, heads)], to="float32")


def _step(ctx: Ctx, x: Value, t: int) -> Value:
    """Time step t of [B, H, T, D]: [B, H, 1, D]."""
    return ctx.emit("slice", [x], starts=(t,), ends=(t + 1,), axes=(2,), steps=(1,))


@onnx_op(since=27)
def LinearAttention(ctx: Ctx, query: Value, key: Value, value: Value, past_state: Value | None = None,
                    decay: Value | None = None, beta: Value | None = None, *, chunk_size: int = 64,
                    kv_num_heads: int | None = None, q_num_heads: int | None = None, scale: float = 0.0,
                    update_rule: str = "gated_delta") -> list[Value]:
    """Recurrent linear attention, unrolled over the (static) sequence: per step the [d_k, d_v] state
    decays (gated), is corrected toward the value (delta), takes k v^T, and is read by the query."""
    if update_rule not in ("linear", "gated", "delta", "gated_delta"):
        raise ctx.fail(f"update_rule must be linear, gated, delta or gated_delta, got {update_rule!r}")
    if not q_num_heads or not kv_num_heads or q_num_heads % kv_num_heads:
        raise ctx.fail(f"q_num_heads ({q_num_heads}) must be a positive multiple of kv_num_heads ({kv_num_heads})")
    gated, delta = update_rule in ("gated", "gated_delta"), update_rule in ("delta", "gated_delta")
    if gated != (decay is not None) or delta != (beta is not None):
        raise ctx.fail(f"update_rule {update_rule!r} needs {'a' if gated else 'no'} decay and "
                       f"{'a' if delta else 'no'} beta input")
    steps = _dim(ctx, query, 1, "LinearAttention (unrolled over the sequence)")
    if steps > MAX_UNROLLED_STEPS:
        raise ctx.fail(f"LinearAttention is unrolled over the sequence; {steps} steps is more than "
                       f"{MAX_UNROLLED_STEPS}")
    d_k = _dim(ctx, query, 2, "LinearAttention") // q_num_heads
    q, k, v = _per_head(ctx, query, q_num_heads), _per_head(ctx, key, kv_num_heads), _per_head(ctx, value, kv_num_heads)
    d_v = _dim(ctx, v, 3, "LinearAttention")
    if decay is not None:  # [B, T, H] (per head) or [B, T, H * d_k] (per key dim) -> [B, H, T, 1 or d_k, 1]
        per_key = _dim(ctx, decay, 2, "LinearAttention's decay") != kv_num_heads
        decay = ctx.emit("exp", [_per_head(ctx, decay, kv_num_heads)])
        decay = ctx.emit("reshape", [decay], shape=(0, 0, 0, d_k if per_key else 1, 1), allowzero=False)
    if beta is not None:  # [B, T, H or 1] -> [B, H or 1, T, 1]
        beta = _per_head(ctx, beta, _dim(ctx, beta, 2, "LinearAttention's beta"))
    if past_state is not None:
        state = ctx.emit("cast", [past_state], to="float32")
    else:  # zeros made as the graph runs when large (folded as emitted when small): no import-time allocation
        dims = np.array([_dim(ctx, query, 0, "LinearAttention"), kv_num_heads, d_k, d_v], np.int64)
        state = ctx.emit("constant_of_shape", [ctx.const(dims, name="state_shape")], value=0.0, dtype="float32")
    k_cols = ctx.emit("transpose", [k], perm=(0, 1, 3, 2))  # [B, H, d_k, T]
    factor = _scalar(ctx, scale or 1 / np.sqrt(d_k), DType.float32, "scale")
    outputs = []
    for t in range(steps):
        k_t, v_t = _step(ctx, k, t), _step(ctx, v, t)
        if decay is not None:
            g = ctx.emit("reshape", [_step(ctx, decay, t)], shape=(0, 0, -1, 1), allowzero=False)
            state = ctx.emit("mul", [state, g])
        if beta is not None:
            retrieved = ctx.emit("matmul", [k_t, state])
            v_t = ctx.emit("mul", [_step(ctx, beta, t), ctx.emit("sub", [v_t, retrieved])])
        k_col = ctx.emit("slice", [k_cols], starts=(t,), ends=(t + 1,), axes=(3,), steps=(1,))
        state = ctx.emit("add", [state, ctx.emit("matmul", [k_col, v_t])])
        read = _share_heads(ctx, state, q_num_heads, kv_num_heads)
        outputs.append(ctx.emit("mul", [ctx.emit("matmul", [_step(ctx, q, t), read]), factor]))
    y = outputs[0] if steps == 1 else ctx.emit("concat", outputs, axis=2)  # [B, Hq, T, d_v]
    y = ctx.emit("reshape", [ctx.emit("transpose", [y], perm=(0, 2, 1, 3))], shape=(0, 0, -1), allowzero=False)
    state_type = past_state.type.dtype if past_state is not None else query.type.dtype
    return [_narrow(ctx, y, query.type.dtype), _narrow(ctx, state, state_type)]
