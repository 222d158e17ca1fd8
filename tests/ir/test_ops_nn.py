"""IR nn ops on their own: kernels against direct loops over the definition, type inference, cost, contract."""

import itertools
import math

import numpy as np
import pytest

from hetflow.ir import Graph, IRError, get_op
from hetflow.ir.ops.nn import window_out_size


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run(op, *inputs, **attrs):
    """Build a one-node graph (so attributes are checked and types inferred) and run the op's semantics."""
    g = Graph()
    values = [None if x is None else g.constant(x) for x in inputs]
    node = g.add_node(op, values, attrs)
    results = get_op(op).run(node, list(inputs))
    for value, result in zip(node.outputs, results):
        assert value.type.shape == result.shape, f"{op}: inferred {value.type.shape}, computed {result.shape}"
        assert value.type.dtype.numpy == result.dtype
    return results


# ------------------------------------------------------------------ direct-loop definitions


def naive_conv(x, w, b, strides, pads, dilations, group):
    m, cg = w.shape[:2]
    kernel, r = w.shape[2:], w.ndim - 2
    out = [window_out_size(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[r + i], dilations[i]) for i in range(r)]
    y = np.zeros((x.shape[0], m, *out), np.float64)
    for oc in range(m):
        first_in = oc // (m // group) * cg
        for opos in itertools.product(*map(range, out)):
            acc = np.full(x.shape[0], 0.0 if b is None else float(b[oc]))
            for ic, kpos in itertools.product(range(cg), itertools.product(*map(range, kernel))):
                ipos = [opos[i] * strides[i] - pads[i] + kpos[i] * dilations[i] for i in range(r)]
                if all(0 <= ipos[i] < x.shape[2 + i] for i in range(r)):
                    acc += x[(slice(None), first_in + ic, *ipos)] * w[(oc, ic, *kpos)]
            y[(slice(None), oc, *opos)] = acc
    return y


def naive_conv_transpose(x, w, b, strides, pads, dilations, group, output_padding):
    n, c = x.shape[:2]
    mg, kernel, r = w.shape[1], w.shape[2:], w.ndim - 2
    cg = c // group
    full = [(x.shape[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(r)]
    z = np.zeros((n, group * mg, *full), np.float64)
    for ic in range(c):
        g = ic // cg
        for ipos in itertools.product(*map(range, x.shape[2:])):
            for j in range(mg):
                for kpos in itertools.product(*map(range, kernel)):
                    opos = tuple(ipos[i] * strides[i] + kpos[i] * dilations[i] for i in range(r))
                    z[(slice(None), g * mg + j, *opos)] += x[(slice(None), ic, *ipos)] * w[(ic, j, *kpos)]
    out = [full[i] + output_padding[i] - pads[i] - pads[r + i] for i in range(r)]
    y = np.zeros((n, group * mg, *out), np.float64)
    for opos in itertools.product(*map(range, out)):
        src = [opos[i] + pads[i] for i in range(r)]
        if all(0 <= src[i] < full[i] for i in range(r)):
            y[(slice(None), slice(None), *opos)] = z[(slice(None), slice(None), *src)]
    if b is not None:
        y += b.reshape((-1,) + (1,) * r)
    return y


def naive_pool(x, kind, kernel, strides, pads, dilations, ceil_mode, count_include_pad=False, p=2):
    r = len(kernel)
    sp = x.shape[2:]
    out = [window_out_size(sp[i], kernel[i], strides[i], pads[i], pads[r + i], dilations[i], ceil_mode) for i in range(r)]
    y = np.zeros(x.shape[:2] + tuple(out), np.float64)
    idx = np.zeros(y.shape, np.int64)
    for opos in itertools.product(*map(range, out)):
        vals, where, padded = [], [], 0
        for kpos in itertools.product(*map(range, kernel)):
            ipos = [opos[i] * strides[i] - pads[i] + kpos[i] * dilations[i] for i in range(r)]
            if all(0 <= ipos[i] < sp[i] for i in range(r)):
                vals.append(x[(slice(None), slice(None), *ipos)].astype(np.float64))
                where.append(int(np.ravel_multi_index(ipos, sp)))
            elif all(-pads[i] <= ipos[i] < sp[i] + pads[r + i] for i in range(r)):
                padded += 1
        stack = np.stack(vals)
        if kind == "max":
            y[(slice(None), slice(None), *opos)] = stack.max(0)
            idx[(slice(None), slice(None), *opos)] = np.array(where)[stack.argmax(0)]
        elif kind == "avg":
            y[(slice(None), slice(None), *opos)] = stack.sum(0) / (len(vals) + (padded if count_include_pad else 0))
        else:
            y[(slice(None), slice(None), *opos)] = (np.abs(stack) ** p).sum(0) ** (1 / p)
    nc = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * r) * math.prod(sp)
    return y, idx + nc


# ------------------------------------------------------------------ kernels against the definition

CONV_CASES = [
    ((2, 3, 9), (4, 3, 3), (2,), (1, 2), (1,), 1),
    ((1, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 0, 2, 1), (1, 2), 2),
    ((1, 3, 6, 6), (6, 1, 3, 3), (1, 1), (1, 1, 1, 1), (2, 2), 3),  # depthwise, channel multiplier 2
    ((2, 4, 5, 5), (4, 1, 3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 4),
    ((1, 6, 5, 5), (4, 6, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), (1, 2, 1), (1, 0, 1, 0, 1, 1), (1, 1, 2), 1),
]


@pytest.mark.parametrize("xs,ws,strides,pads,dilations,group", CONV_CASES)
def test_conv_matches_direct_loops(xs, ws, strides, pads, dilations, group):
    x, w, b = rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2)
    (y,) = run("conv", x, w, b, strides=strides, pads=pads, dilations=dilations, group=group)
    np.testing.assert_allclose(y, naive_conv(x, w, b, strides, pads, dilations, group), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("xs,ws,strides,pads,dilations,group,out_pad", [
    ((1, 2, 4), (2, 3, 3), (2,), (1, 0), (1,), 1, (1,)),
    ((2, 4, 3, 4), (4, 1, 3, 2), (2, 3), (0, 1, 1, 0), (1, 2), 2, (1, 0)),
    ((1, 2, 3, 3), (2, 2, 3, 3), (3, 2), (0, -1, 0, -1), (1, 1), 1, (0, 0)),  # negative pads: grown output
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), (2, 1, 2), (0, 0, 1, 1, 0, 0), (1, 1, 1), 1, (1, 0, 1)),
])
def test_conv_transpose_matches_direct_loops(xs, ws, strides, pads, dilations, group, out_pad):
    x, w, b = rand(*xs), rand(*ws, seed=1), rand(ws[1] * group, seed=2)
    (y,) = run("conv_transpose", x, w, b, strides=strides, pads=pads, dilations=dilations, group=group,
               output_padding=out_pad)
    want = naive_conv_transpose(x, w, b, strides, pads, dilations, group, out_pad)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


POOL_CASES = [
    ((3,), (2,), (1, 1), (1,), False),
    ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True),
    ((3, 2), (2, 3), (1, 0, 1, 1), (1, 1), True),
    ((2, 3), (1, 2), (1, 1, 0, 2), (2, 2), False),
    ((2, 2, 2), (2, 1, 2), (1, 0, 0, 0, 1, 1), (1, 1, 2), True),
]


@pytest.mark.parametrize("kernel,strides,pads,dilations,ceil_mode", POOL_CASES)
def test_pools_match_direct_loops(kernel, strides, pads, dilations, ceil_mode):
    x = rand(2, 3, *([7] * len(kernel)))
    common = {"kernel": kernel, "strides": strides, "pads": pads, "ceil_mode": ceil_mode, "dilations": dilations}
    y, idx = run("max_pool", x, with_indices=True, **common)
    want, want_idx = naive_pool(x, "max", kernel, strides, pads, dilations, ceil_mode)
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(idx, want_idx)
    (y_only,) = run("max_pool", x, **common)
    np.testing.assert_array_equal(y_only, y)
    for include in (False, True):
        (y,) = run("avg_pool", x, count_include_pad=include, **common)
        want = naive_pool(x, "avg", kernel, strides, pads, dilations, ceil_mode, count_include_pad=include)[0]
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    for p in (1, 2, 3):
        (y,) = run("lp_pool", x, p=p, **common)
        np.testing.assert_allclose(y, naive_pool(x, "lp", kernel, strides, pads, dilations, ceil_mode, p=p)[0],
                                   rtol=1e-5, atol=1e-6)


def test_max_pool_column_major_indices():
    x = rand(1, 2, 5, 4)
    _, idx = run("max_pool", x, kernel=(2, 2), strides=(1, 1), pads=(0, 0, 0, 0), with_indices=True, storage_order=1)
    _, row_major = run("max_pool", x, kernel=(2, 2), strides=(1, 1), pads=(0, 0, 0, 0), with_indices=True)
    per_plane = row_major % 20
    h, w = per_plane // 4, per_plane % 4
    np.testing.assert_array_equal(idx, row_major - per_plane + h + w * 5)


def test_max_pool_integer_padding_uses_the_type_minimum():
    x = np.full((1, 1, 3, 3), -120, np.int8)
    (y,) = run("max_pool", x, kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1))
    assert y.dtype == np.int8 and np.all(y == -120)


def test_half_precision_conv_accumulates_in_float32():
    x, w = rand(1, 64, 6, 6, dtype=np.float16), rand(8, 64, 3, 3, seed=1, dtype=np.float16)
    attrs = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 1}
    (y,) = run("conv", x, w, **attrs)
    (wide,) = run("conv", x.astype(np.float32), w.astype(np.float32), **attrs)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, wide.astype(np.float16))


@pytest.mark.parametrize("size", [1, 2, 5])
def test_lrn_matches_its_definition(size):
    x = rand(2, 6, 3, 2)
    (y,) = run("lrn", x, size=size, alpha=0.1, beta=0.6, bias=1.5)
    want = np.empty_like(x)
    for c in range(6):
        lo, hi = max(0, c - (size - 1) // 2), min(6, c + math.ceil((size - 1) / 2) + 1)
        want[:, c] = x[:, c] / (1.5 + 0.1 / size * (x[:, lo:hi] ** 2).sum(1)) ** 0.6
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_normalizations_match_their_definitions():
    x, s, b = rand(2, 4, 3, 5), rand(4, seed=1), rand(4, seed=2)
    mean, var = rand(4, seed=3), np.abs(rand(4, seed=4)) + 0.5
    (y,) = run("batch_norm", x, s, b, mean, var, epsilon=1e-3)
    c = (-1, 1, 1)
    np.testing.assert_allclose(y, (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-3) * s.reshape(c) + b.reshape(c),
                               rtol=1e-5, atol=1e-5)
    (y,) = run("instance_norm", x, s, b, epsilon=1e-3)
    m, v = x.mean((2, 3), keepdims=True), x.var((2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-3) * s.reshape(c) + b.reshape(c), rtol=1e-4, atol=1e-5)
    (y,) = run("group_norm", x, s, b, num_groups=2, epsilon=1e-3)
    grouped = x.reshape(2, 2, -1)
    z = ((grouped - grouped.mean(-1, keepdims=True)) / np.sqrt(grouped.var(-1, keepdims=True) + 1e-3)).reshape(x.shape)
    np.testing.assert_allclose(y, z * s.reshape(c) + b.reshape(c), rtol=1e-4, atol=1e-5)


def test_layer_norm_outputs_and_types():
    x, s = rand(2, 3, 4), rand(3, 4, seed=1)
    g = Graph()
    node = g.add_node("layer_norm", [g.add_input("x", "float32", ("N", 3, 4)), g.constant(s)], {"axis": 1},
                      num_outputs=3)
    assert [o.type.shape for o in node.outputs] == [("N", 3, 4), ("N", 1, 1), ("N", 1, 1)]
    y, mean, inv = get_op("layer_norm").run(node, [x, s])
    np.testing.assert_allclose(mean, x.mean((1, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv, 1 / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5), rtol=1e-4)
    np.testing.assert_allclose(y, (x - mean) * inv * s, rtol=1e-4, atol=1e-5)


def test_softmax_family_along_an_axis():
    x = rand(3, 4, 5) * 4
    (y,) = run("softmax", x, axis=1)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    (ly,) = run("log_softmax", x, axis=-1)
    np.testing.assert_allclose(ly, np.log(run("softmax", x, axis=-1)[0]), rtol=1e-4, atol=1e-5)
    (h,) = run("hardmax", np.array([[1, 5, 5], [0, 0, -1]], np.float32), axis=1)
    np.testing.assert_array_equal(h, [[0, 1, 0], [1, 0, 0]])


# ------------------------------------------------------------------ type inference, cost, contract


def test_conv_infers_symbolic_and_static_dims():
    g = Graph()
    x = g.add_input("x", "float32", ("N", 3, "H", 32))
    w = g.constant(rand(8, 3, 3, 3))
    node = g.add_node("conv", [x, w], {"strides": (1, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1)})
    n, m, h, width = node.outputs[0].type.shape
    assert (n, m, width) == ("N", 8, 16) and isinstance(h, str)


@pytest.mark.parametrize("attrs,message", [
    ({"strides": (1,), "pads": (0, 0, 0, 0), "dilations": (1, 1)}, "'strides' has 1 entries"),
    ({"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 2}, "channels"),
    ({"strides": (1, 1), "pads": (0, 0), "dilations": (1, 1)}, "'pads' has 2 entries"),
])
def test_conv_rejects_inconsistent_attributes(attrs, message):
    g = Graph()
    with pytest.raises(IRError, match=message):
        g.add_node("conv", [g.add_input("x", "float32", (1, 3, 8, 8)), g.constant(rand(4, 3, 3, 3))], attrs)


def test_conv_needs_its_window_attributes():
    g = Graph()
    with pytest.raises(IRError, match="needs attribute 'pads'"):
        g.add_node("conv", [g.add_input("x", "float32", (1, 3, 8, 8)), g.constant(rand(4, 3, 3, 3))],
                   {"strides": (1, 1), "dilations": (1, 1)})


def test_window_that_does_not_fit_is_an_error():
    g = Graph()
    with pytest.raises(IRError, match="does not fit"):
        g.add_node("max_pool", [g.add_input("x", "float32", (1, 1, 2, 2))], {"kernel": (3, 3), "strides": (1, 1),
                                                                             "pads": (0, 0, 0, 0)})


@pytest.mark.parametrize("n,k,s,pb,pe,d,ceil,want", [
    (10, 3, 2, 0, 0, 1, False, 4), (10, 3, 2, 0, 0, 1, True, 5), (9, 3, 2, 0, 0, 1, True, 4),
    (13, 2, 2, 0, 0, 1, True, 7), (10, 3, 3, 1, 1, 1, True, 4), (7, 3, 1, 0, 0, 3, False, 1),
    (5, 3, 3, 1, 1, 1, True, 2),  # ceil would give 3, but that window starts in the end padding
])
def test_window_out_size(n, k, s, pb, pe, d, ceil, want):
    assert window_out_size(n, k, s, pb, pe, d, ceil) == want


def test_conv_flops_count_multiply_adds_twice():
    g = Graph()
    node = g.add_node("conv", [g.add_input("x", "float32", (1, 8, 10, 10)), g.constant(rand(6, 4, 3, 3))],
                      {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 2})
    assert get_op("conv").flop_count(node) == 2 * 6 * 10 * 10 * 4 * 9


@pytest.mark.parametrize("equation,shapes,want", [
    ("ij,jk->ik", [(2, 3), (3, 4)], (2, 4)),
    ("ij,jk", [(2, 3), (3, 4)], (2, 4)),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (6, 3, 4)], (5, 6, 2, 4)),
    ("ii->i", [(3, 3)], (3,)),
    ("ij->", [(3, 3)], ()),
    ("ba", [(2, 3)], (3, 2)),
])
def test_einsum_infers_and_computes(equation, shapes, want):
    xs = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    (y,) = run("einsum", *xs, equation=equation)
    assert y.shape == want
    np.testing.assert_allclose(y, np.einsum(equation, *xs), rtol=1e-5, atol=1e-5)


def test_einsum_with_wrong_operand_count_is_an_error():
    g = Graph()
    with pytest.raises(IRError, match="names 2 operand"):
        g.add_node("einsum", [g.constant(rand(2, 2))], {"equation": "ij,jk->ik"})


def test_op_contract_names_and_attributes():
    # Code generators target these exact names and attributes.
    want = {
        "conv": {"strides", "pads", "dilations", "group"},
        "conv_transpose": {"strides", "pads", "dilations", "group", "output_padding"},
        "max_pool": {"kernel", "strides", "pads", "dilations", "ceil_mode", "with_indices", "storage_order"},
        "avg_pool": {"kernel", "strides", "pads", "ceil_mode", "count_include_pad", "dilations"},
        "lp_pool": {"kernel", "strides", "pads", "p", "ceil_mode", "dilations"},
        "batch_norm": {"epsilon"}, "instance_norm": {"epsilon"}, "layer_norm": {"axis", "epsilon"},
        "group_norm": {"num_groups", "epsilon"}, "lrn": {"size", "alpha", "beta", "bias"},
        "softmax": {"axis"}, "log_softmax": {"axis"}, "hardmax": {"axis"}, "einsum": {"equation"}, "matmul": set(),
    }
    for name, attrs in want.items():
        op = get_op(name)
        assert set(op.attrs) == attrs, name
        assert op.family == "nn" and op.doc
