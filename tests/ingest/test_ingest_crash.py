"""A kill (SIGKILL) at any point of publishing: the next run rolls the batch forward or back, and the
reconciliation records still add up to the lake's rows, per file and for the lake as a whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import lake_content, read_events, write_csv

from recrl.config import IngestConfig
from recrl.ingest import ingest
from recrl.lake import DataLayout

REPO = Path(__file__).resolve().parents[2]

KILLED_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import recrl.ingest.writer as writer
    from recrl.config import IngestConfig
    from recrl.ingest import ingest
    from recrl.lake import DataLayout

    # Kill this process (SIGKILL: no cleanup, no finally) at the os.replace call number ``kill_at``
    # of the publish step, counting only calls whose target is under ``{lake}/{kind}``.
    root, kill_at, kind = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    real_replace = os.replace
    calls = 0

    def replace(source, target):
        global calls
        if Path(target).is_relative_to(root / "lake" / kind) or Path(target).name == kind:
            calls += 1
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(source, target)

    writer.os.replace = replace
    ingest(sys.argv[1].split(","), "events", DataLayout(root), IngestConfig(max_quarantine_share=1.0), block_bytes=4096)
    """
)


def _rows(n: int, seed: int, days: int = 4) -> list[str]:
    import random

    rng = random.Random(seed)
    return [
        f"2026-11-0{1 + rng.randrange(days)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z,"
        f"user{rng.randrange(40)},s{rng.randrange(5)},item{rng.randrange(25)},click,{rng.randrange(3)},r{seed}-{index},0.5,p"
        for index in range(n)
    ]


@pytest.fixture
def nights(tmp_path) -> list[Path]:
    """Two files: a plain CSV (fast path) and one with bad lines and duplicates (block path)."""
    plain = write_csv(tmp_path / "a.csv", _rows(600, seed=1))
    rows = _rows(400, seed=2)
    messy = write_csv(tmp_path / "b.csv", rows + ["bad,line", rows[0], "2026-11-02T10:00:00Z,,s,i,click,,,,"] + _rows(20, seed=1))
    return [plain, messy]


def _assert_records_add_up(layout: DataLayout) -> pl.DataFrame:
    records = pl.read_parquet(layout.reconciliation / "*.parquet")
    balance = pl.col("accepted_rows") + pl.col("quarantined_rows") + pl.col("duplicate_rows")
    assert (records["input_rows"] == records.select(balance).to_series()).all(), records
    assert records["accepted_rows"].sum() == read_events(layout).height
    quarantine = pl.read_parquet(layout.quarantine / "**/*.parquet") if layout.quarantine.exists() else pl.DataFrame()
    assert records["quarantined_rows"].sum() == quarantine.height
    totals = records.select(pl.sum("input_rows"), balance.sum().alias("parts")).row(0)
    assert totals[0] == totals[1]
    assert not (layout.lake / "_staging").exists()
    return records


@pytest.mark.parametrize(
    ("kind", "kill_at", "visible", "committed", "skip_ingested"),
    [
        ("COMMIT.json", 1, "none", False, True),  # killed writing the commit manifest: rolled back
        ("events", 1, "none", True, True),  # committed, killed before the first move: rolled forward
        ("events", 2, "some", True, True),  # killed between event partitions
        ("events", 6, "some", True, False),
        ("quarantine", 1, "all", True, True),  # every event partition moved, none of the quarantine
        ("reconciliation", 1, "all", True, False),  # everything but the record moved
    ],
)
def test_killed_during_publish_then_rerun_adds_up(tmp_path, nights, kind, kill_at, visible, committed, skip_ingested):
    clean = DataLayout(tmp_path / "clean")
    ingest(nights, "events", clean, IngestConfig(max_quarantine_share=1.0), block_bytes=4096)
    clean_rows = read_events(clean).height
    killed = DataLayout(tmp_path / "killed")
    script = tmp_path / "killed_ingest.py"
    script.write_text(KILLED_INGEST)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), ",".join(map(str, nights)), str(killed.root), str(kill_at), kind]
    result = subprocess.run(args, env=env, timeout=300)
    assert result.returncode == -signal.SIGKILL
    (staging,) = (killed.lake / "_staging").iterdir()  # the killed run's, with its manifest once committed
    assert (staging / "COMMIT.json").is_file() == committed
    rows = read_events(killed).height
    assert {"none": rows == 0, "some": 0 < rows < clean_rows, "all": rows == clean_rows}[visible], rows
    assert not killed.reconciliation.exists() or not any(killed.reconciliation.glob("*.parquet"))

    config = IngestConfig(max_quarantine_share=1.0, skip_ingested=skip_ingested)
    rerun = ingest(nights, "events", killed, config, block_bytes=4096)
    records = _assert_records_add_up(killed)
    assert read_events(killed).equals(read_events(clean))
    assert lake_content(killed).keys() == lake_content(clean).keys()
    if not committed:
        # Rolled back: the rerun ingested both files, as a clean run would.
        assert records.height == 2 and len(rerun.files) == 2
    elif skip_ingested:
        # Rolled forward: the killed run's records are in place, so the rerun reads nothing.
        assert records.height == 2 and rerun.files == () and len(rerun.skipped) == 2
    else:
        # Rolled forward, then read again: every row a duplicate, nothing added.
        assert records.height == 4 and all(r.accepted_rows == r.quarantined_rows == 0 for r in rerun.files)


def test_a_failed_run_leaves_no_staging_and_nothing_published(tmp_path, nights, monkeypatch):
    layout = DataLayout(tmp_path / "data")

    def failing_commit(self, record, record_name):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recrl.ingest.writer.BatchWriter.commit", failing_commit)
    with pytest.raises(OSError, match="No space left"):
        ingest(nights, "events", layout, IngestConfig(max_quarantine_share=1.0))
    assert not any(layout.lake.rglob("*.parquet")) and not (layout.lake / "_staging").exists()


def test_an_error_after_the_commit_keeps_the_batch_for_the_next_run_to_finish(tmp_path, nights, monkeypatch):
    layout = DataLayout(tmp_path / "data")
    real_replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(target)
        if len(calls) == 3:  # the manifest and one event partition are in place
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr("recrl.ingest.writer.os.replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        ingest(nights, "events", layout, IngestConfig(max_quarantine_share=1.0))
    monkeypatch.setattr("recrl.ingest.writer.os.replace", real_replace)
    assert (layout.lake / "_staging").is_dir() and read_events(layout).height > 0
    rerun = ingest(nights, "events", layout, IngestConfig(max_quarantine_share=1.0))
    assert rerun.files == () and len(rerun.skipped) == 2
    assert _assert_records_add_up(layout).height == 2
