"""Readers never block the writer and never fail: connections held open for a whole run and readers
polling during writes see the previous complete state until a write publishes; failed and killed
writes publish nothing; writers take turns."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading

import duckdb
import pytest
from warehouse_readers import read_counts

from recrl.store import warehouse


def complete(state: dict) -> bool:
    """Every run in a reader's state has its runs row and exactly the rows that row announces."""
    return all(
        n_valid == n_policies and n_test == n_ope for n_valid, n_test, n_policies, n_ope in state.values()
    )


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(db) -> list[str]:
    """Files beside the published warehouse other than the writers' lock file."""
    return sorted(
        p.name for p in db.parent.iterdir() if p.name.startswith(db.name) and p.suffix != ".lock" and p != db
    )


def test_writes_publish_while_readers_hold_the_file_open_and_poll(tmp_path, readers, make_run_frames) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse.replace_run(db, "r0", make_run_frames("r0", 0.1, n_policies=2))
    first = {"r0": [2, 4, 2, 4]}
    holder = readers.holder(db)  # another process, plain duckdb.connect(read_only=True), as a notebook
    poller = readers.poller(db)
    held_here = duckdb.connect(str(db), read_only=True)  # a plain connection in the writer's own process
    published = [dict(first)]
    with warehouse.connect(db) as held_by_recrl:
        for night, n_policies in [("r1", 1), ("r2", 3), ("r1", 4), ("r3", 2), ("r2", 1), ("r4", 5)]:
            warehouse.replace_run(db, night, make_run_frames(night, 0.2, n_policies))
            published.append(
                published[-1] | {night: [n_policies, 2 * n_policies, n_policies, 2 * n_policies]}
            )
            poller.wait_for_more_tries(2)  # so one read began after this publish
        assert held_by_recrl.execute("SELECT count(*) FROM ope_estimates").fetchall() == [(4,)]
    polled = poller.stop_and_read()
    final = published[-1]

    assert polled["failures"] == [] and polled["tries"] >= 2 * len(published)
    # Every read saw one published state, whole; and every published state was read.
    assert sorted(map(str, polled["states"])) == sorted(map(str, published))
    assert holder.first == first and holder.read() == first  # the state published when it opened
    holder.close()
    assert held_here.execute("SELECT count(*) FROM ope_estimates").fetchall() == [(4,)]
    held_here.close()
    with warehouse.connect(db) as fresh:
        assert fresh.execute("SELECT count(*) FROM ope_estimates").fetchall() == [
            (2 * sum(v[0] for v in final.values()),)
        ]
    assert leftovers(db) == []  # no WAL, no staging file beside the published warehouse


def test_a_failed_write_publishes_nothing_and_leaves_no_staging_file(tmp_path, make_run_frames) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse.replace_run(db, "a", make_run_frames("a", 0.1))
    published = digest(db)
    with pytest.raises(RuntimeError, match="midway"):
        with warehouse.writing(db) as con:
            con.execute("DELETE FROM ope_estimates")
            raise RuntimeError("failed midway")
    broken = make_run_frames("a", 0.9)
    broken["ope_estimates"] = broken["ope_estimates"].drop("value")  # NOT NULL column missing
    with pytest.raises(duckdb.Error, match="value"):
        warehouse.replace_run(db, "a", broken)
    assert digest(db) == published and leftovers(db) == []


def test_a_writer_killed_mid_write_leaves_the_published_file_and_the_next_writer_cleans_up(
    tmp_path, make_run_frames
) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse.replace_run(db, "a", make_run_frames("a", 0.1))
    published = digest(db)
    killed = textwrap.dedent("""
        import os, sys
        from recrl.store import warehouse
        with warehouse.writing(sys.argv[1]) as con:
            con.execute("DELETE FROM ope_estimates")
            os._exit(9)  # no cleanup of any kind, as when the machine or the process dies
    """)
    assert subprocess.run([sys.executable, "-c", killed, str(db)]).returncode == 9
    assert digest(db) == published and (tmp_path / "warehouse.duckdb.staging").exists()

    warehouse.replace_run(db, "b", make_run_frames("b", 0.2))  # the dead writer's lock went with its process
    with warehouse.connect(db) as con:
        assert con.execute(
            "SELECT run_id, count(*) FROM ope_estimates GROUP BY ALL ORDER BY 1"
        ).fetchall() == [("a", 2), ("b", 2)]
    assert leftovers(db) == []


def test_writers_take_turns_and_one_kept_waiting_too_long_fails_in_one_line(
    tmp_path, make_run_frames
) -> None:
    db = tmp_path / "warehouse.duckdb"
    writing, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with warehouse.writing(db) as con:
                con.execute(
                    "INSERT INTO runs (run_id, started_at, finished_at, status, source, data_root, n_train, n_valid, n_test, config_json) VALUES ('slow', now(), NULL, 'running', 's', 'd', 1, 2, 0, '{}')"
                )
                writing.set()
                release.wait(timeout=60)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert writing.wait(timeout=60)
    with pytest.raises(warehouse.WarehouseBusy, match=r"being written by another process \(pid \d+\)"):
        with warehouse.writing(db, lock_wait_s=0.2):
            pass
    waiting = threading.Thread(
        target=warehouse.replace_run, args=(db, "queued", make_run_frames("queued", 0.3))
    )
    waiting.start()  # waits for the slow writer, then writes on top of what it published
    release.set()
    thread.join(timeout=60)
    waiting.join(timeout=60)
    assert errors == []
    with warehouse.connect(db) as con:
        assert con.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall() == [("queued",), ("slow",)]


def test_connect_only_reads(tmp_path, make_run_frames) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse.replace_run(db, "a", make_run_frames("a", 0.1))
    with pytest.raises(ValueError, match="read-only; write with warehouse.writing"):
        warehouse.connect(db, read_only=False)
    with warehouse.connect(db) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM runs")


def test_the_file_is_readable_by_the_duckdb_1_5_cli_and_older_files_are_migrated(
    tmp_path, duckdb_cli, make_run_frames
) -> None:
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:  # written in place by DuckDB 2 in its own format, as before
        con.execute(
            "CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL, "
            "finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, source VARCHAR NOT NULL, "
            "data_root VARCHAR NOT NULL, n_train BIGINT, n_valid BIGINT, n_test BIGINT, "
            "config_json VARCHAR NOT NULL)"
        )
        con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, source, data_root, n_train, n_valid, n_test, config_json) VALUES ('old', now(), NULL, 'succeeded', 's', 'd', 1, 0, 0, '{}')")
    query = [
        str(duckdb_cli),
        "-readonly",
        "-csv",
        "-noheader",
        str(db),
        "-c",
        "SELECT run_id FROM runs ORDER BY 1",
    ]
    refused = subprocess.run(query, capture_output=True, text=True)
    # The error: "database file with version number 69, but we can only read versions between 64 and 68".
    assert refused.returncode != 0 and "version number" in refused.stdout + refused.stderr

    warehouse.replace_run(db, "new", make_run_frames("new", 0.2))
    read = subprocess.run(query, capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["new", "old"]
    with warehouse.connect(db) as con:
        assert con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = 'warehouse'"
        ).fetchall() == [(f"{warehouse.STORAGE_VERSION}+",)]
    with pytest.raises(duckdb.ConstraintException, match="primary key"):  # the migration kept constraints
        with warehouse.writing(db) as con:
            con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, source, data_root, n_train, n_valid, n_test, config_json) VALUES ('old', now(), NULL, 'succeeded', 's', 'd', 1, 0, 0, '{}')")


def test_rows_in_a_wal_left_beside_the_published_file_are_kept(tmp_path, make_run_frames) -> None:
    db = tmp_path / "warehouse.duckdb"
    warehouse.replace_run(db, "a", make_run_frames("a", 0.1))
    in_place = textwrap.dedent("""
        import duckdb, os, sys
        con = duckdb.connect(sys.argv[1])  # a writer that wrote in place and died before its checkpoint
        con.execute("SET checkpoint_threshold = '1TB'")
        con.execute("INSERT INTO runs (run_id, started_at, finished_at, status, source, data_root, n_train, n_valid, n_test, config_json) VALUES ('in-wal', now(), NULL, 'failed', 's', 'd', 0, 0, 0, '{}')")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", in_place, str(db)], check=True)
    assert (tmp_path / "warehouse.duckdb.wal").exists()
    warehouse.replace_run(db, "b", make_run_frames("b", 0.2))
    with warehouse.connect(db) as con:
        assert con.execute("SELECT run_id FROM runs ORDER BY 1").fetchall() == [("a",), ("b",), ("in-wal",)]
    assert leftovers(db) == []


@pytest.mark.slow
def test_a_nightly_run_succeeds_while_readers_hold_the_warehouse_open_and_poll(nightly_under_readers) -> None:
    seen = nightly_under_readers
    earlier = {"earlier": [3, 6, 3, 6]}
    assert seen.held_in_process_before == earlier and seen.held_in_process_after == earlier
    assert seen.held_elsewhere_before == earlier and seen.held_elsewhere_after == earlier
    assert seen.poll["failures"] == [] and seen.poll["tries"] >= 1
    night = seen.run_id
    for state in seen.poll["states"]:  # before the publish: the earlier run only; after: both, whole
        assert state.keys() in ({"earlier"}, {"earlier", night}) and state["earlier"] == earlier["earlier"]
    with warehouse.connect(seen.layout.warehouse) as con:
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [night]).fetchall()
        published = json.loads(json.dumps(read_counts(con)))
    assert status == [("succeeded",)] and published["earlier"] == earlier["earlier"]
    assert published[night][3] > 0
    # Every read saw the earlier state or the published one, whole; and both were read.
    assert sorted(map(str, seen.poll["states"])) == sorted(map(str, [earlier, published]))
    assert (seen.layout.reports / night / "report.md").is_file()  # the report read what was just published
