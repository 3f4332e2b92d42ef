"""The warehouse: DuckDB tables that people query after each run.

The flow is the only writer (one read-write connection at a time, DuckDB's rule); readers open the
file with ``read_only=True``. Every statement lives in ``sql/warehouse``. Writes for a run first delete
that run's rows, so re-running a night replaces its results instead of doubling them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from recrl.sql import run_sql, stream_sql

TABLES: tuple[str, ...] = ("runs", "policies", "ope_estimates", "ranking_metrics", "behaviour_model")
"""Result tables, in the order they are created."""
MIGRATIONS: tuple[str, ...] = ("ope_estimates", "ranking_metrics", "runs_failed_stage", "runs_error",
                                "runs_stage_seconds", "runs_code_version", "runs_data_version")
"""Each ``migrate_<name>.sql`` brings a file written by an older recrl up to date (idempotent; DuckDB
takes one ALTER per statement, so one file per added column)."""


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a writer creates missing tables, a reader needs the file to exist."""
    db_path = Path(db_path)
    if read_only:
        if not db_path.is_file():
            raise FileNotFoundError(f"warehouse not found: {db_path}")
        return duckdb.connect(str(db_path), read_only=True)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    for table in TABLES:
        run_sql(con, f"warehouse/create_{table}")
    for table in MIGRATIONS:
        run_sql(con, f"warehouse/migrate_{table}")
    return con


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {table!r}")


def append_rows(db_path: Path, table: str, frame: pl.DataFrame) -> None:
    """Append ``frame`` to ``table`` (columns matched by name; missing nullable columns stay null)."""
    _check_table(table)
    with connect(db_path) as con:
        _insert(con, table, frame)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    # On failure the caller's connection is rolled back and closed, which drops the view too;
    # unregistering inside an aborted transaction would mask the real error.
    con.register("incoming", frame.to_arrow())
    run_sql(con, f"warehouse/insert_{table}")
    con.unregister("incoming")


def replace_run(db_path: Path, run_id: str, frames: dict[str, pl.DataFrame]) -> None:
    """Write one run's rows atomically: delete what the run wrote before, insert ``frames``."""
    for table in frames:
        _check_table(table)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            for table in reversed(TABLES):
                run_sql(con, f"warehouse/delete_run_{table}", run_id=run_id)
            for table in TABLES:
                if table in frames:
                    _insert(con, table, frames[table])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def main_comparison(db_path: Path, run_id: str) -> pl.DataFrame:
    """Per policy: true value (simulator), SNIPS / DR (95% CI), ESS share, HR/NDCG@10 with their n and
    the propensity source of one run (columns in sql/warehouse/main_comparison.sql)."""
    with connect(db_path, read_only=True) as con:
        return pl.from_arrow(stream_sql(con, "warehouse/main_comparison", run_id=run_id).read_all())
