"""Issue 9 item 5: the cpu_c kernels real models need, each generated (fallback="error") and checked against
the reference backend over shapes and attributes."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from backends.conformance import BackendConformance
from backends.cpu_c.helpers import compare

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.backends.cpu_c.table import supports
from hetflow.ir import Graph
from hetflow.ir.errors import InputError

RNG = np.random.default_rng(90)


def rand(*shape: int, dtype: str = "float32") -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-50, 50, shape).astype(dtype)
    return RNG.uniform(-2.0, 2.0, shape).astype(dtype)


def one(op: str, inputs: dict[str, np.ndarray], attrs: dict | None = None,
        consts: dict[str, np.ndarray] | None = None) -> tuple[Graph, dict[str, np.ndarray]]:
    """A graph of one node: ``inputs`` are graph inputs, then ``consts`` constants, in that order."""
    g = Graph(op)
    args = [g.add_input(k, str(v.dtype), v.shape) for k, v in inputs.items()]
    args += [g.constant(v, k) for k, v in (consts or {}).items()]
    g.outputs = list(g.add_node(op, args, attrs or {}).outputs[:1])
    return g, inputs


# ---------------------------------------------------------------- integer arithmetic
EDGES = {"int32": [np.iinfo(np.int32).min, np.iinfo(np.int32).max, -1, 0, 1, 7, -7],
         "int64": [np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 0, 1, 7, -7]}


def int_pair(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Random ints plus every pair of edge values: zero divisors, INT_MIN / -1, overflow."""
    a, b = zip(*itertools.product(EDGES[dtype], repeat=2))
    return (np.concatenate([rand(64, dtype=dtype), np.array(a, dtype)]),
            np.concatenate([rand(64, dtype=dtype), np.array(b, dtype)]))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("op,attrs", [("add", {}), ("sub", {}), ("mul", {}), ("div", {}), ("max", {}), ("min", {}),
                                      ("mod", {"fmod": False}), ("mod", {"fmod": True})])
def test_integer_arithmetic(op: str, attrs: dict, dtype: str) -> None:
    a, b = int_pair(dtype)
    with np.errstate(all="ignore"):
        compare(*one(op, {"a": a, "b": b}, attrs))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("op", ["equal", "less", "less_equal", "greater", "greater_equal"])
def test_integer_comparisons(op: str, dtype: str) -> None:
    a, b = int_pair(dtype)
    compare(*one(op, {"a": a, "b": b}))


def test_an_integer_shape_computation_fuses_into_one_loop() -> None:
    """Where, cast and arithmetic on int64 as exported shape subgraphs compute them, broadcast over a row."""
    g = Graph("ints")
    x = g.add_input("x", "int64", (4, 5))
    y = g.add_input("y", "int32", (5,))
    h = g.add_node("mul", [x, g.constant(np.array(3, np.int64))]).outputs[0]
    h = g.add_node("add", [h, g.add_node("cast", [y], {"to": "int64"}).outputs[0]]).outputs[0]
    m = g.add_node("greater", [h, g.constant(np.array(0, np.int64))]).outputs[0]
    h = g.add_node("where", [m, h, x]).outputs[0]
    h = g.add_node("div", [h, g.constant(np.array(2, np.int64))]).outputs[0]
    g.outputs = [g.add_node("cast", [h], {"to": "float32"}).outputs[0]]
    exe = compare(g, {"x": rand(4, 5, dtype="int64"), "y": rand(5, dtype="int32")})
    assert all(p.backend == "cpu_c" for p in exe.placement())


# ---------------------------------------------------------------- gather
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("idx_dtype", ["int32", "int64"])
def test_gather_any_axis_negative_indices(axis: int, idx_dtype: str) -> None:
    x = rand(4, 5, 6)
    n = x.shape[axis]
    idx = RNG.integers(-n, n, (2, 3)).astype(idx_dtype)
    compare(*one("gather", {"x": x}, {"axis": axis}, {"i": idx}))


def test_gather_scalar_index_runtime_indices_and_other_dtypes() -> None:
    compare(*one("gather", {"x": rand(3, 4)}, {"axis": 1}, {"i": np.array(-2, np.int64)}))
    for dtype in ("float32", "int64"):  # an embedding table, read by run-time indices
        g = Graph("gather_emb")
        i = g.add_input("i", "int64", (2, 3))
        g.outputs = g.add_node("gather", [g.constant(rand(10, 8, dtype=dtype)), i], {"axis": 0}).outputs
        compare(g, {"i": np.array([[1, -1, 3], [9, 0, 0]], np.int64)})


def test_a_gather_index_out_of_range_is_one_clear_error() -> None:
    g = Graph("gather_bad")
    i = g.add_input("i", "int64", (3,))
    g.outputs = g.add_node("gather", [g.constant(rand(10, 8)), i], {"axis": 0}).outputs
    exe = CpuCBackend().compile(g, fallback="error")
    with pytest.raises(InputError, match="out of range"):
        exe.run({"i": np.array([0, 10, 2], np.int64)})
    with pytest.raises(InputError, match="out of range"):
        exe.run({"i": np.array([0, -11, 2], np.int64)})
    out = exe.run({"i": np.array([0, 9, -10], np.int64)})  # the status does not stick
    assert next(iter(out.values())).shape == (3, 8)


def test_the_gather_status_belongs_to_the_run_that_set_it() -> None:
    """Two executables gathering on two threads at once, one always with a bad index: only that one raises,
    every time (a process-wide status let a run see, or take, the other's error)."""
    def gather_graph(name: str) -> Graph:
        g = Graph(name)
        i = g.add_input("i", "int64", (1 << 16,))
        g.outputs = g.add_node("gather", [g.constant(rand(64, 16)), i], {"axis": 0}).outputs
        return g

    good, bad = (CpuCBackend().compile(gather_graph(n), fallback="error") for n in ("gather_good", "gather_bad"))
    indices = RNG.integers(0, 64, 1 << 16)
    wrong = indices.copy()
    wrong[::7] = 64
    rounds = 150
    start = threading.Barrier(2)

    def loop(exe: object, feed: np.ndarray) -> list[bool]:
        start.wait()
        raised = []
        for _ in range(rounds):
            try:
                exe.run({"i": feed})  # type: ignore[attr-defined]
                raised.append(False)
            except InputError:
                raised.append(True)
        return raised

    with ThreadPoolExecutor(2) as pool:
        good_run = pool.submit(loop, good, indices)
        bad_run = pool.submit(loop, bad, wrong)
        assert not any(good_run.result()), "a run with valid indices saw the other thread's gather error"
        assert all(bad_run.result()), "a run with a bad index lost its error to the other thread"


# ---------------------------------------------------------------- pad
PADS = [(1, 2, 0, 3), (0, 0, 4, 4), (3, 1, 2, 0), (2, 2, 2, 2), (-1, 2, 0, -2), (1, -1, -1, 3), (5, 0, 0, 7)]


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap", "constant"])
@pytest.mark.parametrize("pads", PADS)
def test_pad_modes(mode: str, pads: tuple[int, ...]) -> None:
    x = rand(4, 5)
    if mode == "reflect" and any(max(p, 0) >= 4 for p in pads):
        pytest.skip("numpy reflects again past the edge; ONNX limits reflect pads to the axis length")
    compare(*one("pad", {"x": x}, {"pads": pads, "mode": mode, "value": 1.5}))


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_pad_on_images_and_ints(mode: str) -> None:
    compare(*one("pad", {"x": rand(2, 3, 6, 7)}, {"pads": (0, 0, 1, 2, 0, 0, 2, 1), "mode": mode}))
    compare(*one("pad", {"x": rand(3, 6, dtype="int64")}, {"pads": (1, 2, 2, 1), "mode": mode}))
    compare(*one("pad", {"x": rand(1, 6)}, {"pads": (0, 3, 0, 3), "mode": mode}))


# ---------------------------------------------------------------- instance / group norm
@pytest.mark.parametrize("shape", [(2, 6, 5), (3, 4, 7, 5), (1, 6, 2, 3, 4), (2, 3)])
def test_instance_norm(shape: tuple[int, ...]) -> None:
    c = shape[1]
    compare(*one("instance_norm", {"x": rand(*shape) * 3 + 1}, {"epsilon": 1e-4}, {"s": rand(c), "b": rand(c)}),
            rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,groups", [((2, 6, 5), 3), ((3, 8, 4, 5), 2), ((1, 6, 3, 3), 6), ((2, 4, 3), 1)])
def test_group_norm(shape: tuple[int, ...], groups: int) -> None:
    c = shape[1]
    compare(*one("group_norm", {"x": rand(*shape)}, {"num_groups": groups, "epsilon": 1e-5},
                 {"s": rand(c), "b": rand(c)}), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- resize
CTMS = ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel", "half_pixel_symmetric"]


def resize_attrs(mode: str, ctm: str, out: tuple[int, ...], x: tuple[int, ...], **extra: object) -> dict:
    scales = tuple(o / i for o, i in zip(out, x))
    return {"sizes": out, "scales": scales, "mode": mode, "coordinate_transformation_mode": ctm, **extra}


@pytest.mark.parametrize("ctm", [*CTMS, "tf_half_pixel_for_nn"])
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("out", [(2, 3, 10, 14), (2, 3, 3, 4)])
def test_resize_nearest(ctm: str, nearest_mode: str, out: tuple[int, ...]) -> None:
    x = rand(2, 3, 5, 7)
    compare(*one("resize", {"x": x}, resize_attrs("nearest", ctm, out, x.shape, nearest_mode=nearest_mode)))


@pytest.mark.parametrize("ctm", CTMS)
@pytest.mark.parametrize("out", [(1, 2, 9, 13), (1, 2, 3, 4), (1, 2, 5, 20)])
def test_resize_linear(ctm: str, out: tuple[int, ...]) -> None:
    x = rand(1, 2, 5, 7)
    compare(*one("resize", {"x": x}, resize_attrs("linear", ctm, out, x.shape)))


@pytest.mark.parametrize("extra", [{}, {"antialias": True}, {"exclude_outside": True}])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_cubic_antialias_and_exclude_outside(mode: str, extra: dict) -> None:
    x = rand(1, 2, 9, 8)
    for out in ((1, 2, 4, 5), (1, 2, 13, 11)):
        compare(*one("resize", {"x": x}, resize_attrs(mode, "half_pixel", out, x.shape, **extra)))


def test_resize_tf_crop_and_resize_inside_the_input_and_refusal_outside() -> None:
    x = rand(1, 1, 6, 6)
    roi = (0.0, 0.0, 0.2, 0.1, 1.0, 1.0, 0.8, 0.9)
    compare(*one("resize", {"x": x}, resize_attrs("linear", "tf_crop_and_resize", (1, 1, 4, 5), x.shape, roi=roi)))
    roi = (0.0, 0.0, -0.5, 0.1, 1.0, 1.0, 0.8, 1.5)
    g, _ = one("resize", {"x": x}, resize_attrs("linear", "tf_crop_and_resize", (1, 1, 4, 5), x.shape, roi=roi))
    assert "extrapolates" in (supports(g.nodes[0]) or "")
    compare(g, {"x": x}, fallback="reference")


def test_resize_1d_and_3d() -> None:
    x = rand(2, 3, 7)
    compare(*one("resize", {"x": x}, resize_attrs("linear", "align_corners", (2, 3, 12), x.shape)))
    x = rand(1, 2, 3, 4, 5)
    compare(*one("resize", {"x": x}, resize_attrs("linear", "half_pixel", (1, 2, 6, 8, 3), x.shape)))


# ---------------------------------------------------------------- transposed convolution
CONV_T = [
    # (x shape, w shape, group, strides, pads, output_padding, dilations)
    ((1, 3, 5, 5), (3, 4, 3, 3), 1, (1, 1), (0, 0, 0, 0), (0, 0), (1, 1)),
    ((2, 4, 4, 5), (4, 3, 3, 3), 2, (2, 2), (1, 1, 1, 1), (1, 1), (1, 1)),
    ((1, 2, 3, 3), (2, 5, 2, 4), 1, (3, 2), (0, 1, 2, 0), (2, 1), (1, 2)),
    ((1, 6, 4, 4), (6, 1, 3, 3), 6, (2, 1), (1, 0, 0, 1), (0, 0), (2, 1)),
    ((2, 3, 7), (3, 2, 4), 1, (2,), (1, 2), (1,), (1,)),
]


@pytest.mark.parametrize("case", CONV_T, ids=[str(i) for i in range(len(CONV_T))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose(case: tuple, bias: bool) -> None:
    xs, ws, group, strides, pads, output_padding, dilations = case
    consts = {"w": rand(*ws)}
    if bias:
        consts["b"] = rand(ws[1] * group)
    attrs = {"strides": strides, "pads": pads, "output_padding": output_padding, "dilations": dilations,
             "group": group}
    compare(*one("conv_transpose", {"x": rand(*xs)}, attrs, consts), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- 3-D convolution and pooling
CONV3 = [
    ((1, 2, 5, 6, 7), (4, 2, 3, 3, 3), 1, (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1)),
    ((2, 4, 6, 5, 5), (6, 2, 2, 3, 1), 2, (2, 1, 2), (0, 1, 0, 1, 0, 0), (1, 2, 1)),
    ((1, 3, 4, 4, 4), (3, 1, 3, 3, 3), 3, (1, 2, 1), (1, 0, 1, 1, 2, 1), (1, 1, 1)),
]


@pytest.mark.parametrize("case", CONV3, ids=[str(i) for i in range(len(CONV3))])
def test_conv3d(case: tuple) -> None:
    xs, ws, group, strides, pads, dilations = case
    attrs = {"strides": strides, "pads": pads, "dilations": dilations, "group": group}
    compare(*one("conv", {"x": rand(*xs)}, attrs, {"w": rand(*ws), "b": rand(ws[0])}), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("pads,include,ceil", [((0,) * 6, False, False), ((1, 0, 1, 1, 1, 0), False, False),
                                               ((1, 1, 1, 1, 1, 1), True, False), ((0,) * 6, False, True)])
def test_pool3d(op: str, pads: tuple[int, ...], include: bool, ceil: bool) -> None:
    attrs = {"kernel": (2, 3, 2), "strides": (2, 2, 1), "pads": pads, "ceil_mode": ceil}
    if op == "avg_pool":
        attrs["count_include_pad"] = include
    compare(*one(op, {"x": rand(2, 3, 5, 7, 6)}, attrs))


def test_every_new_kernel_is_costed() -> None:
    """The cost model charges each new kernel something (issue 9 item 5 (c)): never a free node."""
    from hetflow.backends.cpu_c.cost import kernel_estimate
    from hetflow.targets import detect_host

    host = detect_host()
    graphs = [
        one("gather", {"x": rand(4, 5)}, {"axis": 1}, {"i": np.array([0, 2], np.int64)})[0],
        one("pad", {"x": rand(4, 5)}, {"pads": (1, 1, 1, 1), "mode": "reflect"})[0],
        one("instance_norm", {"x": rand(2, 3, 4)}, {}, {"s": rand(3), "b": rand(3)})[0],
        one("group_norm", {"x": rand(2, 4, 4)}, {"num_groups": 2}, {"s": rand(4), "b": rand(4)})[0],
        one("resize", {"x": rand(1, 1, 4, 4)}, resize_attrs("linear", "half_pixel", (1, 1, 8, 8), (1, 1, 4, 4)))[0],
        one("conv_transpose", {"x": rand(1, 2, 4, 4)}, {"strides": (2, 2), "pads": (0,) * 4, "output_padding": (0, 0),
                                                         "dilations": (1, 1)}, {"w": rand(2, 3, 3, 3)})[0],
        one("conv", {"x": rand(1, 2, 4, 4, 4)}, {"strides": (1,) * 3, "pads": (0,) * 6, "dilations": (1,) * 3},
            {"w": rand(3, 2, 2, 2, 2)})[0],
        one("max_pool", {"x": rand(1, 2, 4, 4, 4)}, {"kernel": (2, 2, 2), "strides": (2, 2, 2), "pads": (0,) * 6})[0],
        one("add", {"a": rand(8, dtype="int64"), "b": rand(8, dtype="int64")})[0],
    ]
    for g in graphs:
        node = g.nodes[0]
        assert supports(node) is None, node.op
        estimate = kernel_estimate(node, host)
        assert estimate is not None and estimate.seconds > 0, node.op


def test_direct_loop_nests_cost_their_own_measured_rate() -> None:
    """Transposed and 3-D convolutions run as direct loops: costed at their own measured rate, slower than GEMM's."""
    from hetflow.backends.cpu_c.cost import device_threads, direct_efficiency, host_calibration, is_direct
    from hetflow.targets import detect_host

    host = detect_host()
    eff = direct_efficiency(device_threads(host))
    assert 0 < eff <= host_calibration(device_threads(host)).compute_eff["conv"] * 1.5
    g, _ = one("conv_transpose", {"x": rand(1, 2, 4, 4)}, {"strides": (1, 1), "pads": (0,) * 4,
                                                           "output_padding": (0, 0), "dilations": (1, 1)},
               {"w": rand(2, 3, 3, 3)})
    assert is_direct(g.nodes[0])
    assert not is_direct(one("conv", {"x": rand(1, 2, 4, 4)}, {"strides": (1, 1), "pads": (0,) * 4,
                                                               "dilations": (1, 1)}, {"w": rand(3, 2, 3, 3)})[0].nodes[0])


class TestCpuCConformanceOnTheNewKernels(BackendConformance):
    """The backend conformance suite again, its program made of the new kernels (and a symbolic batch)."""

    backend_name = "cpu_c"
    rtol = atol = 1e-4

    def small_graph(self) -> Graph:
        rng = np.random.default_rng(3)
        g = Graph("coverage9")
        x = g.add_input("x", "float32", ("N", 2, 6, 6))
        h = g.add_node("pad", [x], {"pads": (0, 0, 1, 2, 0, 0, 2, 1), "mode": "reflect"}).outputs[0]  # [N, 2, 9, 9]
        h = g.add_node("conv_transpose", [h, g.constant(rng.standard_normal((2, 3, 3, 3)).astype(np.float32))],
                       {"strides": (2, 2), "pads": (1, 1, 1, 1), "output_padding": (1, 1), "dilations": (1, 1)}
                       ).outputs[0]  # [N, 3, 18, 18]
        h = g.add_node("instance_norm", [h, g.constant(np.ones(3, np.float32)), g.constant(np.zeros(3, np.float32))]
                       ).outputs[0]
        h = g.add_node("resize", [h], {"sizes": (-1, 3, 9, 12), "scales": (1.0, 1.0, 0.5, 2 / 3), "mode": "linear",
                                       "coordinate_transformation_mode": "half_pixel"}).outputs[0]
        h = g.add_node("gather", [h, g.constant(np.array([2, -1, 0], np.int64))], {"axis": 3}).outputs[0]
        g.outputs = [g.add_node("relu", [h], output_names=["y"]).outputs[0]]
        return g


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis: int) -> None:
    x = rand(4, 5, 6)
    shape = [4, 5, 6]
    shape[axis] = 3
    n = x.shape[axis]
    idx = RNG.integers(-n, n, shape).astype(np.int64)
    compare(*one("gather_elements", {"x": x}, {"axis": axis}, {"i": idx}))
    compare(*one("gather_elements", {"x": rand(4, 5, dtype="int64")}, {"axis": axis % 2},
                 {"i": RNG.integers(0, 4, (4, 5)).astype(np.int32)}))


def test_isinf() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1e38, -3.0], np.float32)
    for pos, neg in itertools.product((True, False), repeat=2):
        compare(*one("isinf", {"x": x}, {"detect_positive": pos, "detect_negative": neg}))


@pytest.mark.parametrize("rank", [1, 2])
def test_a_convolution_with_a_weight_computed_at_run_time(rank: int) -> None:
    """The weight an input (a dynamic filter): the direct loop nest, since nothing can be packed in advance."""
    g = Graph("conv_dynamic_w")
    x = g.add_input("x", "float32", (2, 4) + (7,) * rank)
    w = g.add_input("w", "float32", (6, 2) + (3,) * rank)
    attrs = {"strides": (2,) * rank, "pads": (1, 0) * rank, "dilations": (1,) * rank, "group": 2}
    g.outputs = g.add_node("conv", [x, w, g.constant(rand(6))], attrs).outputs
    compare(g, {"x": rand(2, 4, *(7,) * rank), "w": rand(6, 2, *(3,) * rank)}, rtol=1e-4, atol=1e-5)
