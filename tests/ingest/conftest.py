"""Fixtures of the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from recrl.lake import DataLayout


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    """A fresh, empty data root."""
    return DataLayout(tmp_path / "data")
