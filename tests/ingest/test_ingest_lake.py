"""Lake writing: layout, sharding, idempotence, privacy, reconciliation records, CLI, crash recovery."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import FIXTURES, lake_content, read_events, shared, write_csv

from recrl.cli import main
from recrl.config import IngestConfig
from recrl.ingest import ingest
from recrl.ingest.keys import user_shards
from recrl.lake import DataLayout, user_shard

NOW = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[2]


def _rows(n: int, seed: int = 0, days: int = 3) -> list[str]:
    import random

    rng = random.Random(seed)
    return [
        f"2026-11-0{1 + rng.randrange(days)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z,"
        f"user{rng.randrange(50)},s{rng.randrange(9)},item{rng.randrange(30)},"
        f"{rng.choice(['impression', 'click', 'cart', 'purchase'])},{rng.randrange(3)},r{index},{rng.uniform(0.01, 1):.4f},p"
        for index in range(n)
    ]


def test_vectorised_shards_agree_with_the_reference():
    ids = pl.Series([f"user-{index}" for index in range(500)] + ["", "é", "user-1"])
    for n_shards in (1, 4, 7):
        assert user_shards(ids, n_shards).to_list() == [user_shard(uid, n_shards) for uid in ids]


def test_rows_land_in_their_date_and_user_shard_partition(tmp_path, layout):
    ingest([write_csv(tmp_path / "a.csv", _rows(300))], "events", layout, IngestConfig(n_shards=4), now=NOW)
    events = read_events(layout)
    assert events.height == 300
    assert (events["ts"].dt.date() == events["date"]).all()
    assert events["shard"].to_list() == [user_shard(uid, 4) for uid in events["user_id"]]
    folders = {str(p.relative_to(layout.events)) for p in layout.events.glob("date=*/shard=*")}
    assert folders == {f"date={d}/shard={s:02d}" for d, s in events.select("date", "shard").iter_rows()}


def test_reingesting_same_file_and_overlapping_night_adds_nothing(tmp_path, layout):
    rows = _rows(400)
    first = ingest([write_csv(tmp_path / "night.csv", rows)], "events", layout, IngestConfig(), now=NOW)
    before = lake_content(layout)
    # Read again (not skipped by its digest): every row is a duplicate.
    again = ingest([write_csv(tmp_path / "night.csv", rows)], "events", layout, IngestConfig(skip_ingested=False), now=NOW)
    assert again.batch_id == first.batch_id
    assert (again.files[0].accepted_rows, again.files[0].duplicate_rows) == (0, 400)
    after = lake_content(layout)
    assert after.keys() == before.keys()
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    # A re-export of the night under another name and batch id, with 50 new rows: only those are added.
    reexport = write_csv(tmp_path / "night_v2.csv", rows[::-1] + _rows(50, seed=1))
    third = ingest([reexport], "events", layout, IngestConfig(), batch_id="rerun-2", now=NOW)
    new_rows = set(_rows(50, seed=1)) - set(rows)
    assert third.files[0].accepted_rows == len(new_rows)
    assert third.files[0].duplicate_rows == 450 - len(new_rows)
    assert read_events(layout).height == 400 + len(new_rows)


def test_duplicates_within_a_batch_are_dropped_and_counted_against_the_later_file(tmp_path, layout):
    rows = _rows(100)
    a = write_csv(tmp_path / "a.csv", rows + rows[:10])
    b = write_csv(tmp_path / "b.csv", rows[50:])
    report = ingest([a, b], "events", layout, IngestConfig(), now=NOW)
    assert [(r.accepted_rows, r.duplicate_rows) for r in report.files] == [(100, 10), (0, 50)]
    assert read_events(layout).height == 100


def test_same_content_gives_the_same_lake(tmp_path):
    rows = _rows(200)
    lakes = []
    for name in ("x", "y"):
        layout = DataLayout(tmp_path / name)
        ingest([write_csv(tmp_path / f"{name}.csv", rows)], "events", layout, IngestConfig(), now=NOW)
        lakes.append(lake_content(layout))
    assert lakes[0].keys() == lakes[1].keys()
    assert all(lakes[0][key].equals(lakes[1][key]) for key in lakes[0])


def test_salted_user_ids_are_hashed_and_the_salt_is_not_stored(tmp_path, layout, monkeypatch):
    salt = "pepper-4f1d9c"
    monkeypatch.setenv("RECRL_TEST_SALT", salt)
    ingest([write_csv(tmp_path / "a.csv", _rows(100))], "events", layout, IngestConfig(salt_env_var="RECRL_TEST_SALT"), now=NOW)
    users = read_events(layout)["user_id"]
    assert not any(uid.startswith("user") for uid in users)
    assert users.str.len_chars().unique().to_list() == [32]
    assert users.n_unique() == len({line.split(",")[1] for line in _rows(100)})
    for path in layout.lake.rglob("*"):
        if path.is_file():
            assert salt.encode() not in path.read_bytes(), path


def test_reconciliation_records_balance_and_match_the_lake(tmp_path, layout):
    good = _rows(30)
    path = write_csv(tmp_path / "mixed.csv", good + ["bad,line", good[0]])
    report = ingest([path], "events", layout, IngestConfig(), now=NOW)
    record = report.files[0]
    assert record.balanced and (record.input_rows, record.accepted_rows, record.quarantined_rows, record.duplicate_rows) == (32, 30, 1, 1)
    stored = pl.read_parquet(layout.reconciliation / "*.parquet").row(0, named=True)
    assert stored["input_rows"] == 32 and stored["ingest_batch_id"] == report.batch_id
    assert read_events(layout).filter(pl.col("ingest_batch_id") == report.batch_id).height == 30


def test_bad_arguments_fail_with_a_clear_error(tmp_path, layout):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ingest([tmp_path / "nope.csv"], "events", layout, IngestConfig())
    with pytest.raises(ValueError, match="format must be one of"):
        ingest([FIXTURES / "taobao_user_behavior.csv"], "criteo", layout, IngestConfig())
    with pytest.raises(ValueError, match="batch_id"):
        ingest([FIXTURES / "taobao_user_behavior.csv"], "taobao", layout, IngestConfig(), batch_id="../x")
    with pytest.raises(ValueError, match="no input files in folder"):
        ingest([tmp_path], "events", layout, IngestConfig())
    assert not layout.lake.exists()


def test_cli_prints_reconciliation_and_names_a_missing_path(tmp_path, capsys, monkeypatch):
    # Only this stage's sub-command: the test must not depend on other stages being importable.
    monkeypatch.setattr("recrl.cli.STAGE_CLI_MODULES", ("recrl.ingest.cli",))
    root = tmp_path / "root"
    assert main(["ingest", str(FIXTURES / "taobao_user_behavior.csv"), "--format", "taobao", "--lake", str(root)]) == 0
    out = capsys.readouterr().out
    assert "taobao_user_behavior.csv" in out and "quarantined" in out
    assert any((root / "lake" / "events").glob("date=*/shard=*/*.parquet"))
    missing = tmp_path / "missing.jsonl"
    assert main(["ingest", str(missing), "--format", "otto", "--lake", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing) in err


CRASHING_INGEST = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import recrl.ingest.run as run
    import recrl.ingest.writer as writer
    from recrl.config import IngestConfig
    from recrl.ingest import ingest
    from recrl.lake import DataLayout

    crash_after, kind = int(sys.argv[3]), sys.argv[4]
    calls = 0
    real_replace, real_stage, real_fast = os.replace, writer.BatchWriter.stage_events, run.stage_plain_csv

    def counted(original):
        def wrapper(*args, **kwargs):
            global calls
            calls += 1
            if calls > crash_after:
                os._exit(9)  # like a kill: no cleanup, no finally blocks
            return original(*args, **kwargs)
        return wrapper

    def after_fast_staging(*args, **kwargs):
        real_fast(*args, **kwargs)
        os._exit(9)

    if kind == "publish":
        writer.os.replace = counted(real_replace)
    elif kind == "stage":
        writer.BatchWriter.stage_events = counted(real_stage)
        run._user_table_or_none = lambda *args: None  # the line path: it stages block by block
    else:
        run.stage_plain_csv = after_fast_staging
    # The block path stages block by block: "stage" crashes between blocks of that path.
    ingest([sys.argv[1]], "events", DataLayout(Path(sys.argv[2])), IngestConfig(), block_bytes=4096)
    """
)


@pytest.mark.parametrize(("kind", "crash_after"), [("stage", 2), ("fast", 0), ("publish", 0), ("publish", 5)])
def test_process_killed_mid_ingest_then_rerun_equals_a_clean_run(tmp_path, kind, crash_after):
    source = write_csv(tmp_path / "night.csv", _rows(2000, days=5))
    clean = DataLayout(tmp_path / "clean")
    ingest([source], "events", clean, IngestConfig(), block_bytes=4096)
    crashed = DataLayout(tmp_path / "crashed")
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_INGEST)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, str(script), str(source), str(crashed.root), str(crash_after), kind], env=env)
    assert result.returncode == 9
    visible = read_events(crashed)
    if kind == "publish" and crash_after:
        # Whole partition files only: every visible partition equals the clean run's.
        assert 0 < visible.height < 2000
        assert visible.join(read_events(clean), on=visible.columns, how="anti", nulls_equal=True).height == 0
    else:
        assert visible.height == 0
    rerun = ingest([source], "events", crashed, IngestConfig(skip_ingested=False), block_bytes=4096)
    assert rerun.files[0].balanced
    assert read_events(crashed).equals(read_events(clean))
    assert lake_content(crashed).keys() == lake_content(clean).keys()
    assert not (crashed.lake / "_staging").exists()


def test_obd_twice_is_idempotent(layout):
    path = shared("obd/bts/women/women.csv")
    ingest([path], "obd", layout, IngestConfig())
    before = lake_content(layout)
    report = ingest([path], "obd", layout, IngestConfig(skip_ingested=False))
    assert report.files[0].accepted_rows == 0 and report.files[0].duplicate_rows == report.files[0].input_rows
    after = lake_content(layout)
    assert all(before[key].equals(after[key]) for key in before) and before.keys() == after.keys()
