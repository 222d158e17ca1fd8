"""The frontend-neutral machinery: versioned mapping tables, and hf.load choosing a frontend by content."""

from __future__ import annotations

import numpy as np
import pytest

import hetflow as hf
from hetflow import dsl
from hetflow.errors import ModelError, UnsupportedOpError
from hetflow.frontends import Ctx, Frontend, MappingTable, pick_frontend
from hetflow.frontends import registry as frontend_registry
from hetflow.ir import DType, Graph
from hetflow.ir.errors import HetflowError


def test_mapping_table_picks_the_highest_version_not_above_the_models():
    table = MappingTable("Toy", version_name="version", listing="hetflow ops --frontend toy")

    @table.register()
    def Scale_v1(ctx: Ctx, x, *, factor: float = 2.0):  # noqa: N802
        return ctx.emit("mul", [x, ctx.const(np.float32(factor))])

    @table.register()
    def Scale_v5(ctx: Ctx, x, *, factor: float = 3.0):  # noqa: N802
        return x

    assert table.lookup("Scale", "", 4, "here").fn is Scale_v1
    assert table.lookup("Scale", "", 9, "here").fn is Scale_v5
    assert table.lookup("Scale", "", 5, "here").attributes == {"factor"}
    with pytest.raises(UnsupportedOpError, match=r"here: Toy op 'Scale' is mapped only from version 1"):
        table.lookup("Scale", "", 0, "here")
    with pytest.raises(UnsupportedOpError, match=r"Toy op 'Nope'.*`hetflow ops --frontend toy`"):
        table.lookup("Nope", "", 3, "here")
    with pytest.raises(HetflowError, match="mapped twice for version 5"):
        table.register("Scale", since=5)(lambda ctx, x: x)


def test_a_mapping_builds_ir_through_the_shared_context():
    table = MappingTable("Toy")

    @table.register("Double")
    def double(ctx: Ctx, x, *, factor: float = 2.0):
        return ctx.emit("mul", [x, ctx.const(np.float32(factor))])

    graph = Graph("toy")
    x = graph.add_input("x", DType.float32, (3,))
    ctx = Ctx(graph, version=1)
    ctx.node_name, ctx.op_type = "d0", "Double"
    graph.outputs.append(table.lookup("Double", "", 1, "d0").fn(ctx, x, factor=4.0))
    out = hf.compile(graph, backend="reference").run({"x": np.arange(3, dtype=np.float32)})
    assert np.array_equal(next(iter(out.values())), [0, 4, 8])


@pytest.fixture
def toy_frontend(monkeypatch):
    """A frontend for files that start with b'TOYM', registered for one test."""
    monkeypatch.setattr(frontend_registry, "_FRONTENDS", dict(frontend_registry._FRONTENDS))

    def load(source, **options):
        with dsl.model("toy") as m:
            m.output(dsl.relu(m.input("x", (2,))))
        return m.graph

    frontend = Frontend("toy", load=load, sniff=lambda head: head.startswith(b"TOYM"), suffixes=(".toy",))
    frontend_registry.register_frontend(frontend)
    return frontend


def test_load_dispatches_by_content_then_suffix(toy_frontend, tmp_path):
    assert hf.load(b"TOYM....").name == "toy"
    named = tmp_path / "model.toy"
    named.write_bytes(b"no magic here")
    assert pick_frontend(named) is toy_frontend
    disguised = tmp_path / "model.onnx"
    disguised.write_bytes(b"TOYM and more")
    assert pick_frontend(disguised) is toy_frontend
    with pytest.raises(HetflowError, match="registered twice"):
        frontend_registry.register_frontend(toy_frontend)


def test_onnx_is_the_fallback_and_names_what_is_wrong(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01not a model at all" * 3)
    with pytest.raises(ModelError, match=r"junk.bin: not an ONNX model"):
        hf.load(junk)
    with pytest.raises(ModelError, match="cannot import a dict"):
        hf.load({"not": "a model"})
