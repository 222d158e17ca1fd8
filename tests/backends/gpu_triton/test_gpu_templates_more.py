"""The kernels added after the first table: gather, integer elementwise, softmax over any axis, split-K matmul.

Each runs in Triton's interpreter on small shapes and is compared with the NumPy reference backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check

from hetflow.backends.gpu_triton import GpuTritonBackend, table
from hetflow.ir import Graph

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("axis,shape", [(0, (7, 5, 9)), (1, (3, 6, 10)), (-2, (2, 3, 4100, 3))])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_over_a_non_last_axis_is_read_strided(op: str, axis: int, shape: tuple[int, ...]) -> None:
    g = Graph(op)
    x = g.add_input("x", "float32", shape)
    g.outputs = [g.add_node(op, [x], {"axis": axis}).outputs[0]]
    exe = check(g)
    assert [k.template for k in exe.kernels()] == ["rownorm"]  # no transpose kernels around it


def embedding(dtype: str = "float32", index_dtype: str = "int64") -> Graph:
    """Token ids -> rows of a table, scaled and shifted: the lookup and its pointwise consumers in one kernel."""
    g = Graph("embed")
    ids = g.add_input("ids", index_dtype, (2, 7))
    weights = g.constant(RNG.standard_normal((50, 16)).astype(dtype), "table")
    h = g.add_node("gather", [weights, ids], {"axis": 0}).outputs[0]
    h = g.add_node("mul", [h, g.constant(np.asarray(4.0, dtype))]).outputs[0]
    g.outputs = [g.add_node("add", [h, g.constant(RNG.standard_normal((7, 16)).astype(dtype))]).outputs[0]]
    return g


@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
def test_gather_embedding_lookup_with_negative_ids(index_dtype: str) -> None:
    g = embedding(index_dtype=index_dtype)
    ids = RNG.integers(-50, 50, (2, 7)).astype(index_dtype)  # negative ids count from the end, as in NumPy
    exe = check(g, {"ids": ids})
    assert [k.template for k in exe.kernels()] == ["gather"]  # the scale and the position add fused into it


def test_gather_on_an_inner_axis_of_half_data() -> None:
    g = Graph("take")
    x = g.add_input("x", "float16", (3, 11, 5))
    idx = g.constant(np.array([[4, 0], [10, -1], [2, 2]], np.int64), "idx")
    g.outputs = [g.add_node("gather", [x, idx], {"axis": 1}).outputs[0]]
    check(g, dtype="float16")


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_elementwise_chain_is_exact(dtype: str) -> None:
    g = Graph("ints")
    a = g.add_input("a", dtype, (4, 33))
    b = g.add_input("b", dtype, (33,))
    h = g.add_node("mul", [a, b]).outputs[0]
    h = g.add_node("sub", [h, g.constant(np.asarray(7, dtype))]).outputs[0]
    h = g.add_node("max", [h, g.add_node("neg", [a]).outputs[0]]).outputs[0]
    h = g.add_node("abs", [g.add_node("add", [h, b]).outputs[0]]).outputs[0]
    g.outputs = [h, g.add_node("cast", [h], {"to": "float32"}).outputs[0]]
    big = np.iinfo(dtype).max // 3  # products wrap around exactly as NumPy's do
    feeds = {"a": RNG.integers(-big, big, (4, 33)).astype(dtype), "b": RNG.integers(-9, 9, (33,)).astype(dtype)}
    exe = check(g, feeds)
    got = exe.run(feeds)
    from hetflow.backends.reference import ReferenceExecutable

    want = ReferenceExecutable(g).run(feeds)
    name = g.outputs[0].name
    assert got[name].dtype == np.dtype(dtype) and np.array_equal(got[name], want[name])  # bit-exact, not close


def test_integer_data_movement_is_exact() -> None:
    g = Graph("int-move")
    x = g.add_input("x", "int64", (3, 4))
    t = g.add_node("transpose", [x], {"perm": (1, 0)}).outputs[0]
    g.outputs = [g.add_node("concat", [t, t], {"axis": 0}).outputs[0]]
    feeds = {"x": RNG.integers(-(2**62), 2**62, (3, 4)).astype(np.int64)}  # beyond float's 53-bit mantissa
    exe = GpuTritonBackend().compile(g)
    from hetflow.backends.reference import ReferenceExecutable

    assert np.array_equal(exe.run(feeds)[g.outputs[0].name], ReferenceExecutable(g).run(feeds)[g.outputs[0].name])


def test_integer_ops_the_table_lacks_say_why() -> None:
    g = Graph("idiv")
    a = g.add_input("a", "int32", (4,))
    node = g.add_node("div", [a, a])
    assert "int32" in (table.supports(node) or "")


def skinny(m: int = 3, k: int = 1000, n: int = 40, epilogue: bool = False) -> Graph:
    """A skinny GEMM (M small, K large): a batch-1 decode step's projection."""
    g = Graph("skinny")
    x = g.add_input("x", "float32", (m, k))
    h = g.add_node("matmul", [x, g.constant(RNG.standard_normal((k, n)).astype(np.float32))]).outputs[0]
    g.outputs = [g.add_node("relu", [h]).outputs[0] if epilogue else h]
    return g


@pytest.mark.parametrize("split", [4, 16])
def test_split_k_matmul_config_equals_the_reference(monkeypatch: pytest.MonkeyPatch, split: int) -> None:
    """Split-K is a configuration of the matmul template (the tuner's space offers it for skinny GEMMs): forced
    here as the default, the programs' partial sums add up to the reference product."""
    from hetflow.backends.gpu_triton import tuning

    plain = tuning.default_config

    def with_split(template: str, problem: tuple[int, ...], dtype: str, interpret: bool) -> tuning.Config:
        found = plain(template, problem, dtype, interpret)
        return tuning._fit(found.with_blocks(SPLIT_K=split, BK=32), template, problem) if template == "matmul" \
            else found

    monkeypatch.setattr(tuning, "default_config", with_split)
    exe = check(skinny(), scale=10.0)  # partial sums are added in another order: float32 rounding, K = 1000
    (kernel,) = exe.kernels()
    assert kernel.config.split_k == split and kernel.grid[2] == split
    assert "tl.atomic_add" in kernel.source
    assert exe.run({"x": np.zeros((3, 1000), np.float32)})[exe.graph.outputs[0].name].max() == 0.0  # zeroed each run


def test_split_k_is_offered_only_where_it_is_correct() -> None:
    from hetflow.backends.gpu_triton import tuning
    from hetflow.backends.gpu_triton.codegen import splittable
    from hetflow.backends.gpu_triton.fusion import fuse

    problem = (3, 40, 1000)
    assert any(c.split_k > 1 for c in tuning.candidates("matmul", problem, splittable=True))
    assert all(c.split_k == 1 for c in tuning.candidates("matmul", problem, splittable=False))
    for epilogue, expected in ((False, True), (True, False)):  # an epilogue applies to whole sums only
        g = skinny(epilogue=epilogue)
        units = [u for u in fuse(g.copy(), {}).units if u.kind == "matmul"]
        assert splittable(units[0]) is expected


@pytest.mark.parametrize("target,sm", [("nvidia/h200", 90), ("nvidia/a100", 80)])
def test_a_split_k_config_compiles_for_hopper_and_ampere(monkeypatch: pytest.MonkeyPatch, tmp_path, target: str,
                                                         sm: int) -> None:
    """The atomic partial-sum store is real code for the GPU, not only for the interpreter."""
    from hetflow.backends.gpu_triton import tuning
    from hetflow.backends.gpu_triton.aot import export_aot

    plain = tuning.default_config
    monkeypatch.setattr(tuning, "default_config", lambda t, p, d, i: tuning._fit(
        plain(t, p, d, i).with_blocks(SPLIT_K=8), t, p) if t == "matmul" else plain(t, p, d, i))
    report = export_aot(skinny(m=1, k=4096, n=256), tmp_path, target)
    (row,) = report.kernels
    assert "SPLIT_K=8" in row.config and report.sm == sm and row.files


def test_an_integer_gather_is_left_to_the_host() -> None:
    g = Graph("shape-arith")
    shape = g.add_input("shape", "int64", (4,))
    node = g.add_node("gather", [shape, g.constant(np.array([0, 2], np.int64))], {"axis": 0})
    assert "embedding lookup" in (table.supports(node) or "")
