"""cpu_c says which of its kernels fork an OpenMP team at their size; only those pay the CPU's ``launch.kernel``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import hetflow as hf
from hetflow.backends import get_backend
from hetflow.backends.cpu_c import parallel
from hetflow.backends.cpu_c.codegen import PARALLEL_MIN_ELEMENTS
from hetflow.partition.cost import CostModel, roofline, serial_roofline
from hetflow.targets import get_preset

XEON = get_preset("intel/xeon-platinum-8480")  # described, not this host: costed by roofline plus launches
TEMPLATES = Path(parallel.__file__).parent / "templates"


def _function_body(name: str) -> str:
    """The C source of function ``name`` in the runtime templates (up to its closing brace in column 0)."""
    for path in TEMPLATES.glob("*.c"):
        m = re.search(rf"^[a-z][^\n]*\b{name}\(.*?^}}", path.read_text(), re.MULTILINE | re.DOTALL)
        if m:
            return m.group(0)
    raise AssertionError(f"{name} is not in {TEMPLATES}")


def _numbers(clause: str) -> set[int]:
    return {int(a) << int(b) for a, b in re.findall(r"(\d+)L?\s*<<\s*(\d+)", clause)} | \
        {int(n) for n in re.findall(r"(?<![<\w])(\d+)L?(?!\s*<<)", clause)}


CLAUSES = {c for c in parallel.FORKS.values() if isinstance(c, parallel.Clause)} | {parallel.DEPTHWISE, parallel.DIRECT}


@pytest.mark.parametrize("clause", sorted(CLAUSES, key=lambda c: c.function), ids=lambda c: c.function)
def test_each_threshold_is_the_templates_own(clause: parallel.Clause) -> None:
    clauses = re.findall(r"#pragma omp parallel[^\n]*\bif \(([^\n]*)\)", _function_body(clause.function))
    assert clauses and all(clause.threshold in _numbers(c) for c in clauses), clauses


def test_gemm_and_elementwise_thresholds_are_the_generators_own() -> None:
    assert "#define HF_PARALLEL_MIN_MACS (1L << 18)" in (TEMPLATES / "gemm.c").read_text()
    assert parallel.GEMM_MIN_MACS == 1 << 18 and PARALLEL_MIN_ELEMENTS == 32768


def _graph(shape: tuple[int, ...]) -> hf.Graph:
    g = hf.Graph("tail")
    x = g.add_input("x", "float32", shape)
    s = g.add_node("softmax", [x], {"axis": -1}).outputs[0]
    m = g.add_node("matmul", [s, g.constant(np.ones((shape[-1], 512), np.float32))]).outputs[0]
    g.add_node("relu", [m])
    g.add_node("reduce_max", [x], {"axes": (1,), "keepdims": False})
    return g


def test_small_kernels_run_on_the_calling_thread_and_large_ones_fork() -> None:
    cpu_c = get_backend("cpu_c")
    small, large = _graph((1, 1000)), _graph((64, 1000))
    assert [cpu_c.launches_kernel(n, XEON) for n in small.nodes] == [False, True, False, False]
    assert [cpu_c.launches_kernel(n, XEON) for n in large.nodes] == [True, True, False, True]
    one_thread = XEON.model_copy(update={"compute": XEON.compute.model_copy(update={"threads": 1, "units": 1})})
    assert not any(cpu_c.launches_kernel(n, one_thread) for n in large.nodes)


def test_the_cost_model_charges_a_cpu_launch_only_to_kernels_that_fork() -> None:
    costs = CostModel()
    small, large = _graph((1, 1000)).nodes[0], _graph((64, 1000)).nodes[0]
    # the small softmax runs on one core and forks nothing; the large one forks a team over the whole chip
    assert costs.node(small, XEON, "cpu_c").seconds == pytest.approx(serial_roofline(small, XEON))
    assert costs.node(large, XEON, "cpu_c").seconds == pytest.approx(XEON.launch.kernel + roofline(large, XEON))
    matmul = _graph((1, 1000)).nodes[1]  # 512,000 multiply-adds: above the GEMM threshold, so it forks
    assert costs.node(matmul, XEON, "cpu_c").seconds == pytest.approx(XEON.launch.kernel + roofline(matmul, XEON))
    # a backend that does not say otherwise pays a launch per kernel, as before
    softmax = _graph((1, 1000)).nodes[0]
    assert costs.node(softmax, XEON, "reference").seconds >= XEON.launch.kernel


@pytest.mark.parametrize(("channels", "size", "group", "forked"), [
    (32, 8, 32, False),  # depthwise, 2,048 outputs: one thread
    (32, 56, 32, True),  # depthwise, 100,352 outputs
    (16, 8, 1, False),  # GEMM convolution, 16 x 64 x 144 = 147,456 multiply-adds per image
    (64, 8, 1, True),  # 64 x 64 x 576 = 2.4M multiply-adds
])
def test_a_convolution_forks_by_its_kernels_own_measure(channels: int, size: int, group: int, forked: bool) -> None:
    g = hf.Graph("conv")
    x = g.add_input("x", "float32", (1, channels, size, size))
    w = g.constant(np.ones((channels, channels // group, 3, 3), np.float32))
    attrs = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": group}
    node = g.add_node("conv", [x, w], attrs)
    assert get_backend("cpu_c").supports(node) is None
    assert parallel.forks(node, 56) is forked
