"""The NumPy ap_fixed model against the ap_types headers compiled with g++: every rounding and overflow mode."""

from __future__ import annotations

import hashlib
import itertools
import subprocess

import numpy as np
import pytest

from hetflow.backends.fpga_hls import fixedpoint as fx
from hetflow.backends.fpga_hls.csim import AP_TYPES, LIBRARY, Toolchain, compiler_identity
from hetflow.backends.fpga_hls.fixedpoint import FixedPointError, FixedType

TYPES = [FixedType(8, 3, signed, r, "AP_WRAP") for signed in (True, False) for r in fx.ROUNDING] + \
        [FixedType(8, 3, signed, r, o) for signed in (True, False) for r in ("AP_TRN", "AP_RND")
         for o in fx.OVERFLOW if o != "AP_WRAP"] + [FixedType(12, -2), FixedType(6, 8, False)]
VALUES = sorted({*np.round(np.linspace(-9, 9, 73), 6), -4.0, 3.96875, 4.0, -4.03125, 1 / 64, -1 / 64, 0.015625 * 3,
                 -0.046875, 0.0234375, -0.0234375, 0.0, 123.456, -77.7, 31.984375, -32.0, 1e-9, -1e-9})
SOURCE_T = FixedType(24, 10)


def _harness() -> str:
    lines = ['#include <cstdio>', '#include "hf_common.h"', "",
             "template <class T> void show(const double* v, int n, const long long* raw, int m) {",
             "    for (int i = 0; i < n; i++) { T t = v[i]; std::printf(\"%lld \", hf::raw_bits(t)); }",
             f"    for (int i = 0; i < m; i++) {{ {SOURCE_T.cpp()} s; s.range() = raw[i]; T t = s; "
             "std::printf(\"%lld \", hf::raw_bits(t)); }",
             '    std::printf("\\n");', "}", "", "int main() {"]
    lines.append(f"    const double v[] = {{{', '.join(repr(float(x)) for x in VALUES)}}};")
    raws = fx.quantize(np.array(VALUES), SOURCE_T)
    lines.append(f"    const long long raw[] = {{{', '.join(f'{int(r)}LL' for r in raws)}}};")
    for t in TYPES:
        lines.append(f"    show<{t.cpp()} >(v, {len(VALUES)}, raw, {len(raws)});")
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def cpp_codes(tmp_path_factory: pytest.TempPathFactory) -> list[list[int]]:
    source = _harness()
    tc = Toolchain()
    key = hashlib.sha256((source + compiler_identity(tc.cxx)).encode()).hexdigest()[:16]
    exe = tc.cache_dir / f"fixedpoint-check-{key}"
    if not exe.exists():
        work = tmp_path_factory.mktemp("fxcheck")
        (work / "check.cpp").write_text(source)
        tc.cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([tc.cxx, "-std=c++14", "-O0", f"-I{LIBRARY}", f"-I{tc.include_flags(work)[2][2:]}",
                        f"-isystem{AP_TYPES}", str(work / "check.cpp"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return [[int(x) for x in line.split()] for line in out.strip().splitlines()]


@pytest.mark.parametrize("index", range(len(TYPES)), ids=[str(t) for t in TYPES])
def test_conversions_are_bit_exact_with_ap_fixed(cpp_codes, index):
    t = TYPES[index]
    got = cpp_codes[index]
    n = len(VALUES)
    np.testing.assert_array_equal(fx.quantize(np.array(VALUES), t), got[:n], err_msg=f"{t} from double")
    raw = fx.quantize(np.array(VALUES), SOURCE_T)
    np.testing.assert_array_equal(fx.requantize(raw, SOURCE_T.frac, t), got[n:], err_msg=f"{t} from {SOURCE_T}")


def test_type_parsing_and_printing():
    t = FixedType.parse("ap_fixed<16,6,AP_RND,AP_SAT>")
    assert (t.width, t.integer, t.signed, t.rounding, t.overflow) == (16, 6, True, "AP_RND", "AP_SAT")
    assert str(FixedType.parse("fixed<16,6>")) == "fixed<16,6>" and FixedType.parse("fixed<16,6>").cpp() == "ap_fixed<16, 6>"
    assert FixedType.parse("ufixed<8,0,RND,SAT>").cpp() == "ap_ufixed<8, 0, AP_RND, AP_SAT>"
    assert FixedType.parse("int<8>") == FixedType(8, 8) and FixedType.parse("uint<4>") == FixedType(4, 4, False)
    assert FixedType(16, 6).lsb == 2 ** -10 and FixedType(16, 6).max_value == 32 - 2 ** -10
    for bad in ("float", "fixed<16>", "fixed<a,b>", "fixed<16,6,AP_NOPE>", "fixed<0,0>"):
        with pytest.raises(FixedPointError):
            FixedType.parse(bad)


def test_accumulators_hold_every_sum_exactly():
    x, w = FixedType(16, 6), FixedType(16, 6)
    acc = fx.accumulator(x, w, 4608, FixedType(16, 6))
    assert acc.frac == 20 and acc.integer == 12 + 13 + 1
    worst = (x.min_raw * w.min_raw) * 4608 + (FixedType(16, 6).max_raw << 10)
    assert worst <= acc.max_raw
    for a, b in itertools.product([FixedType(8, 3), FixedType(10, 2, False)], repeat=2):
        p = fx.mult_type(a, b)
        assert all(p.min_value <= u * v <= p.max_value for u in (a.min_value, a.max_value)
                   for v in (b.min_value, b.max_value))
    assert fx.sum_type(FixedType(8, 3, False), 9).min_value <= 0 and fx.sum_type(FixedType(8, 3), 9).max_value >= 9 * 3.97
