from __future__ import annotations

import pytest

from recrl.config import StatesConfig


@pytest.fixture
def small_config() -> StatesConfig:
    """Split 1 / 1 / 1 days, a short history so truncation shows, few threads (shared CI machine)."""
    return StatesConfig(history_len=3, valid_days=1, test_days=1, threads=1, memory_limit="1GB")
