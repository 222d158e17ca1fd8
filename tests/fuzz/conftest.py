"""The large fuzz batches run only when asked for by ``-m slow`` (the suite's default runs the bounded ones)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="large fuzz batch (tens of minutes): run with -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None and "tests/fuzz/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)
