"""ONNX's node and model test cases again, compiled by cpu_c (generated C) instead of the reference backend.

The suite, its exclusions and its pass floor are those of test_onnx_backend.py, loaded a second time
with another backend, so that a case passing on the oracle and failing on cpu_c shows here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("onnx_conformance_cpu_c", Path(__file__).with_name("test_onnx_backend.py"))
assert _spec is not None and _spec.loader is not None
_suite = importlib.util.module_from_spec(_spec)
_suite.CONFORMANCE_BACKEND = "cpu_c"  # type: ignore[attr-defined]
_spec.loader.exec_module(_suite)

globals().update(_suite._TEST_CASES)
_onnx_home = _suite._onnx_home
test_zz_node_pass_count = _suite.test_zz_node_pass_count
