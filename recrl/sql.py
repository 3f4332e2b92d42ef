"""Run the SQL files under ``sql/`` with bound parameters.

Every statement recrl sends to DuckDB lives in ``sql/<stage>/<name>.sql``: one statement per file,
opening with a ``--`` header that says what it builds and from what. Values reach a statement only
as bound parameters (``$name``), never by string building; that includes paths, which DuckDB binds
in ``read_parquet($glob)`` and ``COPY ... TO $path``. Paths a user hands in are checked first with
``existing_dir`` / ``parquet_glob`` so a typo fails with one clear line instead of an empty result.

    con = connect()
    run_sql(con, "states/events", events_glob=parquet_glob(layout.events, "events"))
    for batch in stream_sql(con, "states/transitions"):  # large results, one Arrow batch at a time
        ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
"""Root of the SQL files (``sql/`` at the repository root)."""

_NAME_PATTERN = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
# A `$name` parameter outside string literals and comments (DuckDB's named-parameter syntax).
_PARAM_PATTERN = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRIP_PATTERN = re.compile(r"'(?:[^']|'')*'|--[^\n]*")


def connect(
    memory_limit: str | None = None, threads: int | None = None, temp_directory: str | Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that reads timestamps and dates in UTC.

    Parameters
    ----------
    memory_limit : DuckDB memory cap such as ``"4GB"``; ``None`` keeps DuckDB's default (80% of RAM).
    threads : worker threads; ``None`` or 0 keeps DuckDB's default (all cores).
    temp_directory : where DuckDB spills when a query outgrows ``memory_limit``.
    """
    config: dict[str, Any] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = int(threads)
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    con = duckdb.connect(":memory:", config=config)
    # Dates are cut at UTC midnight whatever the machine's zone (ICU loads lazily, so not via config).
    con.execute("SET TimeZone = 'UTC'")
    return con


def sql_path(name: str) -> Path:
    """Path of ``sql/<name>.sql``; ``name`` is lower-case words joined by ``/`` (no ``..``)."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"SQL name must look like 'stage/what_it_builds', got {name!r}")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path


def sql_parameters(text: str) -> set[str]:
    """Names of the ``$name`` parameters a statement uses (string literals and comments ignored)."""
    return set(_PARAM_PATTERN.findall(_STRIP_PATTERN.sub(" ", text)))


def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql``, checked to hold exactly one statement."""
    text = sql_path(name).read_text()
    statements = duckdb.extract_statements(text)
    if len(statements) != 1:
        raise ValueError(f"sql/{name}.sql must hold exactly one statement, found {len(statements)}")
    return text


def _checked_text(name: str, params: dict[str, Any]) -> str:
    text = load_sql(name)
    expected = sql_parameters(text)
    missing = sorted(expected - params.keys())
    unexpected = sorted(params.keys() - expected)
    if missing or unexpected:
        raise ValueError(f"sql/{name}.sql: missing parameter(s) {missing}, unexpected parameter(s) {unexpected}")
    return text


def run_sql(con: duckdb.DuckDBPyConnection, name: str, /, **params: Any) -> duckdb.DuckDBPyConnection:
    """Execute ``sql/<name>.sql`` on ``con`` with ``params`` bound to its ``$name`` parameters.

    Returns the connection, so a query's small result is fetched with ``.fetchall()``, ``.fetchone()``
    or ``.fetchnumpy()``; for Arrow, use ``stream_sql`` (DuckDB copies the rows once more when a
    DB-API result is turned into Arrow). A missing or unexpected parameter is a ``ValueError``
    naming it, raised before anything runs.
    """
    text = _checked_text(name, params)
    return con.execute(text, params) if params else con.execute(text)


def stream_sql(
    con: duckdb.DuckDBPyConnection, name: str, /, batch_rows: int = 1_000_000, **params: Any
) -> pa.RecordBatchReader:
    """The result of the query ``sql/<name>.sql`` as Arrow record batches of at most ``batch_rows`` rows.

    For results too large to hold at once: DuckDB produces the batches as they are read. The reader
    holds ``con`` until it is exhausted (read it to the end before the next statement). Parameters
    are checked and bound as in ``run_sql``.
    """
    text = _checked_text(name, params)
    return con.sql(text, params=params or None).to_arrow_reader(batch_rows)


def existing_dir(path: str | Path, what: str) -> Path:
    """``path`` resolved, after checking it is an existing directory (``what`` names it in the error)."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise FileNotFoundError(f"{what} directory not found: {resolved}")
    if not resolved.is_dir():
        raise NotADirectoryError(f"{what} is not a directory: {resolved}")
    return resolved


def parquet_glob(directory: str | Path, what: str) -> str:
    """Glob of every Parquet file under ``directory`` (checked to exist and to hold at least one).

    The result is a value to bind (``read_parquet($glob)``), never to paste into SQL text.
    """
    resolved = existing_dir(directory, what)
    if next(resolved.rglob("*.parquet"), None) is None:
        raise FileNotFoundError(f"{what} directory holds no Parquet files: {resolved}")
    return str(resolved / "**" / "*.parquet")
