"""The engine models equal the IR's integer semantics bit for bit (int8 in, int32 accumulate, SDP rescale)."""

from __future__ import annotations

import numpy as np
import pytest
from nvdla_helpers import config, conv_requant, int8, run_both

from hetflow.backends.nvdla.hw import sweep_config
from hetflow.ir import Graph
from hetflow.ir.ops.quant import fixed_point

SHAPES = [  # (C, K, H, W, kernel, stride, pad): channel counts off the atoms (8/64, 8/32), odd sizes, strides
    (3, 5, 11, 9, 3, 1, 1), (13, 33, 8, 8, 3, 2, 1), (70, 40, 7, 5, 1, 1, 0), (8, 8, 9, 9, 5, 2, 2),
    (16, 65, 6, 6, 7, 3, 3), (1, 3, 12, 7, 2, 2, 0),
]


@pytest.mark.parametrize("preset", ["nvidia/nvdla-full", "nvidia/nvdla-small"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv_and_sdp_are_bit_exact(preset, shape):
    c, k, h, w, kernel, stride, pad = shape
    rng = np.random.default_rng(sum(shape))
    g = Graph("conv")
    x = g.add_input("x", "int8", (1, c, h, w))
    g.outputs = [conv_requant(g, x, k, kernel, stride, pad, rng, relu=bool(k % 2))]
    feeds = {"x": int8(rng, (1, c, h, w))}
    want, got, exe = run_both(g, feeds, config(preset))
    name = g.outputs[0].name
    assert got[name].dtype == np.int8
    np.testing.assert_array_equal(got[name], want[name])
    assert len(np.unique(want[name])) > 8  # the rescale keeps values in range, so the comparison means something
    assert [op.engine for op in exe.loadable.ops] == ["CONV", "SDP"]


@pytest.mark.parametrize("kernel,stride,pad", [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2)])
def test_pdp_max_pool_fused_behind_sdp_is_bit_exact(kernel, stride, pad):
    rng = np.random.default_rng(kernel * 10 + stride)
    g = Graph("pool")
    x = g.add_input("x", "int8", (2, 10, 13, 11))
    y = conv_requant(g, x, 12, 3, 1, 1, rng, relu=True)
    pool = g.add_node("max_pool", [y], {"kernel": (kernel, kernel), "strides": (stride, stride), "pads": (pad,) * 4,
                                        "dilations": None}, name="pool")
    g.outputs = [pool.outputs[0]]
    want, got, exe = run_both(g, {"x": int8(rng, (2, 10, 13, 11))}, config())
    np.testing.assert_array_equal(got["pool"], want["pool"])
    assert exe.loadable.ops[-1].engine == "PDP" and exe.loadable.ops[-1].fused_parent == 1


def test_residual_sum_rides_in_the_sdp_and_is_bit_exact():
    rng = np.random.default_rng(7)
    g = Graph("residual")
    x = g.add_input("x", "int8", (1, 24, 9, 9))
    a = conv_requant(g, x, 24, 3, 1, 1, rng, relu=True, name="a")
    b = conv_requant(g, a, 24, 1, 1, 0, rng, name="b")
    mult, shift = fixed_point(np.array([0.7]))
    s = g.add_node("qadd", [b, x], {"a_multiplier": int(mult[0]), "b_multiplier": int(mult[0] // 2),
                                    "shift": int(shift[0]), "relu": True}, name="sum")
    g.outputs = [s.outputs[0]]
    want, got, exe = run_both(g, {"x": int8(rng, (1, 24, 9, 9))}, config())
    np.testing.assert_array_equal(got["sum"], want["sum"])
    sdp = exe.loadable.ops[-1]
    assert sdp.engine == "SDP" and sdp.params["ew"] and sdp.nodes == ["b", "sum"]


def test_standalone_eltwise_and_in_place_concat_are_bit_exact():
    rng = np.random.default_rng(3)
    g = Graph("fire")
    x = g.add_input("x", "int8", (1, 16, 6, 6))
    y = g.add_input("y", "int8", (1, 16, 6, 6))
    mult, shift = fixed_point(np.array([0.9]))
    s = g.add_node("qadd", [x, y], {"a_multiplier": int(mult[0]), "b_multiplier": int(mult[0]),
                                    "shift": int(shift[0])}, name="sum").outputs[0]
    e1 = conv_requant(g, s, 8, 1, 1, 0, rng, relu=True, name="e1")
    e3 = conv_requant(g, s, 12, 3, 1, 1, rng, relu=True, name="e3")
    cat = g.add_node("concat", [e1, e3, x], {"axis": 1}, name="cat").outputs[0]
    g.outputs = [cat]
    feeds = {"x": int8(rng, (1, 16, 6, 6)), "y": int8(rng, (1, 16, 6, 6))}
    want, got, exe = run_both(g, feeds, config())
    np.testing.assert_array_equal(got["cat"], want["cat"])
    assert not any(op.name == "cat" for op in exe.loadable.ops)  # written in place by its producers and the host


def test_matmul_runs_as_a_one_by_one_convolution():
    rng = np.random.default_rng(5)
    g = Graph("fc")
    x = g.add_input("x", "int8", (3, 100))
    mult, shift = fixed_point(rng.uniform(0.5, 1.5, 37) / 3000)
    fc = g.add_node("matmul_requant", [x, g.constant(int8(rng, (100, 37)), "w"),
                                       g.constant(rng.integers(-900, 900, 37).astype(np.int32), "b"),
                                       g.constant(mult.astype(np.int32), "m"), g.constant(shift.astype(np.int32), "s")],
                    name="fc")
    g.outputs = [fc.outputs[0]]
    want, got, _ = run_both(g, {"x": int8(rng, (3, 100))}, config("nvidia/nvdla-small"))
    np.testing.assert_array_equal(got["fc"], want["fc"])


def test_weights_that_do_not_fit_the_buffer_are_split_and_stay_exact():
    rng = np.random.default_rng(11)
    g = Graph("big")
    x = g.add_input("x", "int8", (1, 64, 6, 6))
    g.outputs = [conv_requant(g, x, 96, 3, 1, 1, rng)]
    tiny = sweep_config(64, 8, 1.0)  # 8 KiB of convolution buffer, 96 x 64 x 3 x 3 = 54 KiB of weights
    want, got, exe = run_both(g, {"x": int8(rng, (1, 64, 6, 6))}, tiny)
    np.testing.assert_array_equal(got["conv"], want["conv"])
    splits = exe.loadable.ops[0].params["k_splits"]
    assert len(splits) > 1 and splits[0][0] == 0 and splits[-1][1] == 96
    assert all((b - a) % tiny.atomic_k == 0 for a, b in splits[:-1])


def test_weights_are_stored_padded_to_the_atoms():
    rng = np.random.default_rng(2)
    g = Graph("pad")
    x = g.add_input("x", "int8", (1, 3, 5, 5))
    g.outputs = [conv_requant(g, x, 5, 3, 1, 1, rng)]
    _, _, exe = run_both(g, {"x": int8(rng, (1, 3, 5, 5))}, config())
    assert exe.blobs["op0.weights"].shape == (32, 64, 3, 3)  # atomic K 32, atomic C 64 (nv_full.spec)
    assert exe.loadable.ops[0].params["padded"] == [32, 64]


def test_a_fused_pool_listed_late_does_not_overwrite_a_live_surface():
    """The pool is fused behind conv a but comes after conv b in the graph: its output is written when a's pipeline
    runs, so memory planning must keep it off h, which b still reads."""
    rng = np.random.default_rng(4)
    g = Graph("late_pool")
    x = g.add_input("x", "int8", (1, 8, 8, 8))
    h = conv_requant(g, x, 8, 3, 1, 1, rng, name="h")
    a = conv_requant(g, h, 8, 1, 1, 0, rng, name="a")
    b = conv_requant(g, h, 8, 3, 1, 1, rng, name="b")
    p = g.add_node("max_pool", [a], {"kernel": (2, 2), "strides": (1, 1), "pads": (0, 1, 0, 1), "dilations": None},
                   name="p").outputs[0]
    g.outputs = [p, b]
    want, got, exe = run_both(g, {"x": int8(rng, (1, 8, 8, 8))}, config())
    assert exe.loadable.ops[-1].name == "p" and exe.loadable.ops[-1].fused_parent == 3
    for name in ("p", "b"):
        np.testing.assert_array_equal(got[name], want[name])
    # A pipeline streams: what it writes never shares bytes with what it reads (CONV reads x while SDP writes h).
    ops, tensors = exe.loadable.ops, {t.name: t for t in exe.loadable.tensors}
    head = {}
    for op in ops:
        head[op.id] = head[op.fused_parent] if op.fused_parent is not None else op.id
    for h_id in set(head.values()):
        chain = [op for op in ops if head[op.id] == h_id]
        reads = [tensors[t] for op in chain for t in op.inputs]
        writes = [tensors[op.output] for op in chain if op.output]
        for r in reads:
            for w in writes:
                assert r.offset + r.nbytes <= w.offset or w.offset + w.nbytes <= r.offset, (r.name, w.name)


@pytest.mark.parametrize("order", ["main_first", "shortcut_first"])
def test_projection_shortcut_sum_fuses_once_behind_the_later_conv(order):
    """Both operands of the residual sum are convolutions (ResNet's projection blocks): the sum rides in the SDP of
    whichever conv comes second, exactly once, and the program is bit exact."""
    rng = np.random.default_rng(8)
    g = Graph("projection")
    x = g.add_input("x", "int8", (1, 16, 8, 8))
    first, second = ("main", "short") if order == "main_first" else ("short", "main")
    outs = {}
    for name in (first, second):
        outs[name] = conv_requant(g, x, 32, 3 if name == "main" else 1, 2, 1 if name == "main" else 0, rng, name=name)
    mult, shift = fixed_point(np.array([0.6]))
    s = g.add_node("qadd", [outs["main"], outs["short"]], {"a_multiplier": int(mult[0]), "b_multiplier": int(mult[0]),
                                                          "shift": int(shift[0]), "relu": True}, name="sum")
    g.outputs = [s.outputs[0]]
    want, got, exe = run_both(g, {"x": int8(rng, (1, 16, 8, 8))}, config())
    np.testing.assert_array_equal(got["sum"], want["sum"])
    fused = [op for op in exe.loadable.ops if "sum" in op.nodes]
    assert len(fused) == 1 and fused[0].nodes == [second, "sum"]


def test_flatten_is_a_view_and_the_dense_layers_read_it_bit_exact():
    """conv -> pool -> flatten -> dense -> dense: the flatten is no op (the cube's bytes read as C*H*W channels)."""
    rng = np.random.default_rng(12)
    g = Graph("tail")
    x = g.add_input("x", "int8", (1, 20, 6, 6))
    h = conv_requant(g, x, 12, 3, 1, 1, rng, relu=True)
    h = g.add_node("max_pool", [h], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0)}, name="pool").outputs[0]
    f = g.add_node("reshape", [h], {"shape": (1, 108)}, name="flat").outputs[0]
    for i, (cin, cout) in enumerate([(108, 30), (30, 10)]):
        m, s = fixed_point(rng.uniform(0.5, 2.0, cout) / (cin * 60))
        f = g.add_node("matmul_requant", [f, g.constant(int8(rng, (cin, cout)), f"w{i}"),
                                          g.constant(rng.integers(-900, 900, cout).astype(np.int32), f"b{i}"),
                                          g.constant(m.astype(np.int32), f"m{i}"), g.constant(s.astype(np.int32), f"s{i}")],
                       {"relu": i == 0}, name=f"fc{i}").outputs[0]
    g.outputs = [f, h]  # the pooled cube is an output too: the view must not let its memory be reused early
    want, got, exe = run_both(g, {"x": int8(rng, (1, 20, 6, 6))}, config("nvidia/nvdla-small"))
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    assert [op.engine for op in exe.loadable.ops] == ["CONV", "SDP", "PDP", "CONV", "SDP", "CONV", "SDP"]
    flat = exe.loadable.tensor("flat")
    assert flat.offset == exe.loadable.tensor("pool").offset and flat.dims == (1, 108, 1, 1)
