"""cpu_c tests build into a compile cache of their own."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hetflow.config import get_config, set_config


@pytest.fixture(scope="session", autouse=True)
def cpu_c_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One compile cache for the session: the runtime library is built once."""
    path = tmp_path_factory.mktemp("cpu_c_cache")
    before = get_config()
    set_config(dataclasses.replace(before, cache_dir=path))
    yield path
    set_config(None)
