"""Warehouse: re-running a run replaces its rows; readers never create files."""

from __future__ import annotations

import polars as pl
import pytest

from recrl.store import warehouse


def test_replace_run_is_idempotent_and_keeps_other_runs(tmp_path, make_run_frames) -> None:
    run_frames = make_run_frames
    db = tmp_path / "w.duckdb"
    warehouse.replace_run(db, "a", run_frames("a", 0.1))
    warehouse.replace_run(db, "b", run_frames("b", 0.2))
    warehouse.replace_run(db, "a", run_frames("a", 0.3))
    with warehouse.connect(db, read_only=True) as con:
        rows = con.execute("SELECT run_id, value FROM ope_estimates ORDER BY run_id, estimator").fetchall()
    assert rows == [("a", 0.3), ("a", 0.3), ("b", 0.2), ("b", 0.2)]
    comparison = warehouse.main_comparison(db, "a")
    assert comparison["dr"].to_list() == [0.3] and comparison["true_value"].to_list() == [0.5]


def test_failed_write_leaves_the_previous_rows(tmp_path, make_run_frames) -> None:
    run_frames = make_run_frames
    db = tmp_path / "w.duckdb"
    warehouse.replace_run(db, "a", run_frames("a", 0.1))
    broken = run_frames("a", 0.9)
    broken["ope_estimates"] = broken["ope_estimates"].drop("value")  # NOT NULL column missing
    with pytest.raises(Exception, match="value"):
        warehouse.replace_run(db, "a", broken)
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT DISTINCT value FROM ope_estimates").fetchall() == [(0.1,)]


def test_reader_needs_an_existing_warehouse_and_tables_are_checked(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.duckdb"):
        warehouse.connect(tmp_path / "missing.duckdb", read_only=True)
    with pytest.raises(ValueError, match="table must be one of"):
        warehouse.append_rows(tmp_path / "w.duckdb", "users; DROP TABLE runs", pl.DataFrame({"a": [1]}))


def test_a_warehouse_written_before_propensity_source_and_model_std_err_is_migrated(tmp_path, make_run_frames) -> None:
    run_frames = make_run_frames
    import duckdb

    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:  # the tables as recrl wrote them before the column existed
        con.execute(
            "CREATE TABLE ope_estimates (run_id VARCHAR NOT NULL, policy VARCHAR NOT NULL, "
            "split VARCHAR NOT NULL, estimator VARCHAR NOT NULL, value DOUBLE NOT NULL, ci_low DOUBLE, "
            "ci_high DOUBLE, n BIGINT NOT NULL, ess DOUBLE, true_value DOUBLE, "
            "created_at TIMESTAMPTZ NOT NULL)"
        )
        con.execute(
            "INSERT INTO ope_estimates VALUES ('old', 'p', 'test', 'dr', 0.1, 0, 1, 5, 5, NULL, now())"
        )
        con.execute(
            "CREATE TABLE ranking_metrics (run_id VARCHAR NOT NULL, policy VARCHAR NOT NULL, "
            "split VARCHAR NOT NULL, target VARCHAR NOT NULL, metric VARCHAR NOT NULL, k INTEGER NOT NULL, "
            "value DOUBLE NOT NULL, n BIGINT NOT NULL)"
        )
    frames = run_frames("new", 0.2)
    frames["ope_estimates"] = frames["ope_estimates"].with_columns(
        pl.lit("estimated").alias("propensity_source"), pl.lit(0.01).alias("model_std_err")
    )
    frames["ranking_metrics"] = pl.DataFrame(
        [
            {
                "run_id": "new",
                "policy": "p0",
                "split": "test",
                "target": "purchase",
                "metric": "hr",
                "k": 10,
                "value": None,
                "n": 0,
            }
        ],  # policy p0 of run_frames
        schema_overrides={"value": pl.Float64},
    )
    warehouse.replace_run(db, "new", frames)
    with warehouse.connect(db, read_only=True) as con:
        rows = con.execute("SELECT run_id, propensity_source, model_std_err FROM ope_estimates ORDER BY run_id").fetchall()
        ranking = con.execute("SELECT value, n FROM ranking_metrics").fetchall()
    assert rows == [("new", "estimated", 0.01), ("new", "estimated", 0.01), ("old", None, None)]
    assert ranking == [(None, 0)]
    comparison = warehouse.main_comparison(db, "new")
    assert comparison["propensity_source"].to_list() == ["estimated"] and comparison["n"].to_list() == [10]
    assert comparison["hr10_purchase"].to_list() == [None] and comparison["n_purchase"].to_list() == [0]
