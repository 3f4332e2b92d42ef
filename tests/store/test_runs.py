"""The runs row: digests that follow content, failed and succeeded rows, and old warehouses migrated."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import duckdb
import pytest

from recrl.config import PipelineConfig
from recrl.lake import DataLayout
from recrl.store import runs, warehouse


def test_content_digest_follows_names_and_bytes_and_sees_missing_paths(tmp_path) -> None:
    folder = tmp_path / "states"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "a.parquet").write_bytes(b"one")
    first = runs.content_digest([folder])
    assert runs.content_digest([folder]) == first
    (folder / "train" / "a.parquet").write_bytes(b"two")
    second = runs.content_digest([folder])
    (folder / "train" / "a.parquet").rename(folder / "train" / "b.parquet")
    renamed = runs.content_digest([folder])
    assert len({first, second, renamed}) == 3
    assert runs.content_digest([tmp_path / "gone"]) != runs.content_digest([])


def test_failed_row_replaces_the_runs_rows_and_names_stage_and_error(tmp_path) -> None:
    config = PipelineConfig(data_root=str(tmp_path / "data"))
    started = datetime.now(UTC)
    runs.record_failed(
        config,
        "r",
        started,
        {"ingest": 1.25},
        "train-actor-critic",
        ValueError("no train decisions\nsecond line"),
    )
    runs.record_failed(
        config, "r", started, {"ingest": 1.0}, "evaluate", "Process exited with status code: -9.\nmore"
    )
    with warehouse.connect(DataLayout(tmp_path / "data").warehouse, read_only=True) as con:
        rows = con.execute(
            "SELECT status, failed_stage, error, stage_seconds, code_version, data_version, "
            "config_json FROM runs"
        ).fetchall()
    ((status, stage, error, seconds, code, data, config_json),) = rows
    assert (status, stage, error) == ("failed", "evaluate", "Process exited with status code: -9.")
    assert json.loads(seconds) == {"ingest": 1.0} and PipelineConfig.from_json(config_json) == config
    assert re.fullmatch(r"\d+\.\d+\.\d+(\+g[0-9a-f]+(\.dirty)?)?", code) and data is None  # nothing ingested
    assert runs.error_line(ValueError("no train decisions\nsecond line")) == "ValueError: no train decisions"


def test_a_row_says_consistently_how_the_run_ended() -> None:
    config, now = PipelineConfig(), datetime.now(UTC)
    with pytest.raises(ValueError, match="names its failed stage"):
        runs.run_row(config, "r", "failed", now, {})
    with pytest.raises(ValueError, match="names its failed stage"):
        runs.run_row(config, "r", "succeeded", now, {}, failed_stage="ingest")
    with pytest.raises(ValueError, match="status must be"):
        runs.run_row(config, "r", "running", now, {})


def test_a_warehouse_written_before_the_new_columns_gets_them(tmp_path) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:  # the runs table as recrl 0.1 wrote it
        con.execute(
            "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, "
            "finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, source VARCHAR NOT NULL, "
            "data_root VARCHAR NOT NULL, n_train BIGINT, n_valid BIGINT, n_test BIGINT, "
            "config_json VARCHAR NOT NULL)"
        )
        con.execute(
            "INSERT INTO runs VALUES ('old', now(), now(), 'succeeded', 'simulator', 'd', 1, 1, 1, '{}')"
        )
    config = PipelineConfig(data_root=str(tmp_path))
    row = runs.run_row(config, "new", "succeeded", datetime.now(UTC), {"report": 0.5}, {"train": 3})
    warehouse.append_rows(db, "runs", row)
    with warehouse.connect(db, read_only=True) as con:
        got = con.execute("SELECT run_id, n_train, stage_seconds FROM runs ORDER BY run_id").fetchall()
    assert got == [("new", 3, '{"report": 0.5}'), ("old", 1, None)]
