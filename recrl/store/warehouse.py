"""The warehouse: DuckDB tables that people query after each run.

Readers and the writer never wait on each other. A reader opens the published file read-only
(``connect``). A writer (``writing``, and through it ``replace_run`` and ``append_rows``) never opens
the published file for writing: it fills a staging copy beside it in one transaction, checkpoints and
closes it, then publishes it with ``os.replace``. A reader that opened the file before keeps reading
the old file's complete state until it closes; one that opens after sees the new state; none sees a
half-written one. Writers take turns on a lock file; a write that fails publishes nothing. The
file is written in DuckDB's ``STORAGE_VERSION`` format so that the DuckDB 1.5 CLI can read it.
Every statement lives in ``sql/warehouse``. Writes for a run first delete that run's rows, so
re-running a night replaces its results instead of doubling them. Details and costs: docs/warehouse.md.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from recrl.sql import run_sql, stream_sql

TABLES: tuple[str, ...] = (
    "runs", "policies", "ope_estimates", "ranking_metrics", "behaviour_model", "agent_weights", "deployments",
    "nightly_summary",
)
"""Result tables, in the order they are created."""
MIGRATIONS: tuple[str, ...] = ("ope_estimates", "ope_estimates_model_std_err", "ranking_metrics", "runs_failed_stage",
                                "runs_error", "runs_stage_seconds", "runs_code_version", "runs_data_version",
                                "agent_weights_gain_lcb", "agent_weights_anchor")
"""Each ``migrate_<name>.sql`` brings a file written by an older recrl up to date (idempotent; DuckDB
takes one ALTER per statement, so one file per added column)."""
STORAGE_VERSION = "v1.5.0"
"""DuckDB storage format of the published file: DuckDB 1.5 and later read it (the ``duckdb-cli`` 1.5
from PyPI reads formats up to 1.5; DuckDB 2.0's own format it cannot)."""
LOCK_WAIT_S = 120.0
"""How long a writer waits for another writer to publish before it fails (one write takes seconds)."""


class WarehouseBusy(TimeoutError):
    """Another process held the warehouse's writer lock for longer than the wait allowed."""


def connect(db_path: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only; it must exist. Writes go through ``writing``.

    The file is attached to a fresh in-memory DuckDB rather than opened with ``duckdb.connect(path)``:
    DuckDB shares one database per path within a process, so while any connection to the path is open
    there, a new ``duckdb.connect(path)`` would keep showing the file that was published before.
    """
    if not read_only:
        raise ValueError(
            "warehouse.connect opens the warehouse read-only; write with warehouse.writing(path), "
            "replace_run or append_rows, which publish a complete copy"
        )
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"warehouse not found: {db_path}")
    con = duckdb.connect(":memory:")
    try:
        run_sql(con, "warehouse/attach_read_only", path=str(db_path))
        con.execute("USE warehouse")
    except Exception:
        con.close()
        raise
    return con


@contextmanager
def writing(db_path: Path, lock_wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a staging copy of the warehouse, in one transaction, published when the block ends.

    Every result table exists (created or migrated) when the block starts. If the block raises, nothing
    is published and the staging file is removed. A second writer waits for the first to publish (at
    most ``lock_wait_s`` seconds, then ``WarehouseBusy``); readers never wait.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staging = db_path.with_name(db_path.name + ".staging")
    with _writer_lock(db_path, lock_wait_s):
        _remove_with_wal(staging)  # what a writer that crashed mid-write left behind
        try:
            con = _open_staging(db_path, staging)
            try:
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
                con.execute("CHECKPOINT warehouse")  # every row in the file itself, so no WAL travels
                con.execute("USE memory")
                con.execute("DETACH warehouse")
            finally:
                con.close()  # on failure this rolls the transaction back; the file is thrown away anyway
            _publish(staging, db_path)
        finally:
            _remove_with_wal(staging)


def _wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


def _remove_with_wal(db_path: Path) -> None:
    db_path.unlink(missing_ok=True)
    _wal_path(db_path).unlink(missing_ok=True)


@contextmanager
def _writer_lock(db_path: Path, wait_s: float) -> Iterator[None]:
    # flock (not fcntl's record locks): held per open file, so threads of one process take turns too,
    # and released by the kernel when a crashed writer's process ends.
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise WarehouseBusy(
                        f"warehouse {db_path} is being written by another process (pid {holder}); "
                        f"gave up after {wait_s:g} s waiting on {lock_path}"
                    ) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _published_storage_version(db_path: Path) -> str:
    with connect(db_path) as con:
        return run_sql(con, "warehouse/storage_version").fetchone()[0]


def _open_staging(db_path: Path, staging: Path) -> duckdb.DuckDBPyConnection:
    """The staging file attached as ``warehouse`` (and made current), holding the published state.

    A published file in ``STORAGE_VERSION``'s format is copied byte for byte (milliseconds); one in
    another format, or with a WAL left beside it by a writer that wrote in place, is copied table by
    table through DuckDB into a new file in that format (docs/warehouse.md has both costs).
    """
    published = db_path.is_file()
    copy_bytes = (
        published
        and not _wal_path(db_path).exists()
        and _published_storage_version(db_path) == f"{STORAGE_VERSION}+"
    )
    if copy_bytes:
        shutil.copyfile(db_path, staging)
    con = duckdb.connect(":memory:")
    try:
        run_sql(con, "warehouse/attach_staging", path=str(staging), storage_version=STORAGE_VERSION)
        if published and not copy_bytes:
            run_sql(con, "warehouse/attach_published", path=str(db_path))
            run_sql(con, "warehouse/copy_published")
            con.execute("DETACH published")
        con.execute("USE warehouse")
        for table in TABLES:
            run_sql(con, f"warehouse/create_{table}")
        for table in MIGRATIONS:
            run_sql(con, f"warehouse/migrate_{table}")
    except Exception:
        con.close()
        raise
    return con


def _publish(staging: Path, db_path: Path) -> None:
    if _wal_path(staging).exists():
        raise RuntimeError(f"staging warehouse {staging} kept a WAL after its checkpoint; not published")
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    # A WAL beside the published file belongs to that file (a writer that wrote in place and crashed);
    # its rows were copied into staging through DuckDB, and beside the new file it would be replayed wrongly.
    _wal_path(db_path).unlink(missing_ok=True)
    os.replace(staging, db_path)
    directory = os.open(db_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {table!r}")


def append_rows(db_path: Path, table: str, frame: pl.DataFrame) -> None:
    """Append ``frame`` to ``table`` (columns matched by name; missing nullable columns stay null)."""
    _check_table(table)
    with writing(db_path) as con:
        _insert(con, table, frame)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    # On failure the caller's connection is closed, which drops the view too; unregistering inside an
    # aborted transaction would mask the real error.
    con.register("incoming", frame.to_arrow())
    run_sql(con, f"warehouse/insert_{table}")
    con.unregister("incoming")


def replace_run(db_path: Path, run_id: str, frames: dict[str, pl.DataFrame]) -> None:
    """Write one run's rows atomically: delete what the run wrote before, insert ``frames``."""
    for table in frames:
        _check_table(table)
    with writing(db_path) as con:
        for table in reversed(TABLES):
            run_sql(con, f"warehouse/delete_run_{table}", run_id=run_id)
        for table in TABLES:
            if table in frames:
                _insert(con, table, frames[table])


def main_comparison(db_path: Path, run_id: str) -> pl.DataFrame:
    """Per policy: true value (simulator), SNIPS / DR (95% CI), ESS share, HR/NDCG@10 with their n and
    the propensity source of one run (columns in sql/warehouse/main_comparison.sql)."""
    with connect(db_path, read_only=True) as con:
        return pl.from_arrow(stream_sql(con, "warehouse/main_comparison", run_id=run_id).read_all())
