"""IR data-movement ops: type inference (static and symbolic dims), errors, and NumPy semantics on hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from hetflow.backends.reference.interpreter import ReferenceExecutable
from hetflow.ir import Graph, IRError, get_op, verify

R = np.random.default_rng(3)


def infer(op: str, shapes: list, attrs: dict | None = None, consts: dict | None = None, dtype: str = "float32"):
    """Output types of one ``op`` node over inputs of the given shapes (``consts``: index -> array)."""
    g = Graph("t")
    inputs = []
    for i, shape in enumerate(shapes):
        if consts and i in consts:
            inputs.append(g.constant(consts[i]))
        else:
            inputs.append(g.add_input(f"x{i}", dtype if i == 0 else "int64", shape))
    node = g.add_node(op, inputs, attrs or {})
    g.outputs = list(node.outputs)
    verify(g)
    return [o.type.shape for o in node.outputs]


def run(op: str, arrays: list, attrs: dict | None = None) -> list[np.ndarray]:
    """Build a one-node graph over runtime inputs and run it through the reference interpreter."""
    g = Graph("t")
    inputs = [g.add_input(f"x{i}", str(a.dtype), a.shape) for i, a in enumerate(arrays)]
    node = g.add_node(op, inputs, attrs or {})
    g.outputs = list(node.outputs)
    out = ReferenceExecutable(g).run({f"x{i}": a for i, a in enumerate(arrays)})
    return [out[o.name] for o in g.outputs]


# ---------------------------------------------------------------- type inference
@pytest.mark.parametrize("op,shapes,attrs,consts,want", [
    ("concat", [("N", 3), ("N", 5)], {"axis": -1}, None, [("N", 8)]),
    ("concat", [(2, "S"), (3, "S")], {"axis": 0}, None, [(5, "S")]),
    ("concat", [("N", 3), (2, 3)], {"axis": 0}, None, [("concat_d0", 3)]),
    ("split", [("N", 6)], {"axis": 1, "sizes": (2, 4)}, None, [("N", 2), ("N", 4)]),
    ("slice", [("N", 10)], {"starts": (0, 2), "ends": (2**63 - 1, -1), "axes": (0, 1), "steps": (1, 3)}, None,
     [("N", 3)]),
    ("slice", [("N", 10)], {"starts": (1,), "ends": (5,), "axes": (0,), "steps": (1,)}, None, [("slice_d0", 10)]),
    ("slice", [(10,)], {"starts": (-1,), "ends": (-100,), "axes": (0,), "steps": (-4,)}, None, [(3,)]),
    ("gather", [("N", 5, 4), (2, 3)], {"axis": 1}, None, [("N", 2, 3, 4)]),
    ("gather", [(5, 4), ()], {"axis": 0}, None, [(4,)]),
    ("gather_nd", [(2, 3, 4), (2, 1)], {"batch_dims": 1}, None, [(2, 4)]),
    ("pad", [("N", 3)], {"pads": (0, 1, 0, 2)}, None, [("N", 6)]),
    ("pad", [("N", 3)], {"pads": (1, 0, 0, 0)}, None, [("pad_d0", 3)]),
    ("expand", [("N", 1)], {"shape": (1, 4)}, None, [("N", 4)]),
    ("tile", [("N", 3)], {"repeats": (1, 2)}, None, [("N", 6)]),
    ("depth_to_space", [("N", 8, 2, 3)], {"blocksize": 2}, None, [("N", 2, 4, 6)]),
    ("space_to_depth", [("N", 2, 4, 6)], {"blocksize": 2}, None, [("N", 8, 2, 3)]),
    ("resize", [("N", 3, 4, 5)], {"sizes": (-1, 3, 8, 10), "scales": (1, 1, 2, 2)}, None, [("N", 3, 8, 10)]),
    ("top_k", [("N", 7)], {"k": 3}, None, [("N", 3), ("N", 3)]),
    ("non_zero", [(3, 4)], {}, None, [(2, "non_zero_d1")]),
    ("shape", [("N", 3, 4)], {"start": 1}, None, [(2,)]),
    ("size", [("N", 3)], {}, None, [()]),
    ("compress", [(4, 5), (5,)], {"axis": 1}, {1: np.array([1, 0, 1, 1, 0], bool)}, [(4, 3)]),
    ("compress", [(4, 5), (5,)], {"axis": None}, None, [("compress_d0",)]),
    ("constant_of_shape", [(2,)], {}, {0: np.array([3, 2])}, [(3, 2)]),
    ("constant_of_shape", [(2,)], {}, None, [("constant_of_shape_d0", "constant_of_shape_d1")]),
    ("range", [(), (), ()], {}, {0: np.array(1), 1: np.array(10), 2: np.array(4)}, [(3,)]),
    ("one_hot", [("N", 2), (2,)], {"depth": 5, "axis": 1}, None, [("N", 5, 2)]),
    ("unique", [(4, 6)], {"axis": 1}, None, [(4, "unique_d0"), ("unique_d0",), (6,), ("unique_d0",)]),
    ("reshape", [("N", 1, "S")], {"shape": (0, -1)}, None, [("N", "S")]),
    ("reshape", [("N", 4, 6)], {"shape": (0, 2, -1)}, None, [("N", 2, 12)]),
])
def test_type_inference(op, shapes, attrs, consts, want):
    assert infer(op, shapes, attrs, consts) == want


@pytest.mark.parametrize("op,shapes,attrs,message", [
    ("concat", [(2, 3), (2, 4)], {"axis": 0}, "differ in dim 1"),
    ("concat", [(2, 3), (2,)], {"axis": 0}, "differ in rank"),
    ("split", [(2, 6)], {"axis": 1, "sizes": (2, 3)}, "do not add up"),
    ("slice", [(4,)], {"starts": (0,), "ends": (1,), "axes": (0,), "steps": (0,)}, "step is 0"),
    ("pad", [(2, 3)], {"pads": (1, 1)}, "need 4"),
    ("tile", [(2, 3)], {"repeats": (2,)}, "1 repeats for rank 2"),
    ("depth_to_space", [(1, 6, 2, 2)], {"blocksize": 2}, "not divisible"),
    ("space_to_depth", [(1, 1, 3, 4)], {"blocksize": 2}, "not divisible"),
    ("top_k", [(2, 3)], {"k": 4}, "exceeds dim"),
    ("expand", [(2, 3)], {"shape": (4, 3)}, "do not broadcast"),
    ("gather", [(2, 3), (1,)], {"axis": 2}, "out of range"),
    ("eye_like", [(2, 3, 4)], {}, "must be 2-D"),
])
def test_bad_attributes_raise_naming_the_node(op, shapes, attrs, message):
    with pytest.raises(IRError, match=message) as info:
        infer(op, shapes, attrs)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- semantics on hand-checked cases
def test_top_k_keeps_index_order_for_ties():
    x = np.array([[1, 3, 3, 2, 3]], np.int64)
    values, idx = run("top_k", [x], {"k": 3})
    assert values.tolist() == [[3, 3, 3]] and idx.tolist() == [[1, 2, 4]]
    values, idx = run("top_k", [x], {"k": 2, "largest": False})
    assert values.tolist() == [[1, 2]] and idx.tolist() == [[0, 3]]


def test_gather_nd_with_batch_dims():
    x = np.arange(24).reshape(2, 3, 4)
    (y,) = run("gather_nd", [x, np.array([[[2, -1]], [[0, 1]]])], {"batch_dims": 1})
    assert y.tolist() == [[x[0, 2, 3]], [x[1, 0, 1]]]


def test_scatter_elements_reductions_accumulate_duplicates():
    x = np.zeros((1, 4), np.float32)
    idx = np.array([[1, 1, 3, -1]])
    upd = np.array([[2, 5, 1, 4]], np.float32)
    (add,) = run("scatter_elements", [x, idx, upd], {"axis": 1, "reduction": "add"})
    assert add.tolist() == [[0, 7, 0, 5]]
    (mx,) = run("scatter_elements", [x, idx, upd], {"axis": 1, "reduction": "max"})
    assert mx.tolist() == [[0, 5, 0, 4]]


def test_scatter_nd_writes_slices():
    x = np.zeros((3, 2), np.float32)
    (y,) = run("scatter_nd", [x, np.array([[2], [0]]), np.array([[1, 2], [3, 4]], np.float32)])
    assert y.tolist() == [[3, 4], [0, 0], [1, 2]]


def test_pad_modes_and_negative_pads():
    x = np.array([[1, 2, 3]], np.float32)
    cases = {
        "constant": [[9, 1, 2, 3, 9, 9]], "reflect": [[2, 1, 2, 3, 2, 1]],
        "edge": [[1, 1, 2, 3, 3, 3]], "wrap": [[3, 1, 2, 3, 1, 2]],
    }
    for mode, want in cases.items():
        (y,) = run("pad", [x], {"pads": (0, 1, 0, 2), "mode": mode, "value": 9})
        assert y.tolist() == want, mode
    (y,) = run("pad", [x], {"pads": (0, -1, 1, 1), "value": 0})
    assert y.tolist() == [[2, 3, 0], [0, 0, 0]]


def test_space_to_depth_inverts_depth_to_space():
    x = R.standard_normal((2, 3, 4, 6)).astype(np.float32)
    for mode in ("DCR", "CRD"):
        (packed,) = run("space_to_depth", [x], {"blocksize": 2, "mode": mode})
        (back,) = run("depth_to_space", [packed], {"blocksize": 2, "mode": mode})
        np.testing.assert_array_equal(back, x)


def test_resize_nearest_and_linear_by_hand():
    x = np.array([[1, 2, 4]], np.float32)
    common = {"sizes": (1, 6), "scales": (1.0, 2.0)}
    (near,) = run("resize", [x], {**common, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
    assert near.tolist() == [[1, 1, 2, 2, 4, 4]]
    (lin,) = run("resize", [x], {**common, "mode": "linear", "coordinate_transformation_mode": "align_corners"})
    np.testing.assert_allclose(lin, [[1, 1.4, 1.8, 2.4, 3.2, 4]], rtol=1e-6)
    (half,) = run("resize", [x], {**common, "mode": "linear"})  # half_pixel clamps at the borders
    np.testing.assert_allclose(half, [[1, 1.25, 1.75, 2.5, 3.5, 4]], rtol=1e-6)


def test_resize_keeps_integer_dtype_with_rounding():
    x = np.array([[0, 255]], np.uint8)
    (y,) = run("resize", [x], {"sizes": (1, 4), "scales": (1.0, 2.0), "mode": "linear"})
    assert y.dtype == np.uint8 and y.tolist() == [[0, 64, 191, 255]]


def test_one_hot_negative_and_out_of_range_indices():
    (y,) = run("one_hot", [np.array([0, -1, 3]), np.array([0, 5], np.float32)], {"depth": 3})
    assert y.tolist() == [[5, 0, 0], [0, 0, 5], [0, 0, 0]]


def test_reverse_sequence_per_batch_lengths():
    x = np.arange(12).reshape(4, 3)  # time x batch
    (y,) = run("reverse_sequence", [x, np.array([4, 1, 2])])
    assert y[:, 0].tolist() == [9, 6, 3, 0] and y[:, 1].tolist() == [1, 4, 7, 10] and y[:, 2].tolist() == [5, 2, 8, 11]


def test_unique_first_occurrence_order():
    y, first, inverse, counts = run("unique", [np.array([3, 1, 3, 2, 1], np.int64)], {"sorted": False})
    assert y.tolist() == [3, 1, 2] and first.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 1] and counts.tolist() == [2, 2, 1]


def test_range_trilu_eye_like_and_shape_values():
    (r,) = run("range", [np.array(10), np.array(3), np.array(-3)])
    assert r.tolist() == [10, 7, 4]
    (t,) = run("trilu", [np.ones((3, 3), np.float32)], {"upper": False, "k": -1})
    assert t.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    (e,) = run("eye_like", [np.zeros((2, 3), np.float32)], {"k": 1, "dtype": "int32"})
    assert e.dtype == np.int32 and e.tolist() == [[0, 1, 0], [0, 0, 1]]
    (s,) = run("shape", [np.zeros((2, 3, 4))], {"start": -2})
    assert s.tolist() == [3, 4]


def test_data_dependent_shapes_resolve_at_run_time():
    (nz,) = run("non_zero", [np.array([[0, 1], [2, 0]], np.float32)])
    assert nz.tolist() == [[0, 1], [1, 0]]
    (c,) = run("compress", [np.arange(6).reshape(2, 3), np.array([True, False, True])], {"axis": 1})
    assert c.tolist() == [[0, 2], [3, 5]]


def test_every_shape_op_documents_itself():
    from hetflow.ir import all_ops

    ops = [op for op in all_ops().values() if op.family == "shape"]
    assert len(ops) >= 25
    missing = [op.name for op in ops if not op.doc]
    assert not missing, f"shape ops without a docstring: {missing}"
    assert get_op("split").num_outputs({"sizes": (1, 2, 3)}, 1) == 3
