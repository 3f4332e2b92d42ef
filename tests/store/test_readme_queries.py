"""The README's queries: the same text as the files in sql/warehouse/queries, and each one answers with
rows, through the DuckDB 1.5 CLI, on the warehouse a real nightly run wrote."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest

from recrl.sql import SQL_DIR, load_sql

README = SQL_DIR.parent / "README.md"
QUERIES = SQL_DIR / "warehouse" / "queries"


# What each query's rows must show on the fixture's warehouse: an earlier run, then one real nightly run.
EXPECTED = {
    "runs": lambda rows: (
        [r["run_id"] for r in rows] == ["night-under-readers", "earlier"] and rows[0]["status"] == "succeeded"
    ),
    "latest_comparison": lambda rows: (
        {"actor-critic", "sasrec", "logging", "oracle"} <= {r["policy"] for r in rows}
        and all(r["dr"] != "NULL" for r in rows if r["kind"] in ("agent", "baseline"))
    ),
    "estimator_accuracy": lambda rows: (
        {"dr-clip100", "snips", "on-policy"} <= {r["estimator"] for r in rows}
        and all(0 <= float(r["ci_coverage"]) <= 1 for r in rows)
    ),
    "latest_ranking": lambda rows: (
        {r["target"] for r in rows} == {"click", "purchase"} and "actor-critic" in {r["policy"] for r in rows}
    ),
    "behaviour_models": lambda rows: (
        any(r["used"] == "true" for r in rows) and {r["run_id"] for r in rows} == {"night-under-readers"}
    ),
}


def readme_queries() -> list[str]:
    """The ```sql blocks of the README's "Query the results" section, in order."""
    text = README.read_text()
    section = text.split("\n## Query the results\n", 1)[1].split("\n## ", 1)[0]
    return [block + "\n" for block in re.findall(r"```sql\n(.*?)\n```", section, flags=re.DOTALL)]


def test_readme_shows_every_query_file_as_it_is() -> None:
    files = sorted(QUERIES.glob("*.sql"))
    assert sorted(path.stem for path in files) == sorted(EXPECTED)
    assert sorted(readme_queries()) == sorted(path.read_text() for path in files)
    for path in files:  # one statement each, with its header, like every file under sql/
        assert load_sql(f"warehouse/queries/{path.stem}").startswith("-- Builds: ")


def run_cli(cli: Path, db: Path, query: str) -> list[dict]:
    done = subprocess.run(
        [str(cli), "-readonly", "-bail", "-csv", str(db)],
        input=query,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_readme_query_answers_through_the_cli(name, duckdb_cli, nightly_under_readers) -> None:
    query = (QUERIES / f"{name}.sql").read_text()
    assert query in readme_queries()  # what the README shows is what runs here
    rows = run_cli(duckdb_cli, nightly_under_readers.layout.warehouse, query)
    assert rows and EXPECTED[name](rows), rows
