"""Shared helpers of the ingest tests: lake readers, shared data paths, canonical CSV writing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recrl.lake import DataLayout

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CSV_HEADER = "ts,user_id,session_id,item_id,event_type,position,request_id,propensity,policy_id"


def shared(relative: str) -> Path:
    """A file under ../shared/data, or skip the test when the shared data is not there."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file not available: {path}")
    return path


def read_events(layout: DataLayout) -> pl.DataFrame:
    """All lake events with their hive columns, in a stable order."""
    files = sorted(layout.events.glob("**/*.parquet"))
    if not files:
        return pl.DataFrame()
    frame = pl.read_parquet(layout.events / "**/*.parquet", hive_partitioning=True)
    return frame.sort(frame.columns, nulls_last=True)


def read_quarantine(layout: DataLayout) -> pl.DataFrame:
    frame = pl.read_parquet(layout.quarantine / "**/*.parquet", hive_partitioning=True)
    return frame.sort("line_number", "record_index")


def lake_content(layout: DataLayout) -> dict[str, pl.DataFrame]:
    """Every data file under events, quarantine and items, by relative path (reconciliation excluded)."""
    content = {}
    for folder in (layout.events, layout.quarantine, layout.items):
        for path in sorted(folder.glob("**/*.parquet")):
            content[str(path.relative_to(layout.lake))] = pl.read_parquet(path)
    return content


def write_csv(path: Path, rows: list[str], header: str = CSV_HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path
