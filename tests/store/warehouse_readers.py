"""Readers of the warehouse in their own process, the way a notebook or a dashboard reads it.

    python warehouse_readers.py poll DB STOP OUT   open read-only, read every run's row counts, close;
                                                   again until the file STOP exists (OUT.tries holds
                                                   the tries so far); JSON summary to OUT
    python warehouse_readers.py hold DB            open read-only and keep the connection: prints the
                                                   counts, then again after each line read from stdin

Both open the file with plain ``duckdb.connect(path, read_only=True)``, not through recrl. The counts
per run (``runs`` row's n_valid / n_test beside the rows found in ``policies`` and ``ope_estimates``)
let the test check that every read saw a complete state.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

# Per run: the runs row's n_valid and n_test, then the rows each table holds for it. Run ids that have
# rows in a table but no runs row show up with null counts from runs.
COUNTS = """
WITH ids AS (SELECT run_id FROM runs UNION SELECT run_id FROM policies UNION SELECT run_id FROM ope_estimates)
SELECT ids.run_id, r.n_valid, r.n_test,
       (SELECT count(*) FROM policies p WHERE p.run_id = ids.run_id)::BIGINT,
       (SELECT count(*) FROM ope_estimates e WHERE e.run_id = ids.run_id)::BIGINT
FROM ids LEFT JOIN runs r USING (run_id)
ORDER BY ids.run_id
"""


def read_counts(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {row[0]: list(row[1:]) for row in con.execute(COUNTS).fetchall()}


def poll(db: Path, stop: Path, out: Path) -> None:
    tries, failures, states = 0, [], set()
    while not stop.exists():
        tries += 1
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                states.add(json.dumps(read_counts(con), sort_keys=True))
        except Exception as error:  # every failure is the finding: record it and keep polling
            failures.append(f"{type(error).__name__}: {error}")
        progress = out.with_name(out.name + ".tries")
        progress.with_suffix(".tmp").write_text(str(tries))
        progress.with_suffix(".tmp").replace(progress)  # whole, so the test never reads half a number
        time.sleep(0.005)
    out.write_text(json.dumps({"tries": tries, "failures": failures, "states": sorted(states)}))


def hold(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        print(json.dumps(read_counts(con)), flush=True)
        for _ in sys.stdin:
            print(json.dumps(read_counts(con)), flush=True)


if __name__ == "__main__":
    mode, db, *rest = sys.argv[1:]
    if mode == "poll":
        poll(Path(db), Path(rest[0]), Path(rest[1]))
    else:
        hold(Path(db))
