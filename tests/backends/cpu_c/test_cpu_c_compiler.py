"""Building generated C: the disk cache, recompiling on change, and errors people can act on."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hetflow.backends import native
from hetflow.backends.cpu_c import CompileError, CompilerNotFoundError, CpuCBackend, Toolchain, compiler
from hetflow.config import get_config, set_config
from hetflow.ir import Graph
from hetflow.ir.errors import HetflowError


@pytest.fixture
def fresh_cache(tmp_path: Path) -> Iterator[Path]:
    before = get_config()
    set_config(dataclasses.replace(before, cache_dir=tmp_path))
    yield tmp_path / "cpu_c"
    set_config(before)


def small_graph(width: int = 16, op: str = "relu") -> Graph:
    g = Graph("small")
    x = g.add_input("x", "float32", (4, width))
    w = g.constant(np.ones((width, 8), np.float32))
    h = g.add_node("matmul", [x, w]).outputs[0]
    g.outputs = [g.add_node(op, [h]).outputs[0]]
    return g


def test_a_second_compile_runs_no_compiler(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = compiler.STATS.compiler_runs
    CpuCBackend().compile(small_graph())
    assert compiler.STATS.compiler_runs == before + 2  # the runtime library, then the graph
    assert len(list(fresh_cache.glob("*.so"))) == 2

    def no_compiler(cmd: list[str], *args: object, **kwargs: object) -> subprocess.CompletedProcess:
        if "--version" in cmd:  # the compiler's identity is part of the cache key
            return subprocess.CompletedProcess(cmd, 0, "gcc (fake) 12\n", "")
        raise AssertionError(f"compiler invoked on a cache hit: {cmd}")

    hits = compiler.STATS.cache_hits
    exe = CpuCBackend().compile(small_graph())
    assert compiler.STATS.compiler_runs == before + 2 and compiler.STATS.cache_hits > hits
    monkeypatch.setattr(native.subprocess, "run", no_compiler)
    out = exe.run({"x": np.ones((4, 16), np.float32)})
    assert float(next(iter(out.values()))[0, 0]) == 16.0


def test_a_changed_graph_or_flag_recompiles(fresh_cache: Path) -> None:
    CpuCBackend().compile(small_graph())
    runs = compiler.STATS.compiler_runs
    CpuCBackend().compile(small_graph(width=24))
    assert compiler.STATS.compiler_runs == runs + 1  # a new graph library; the runtime is reused
    CpuCBackend().compile(small_graph(op="sigmoid"))
    assert compiler.STATS.compiler_runs == runs + 2
    CpuCBackend().compile(small_graph(), cflags=("-fno-tree-vectorize",))
    assert compiler.STATS.compiler_runs == runs + 4  # new flags: runtime and graph again


def test_new_weights_reuse_the_library(fresh_cache: Path) -> None:
    CpuCBackend().compile(small_graph())
    runs = compiler.STATS.compiler_runs
    g = small_graph()
    g.nodes[0].inputs[1] = g.constant(np.full((16, 8), 2.0, np.float32))
    out = CpuCBackend().compile(g).run({"x": np.ones((4, 16), np.float32)})
    assert compiler.STATS.compiler_runs == runs  # weights are passed at run time, not compiled in
    assert float(next(iter(out.values()))[0, 0]) == 32.0


def test_a_missing_compiler_says_how_to_install_one(fresh_cache: Path) -> None:
    before = get_config()
    set_config(dataclasses.replace(before, cc="/nonexistent/bin/gcc-hetflow"))
    try:
        with pytest.raises(CompilerNotFoundError) as err:
            CpuCBackend().compile(small_graph())
    finally:
        set_config(before)
    message = str(err.value)
    assert "/nonexistent/bin/gcc-hetflow" in message and "apt-get install gcc" in message
    assert "\n" not in message


def test_a_compile_error_shows_the_file_and_the_compiler_message(fresh_cache: Path) -> None:
    with pytest.raises(CompileError) as err:
        Toolchain().build("broken", "void f(void) { this is not C; }\n")
    message = str(err.value)
    path = message.split("generated file ", 1)[1].split(":", 1)[0]
    assert path.endswith(".c") and Path(path).read_text().startswith("void f(void)")
    assert "error" in message and "this" in message


def test_saved_libraries_load_without_compiling(fresh_cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    g = small_graph()
    exe = CpuCBackend().compile(g, threads=1)
    x = np.ones((4, 16), np.float32)
    want = exe.run({"x": x})
    exe.save_artifact(tmp_path)
    assert (tmp_path / "cpu_c.json").exists() and (tmp_path / "graph0.c").read_text() == exe.source
    runs = compiler.STATS.compiler_runs
    monkeypatch.setattr(native.subprocess, "run", lambda *a, **k: pytest.fail(f"compiler invoked: {a}"))
    loaded = CpuCBackend().load_artifact(tmp_path, small_graph())
    got = loaded.run({"x": x})
    assert compiler.STATS.compiler_runs == runs and loaded.threads == 1
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_saved_libraries_from_another_graph_are_refused(fresh_cache: Path, tmp_path: Path) -> None:
    CpuCBackend().compile(small_graph()).save_artifact(tmp_path)
    with pytest.raises(HetflowError, match="generates different C"):
        CpuCBackend().load_artifact(tmp_path, small_graph(op="sigmoid"))
