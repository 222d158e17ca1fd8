"""Every gpu_triton test needs the gpu extra; without it they are skipped with the line that installs it."""

from __future__ import annotations

import pytest

from hetflow.backends.gpu_triton.runtime import available

missing = available()
if missing is not None:
    pytest.skip(missing, allow_module_level=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked slow (the AOT sweep over ResNet-50 and DenseNet-121) run only when asked: ``-m slow``."""
    if item.get_closest_marker("slow") is not None and "slow" not in (item.config.option.markexpr or ""):
        pytest.skip("slow: run with -m slow")
