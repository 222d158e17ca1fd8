"""benchmarks/nvdla_accuracy.py's main, importable from the tests (benchmarks/ is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "nvdla_accuracy.py"
_spec = importlib.util.spec_from_file_location("nvdla_accuracy", _PATH)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
accuracy_main = _module.main
