"""The SQL runner: one statement per file, bound parameters only, validated paths."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recrl.sql as sql
from recrl.sql import connect, existing_dir, parquet_glob, run_sql, sql_parameters


@pytest.fixture
def sql_dir(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "pick.sql").write_text(
        "-- Builds: the rows of $table_glob whose name equals $name ('$not_a_param' is a literal).\n"
        "SELECT name, value FROM read_parquet($table_glob) WHERE name = $name ORDER BY value\n"
    )
    (tmp_path / "demo" / "two.sql").write_text("SELECT 1;\nSELECT 2;\n")
    monkeypatch.setattr(sql, "SQL_DIR", tmp_path)
    return tmp_path


@pytest.fixture
def parquet_dir(tmp_path):
    # A quote in the folder name: harmless because the path is bound, never pasted into SQL.
    folder = tmp_path / "it's data"
    (folder / "part").mkdir(parents=True)
    pq.write_table(pa.table({"name": ["a", "b", "a"], "value": [3, 1, 2]}), folder / "part" / "x.parquet")
    return folder


def test_runs_a_file_with_bound_parameters(sql_dir, parquet_dir):
    con = connect(threads=1)
    rows = run_sql(con, "demo/pick", table_glob=parquet_glob(parquet_dir, "demo table"), name="a").fetchall()
    assert rows == [("a", 2), ("a", 3)]
    # A value that would break a string-built query is just a value.
    injected = run_sql(con, "demo/pick", table_glob=parquet_glob(parquet_dir, "t"), name="a' OR '1'='1").fetchall()
    assert injected == []


def test_connection_cuts_dates_in_utc():
    con = connect()
    assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"


def test_parameters_are_found_outside_literals_and_comments():
    text = "-- uses $commented\nSELECT $a, '$literal', 'it''s $quoted', $b_2 FROM t WHERE x = $a"
    assert sql_parameters(text) == {"a", "b_2"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"table_glob": "x"}, r"missing parameter\(s\) \['name'\]"),
        ({"table_glob": "x", "name": "a", "extra": 1}, r"unexpected parameter\(s\) \['extra'\]"),
    ],
)
def test_missing_or_unexpected_parameters_are_named(sql_dir, params, message):
    with pytest.raises(ValueError, match=message):
        run_sql(connect(), "demo/pick", **params)


@pytest.mark.parametrize("name", ["../etc/passwd", "demo/Pick", "demo/pick.sql", "", "/demo/pick"])
def test_bad_names_are_refused(sql_dir, name):
    with pytest.raises(ValueError, match="SQL name"):
        run_sql(connect(), name)


def test_missing_file_and_several_statements_are_errors(sql_dir):
    with pytest.raises(FileNotFoundError, match="absent.sql"):
        run_sql(connect(), "demo/absent")
    with pytest.raises(ValueError, match="exactly one statement, found 2"):
        run_sql(connect(), "demo/two")


def test_path_checks_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="lake events directory not found"):
        parquet_glob(tmp_path / "missing", "lake events")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no Parquet files"):
        parquet_glob(tmp_path / "empty", "lake events")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="states root is not a directory"):
        existing_dir(tmp_path / "file.txt", "states root")


def test_every_sql_file_has_a_header_and_one_statement():
    files = sorted(sql.SQL_DIR.glob("*/*.sql"))
    assert {path.parent.name for path in files} == {"ingest", "states", "warehouse"}
    assert len(files) >= 30
    for path in files:
        text = path.read_text()
        assert text.startswith("-- Builds:") and "\n-- From:" in text, path.name
        sql.load_sql(f"{path.parent.name}/{path.stem}")


def test_stream_sql_yields_bounded_batches_with_bound_parameters(sql_dir, parquet_dir):
    con = connect(threads=1)
    glob = parquet_glob(parquet_dir, "demo table")
    reader = sql.stream_sql(con, "demo/pick", batch_rows=1, table_glob=glob, name="a")
    batches = list(reader)
    assert [b.num_rows for b in batches] == [1, 1]
    assert pa.Table.from_batches(batches).column("value").to_pylist() == [2, 3]
    with pytest.raises(ValueError, match=r"missing parameter\(s\) \['name'\]"):
        sql.stream_sql(con, "demo/pick", table_glob=glob)
