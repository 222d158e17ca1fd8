"""The importer fuzzer in CI: mutated models through import, compile and run, with zero defects allowed.

Default suite: up to ``REFERENCE_CASES`` cases on the reference backend and ``CPU_C_CASES`` on cpu_c, each
run stopping early at its time budget (the counts are printed; a floor makes sure a slow machine still
runs a meaningful number). ``-m slow`` runs larger batches with another base seed. A defect is printed with
its case number; ``python -m fuzz.run --case N`` (from tests/) replays it with a traceback.
"""

from __future__ import annotations

import time

import pytest
from fuzz.harness import Fuzzer, Report, load_seeds
from fuzz.run import BASE_SEED

REFERENCE_CASES, REFERENCE_BUDGET_S, REFERENCE_FLOOR = 20_000, 150.0, 3_000
CPU_C_CASES, CPU_C_BUDGET_S, CPU_C_FLOOR = 300, 60.0, 100
SLOW_BASE_SEED = BASE_SEED + 1


def _fuzz(backend: str, base_seed: int, cases: int, budget_s: float, time_limit_s: float) -> Report:
    deadline = time.perf_counter() + budget_s
    fuzzer = Fuzzer(load_seeds(), base_seed, backend, time_limit_s)
    report = fuzzer.run(range(cases), lambda: time.perf_counter() < deadline)
    print(report.summary())
    return report


def _check(report: Report, floor: int) -> None:
    assert not report.defects, "\n".join([report.summary(), *report.defects[:40]])
    assert report.cases >= floor, f"{report.summary()}: fewer than {floor} cases ran in the time budget"
    assert report.outcomes["ok@run"] > 0, "no mutated model ran at all: the harness is not exercising run"


def test_fuzz_reference() -> None:
    _check(_fuzz("reference", BASE_SEED, REFERENCE_CASES, REFERENCE_BUDGET_S, 20.0), REFERENCE_FLOOR)


def test_fuzz_cpu_c() -> None:
    """cpu_c compiles C for every case that imports; a crash of the generated code kills the worker and is
    reported as a defect."""
    _check(_fuzz("cpu_c", BASE_SEED, CPU_C_CASES, CPU_C_BUDGET_S, 120.0), CPU_C_FLOOR)


@pytest.mark.slow
def test_fuzz_reference_large() -> None:
    _check(_fuzz("reference", SLOW_BASE_SEED, 100_000, 1800.0, 20.0), 20_000)


@pytest.mark.slow
def test_fuzz_cpu_c_large() -> None:
    _check(_fuzz("cpu_c", SLOW_BASE_SEED, 3_000, 1800.0, 120.0), 1_000)
