"""Ingest sources: files, folders and globs; skipping files already ingested; empty inputs;
file-level errors; the quarantine gate; the one-line reconciliation."""

from __future__ import annotations

import builtins
import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import CSV_HEADER, lake_content, read_events, write_csv

from recrl.cli import main
from recrl.config import IngestConfig
from recrl.ingest import IngestError, QuarantineShareError, ingest, resolve_sources
from recrl.lake import DataLayout
from recrl.simulate import write_logs

NOW = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _only_the_ingest_cli(monkeypatch):
    # Only this stage's sub-command: the tests must not depend on other stages being importable.
    monkeypatch.setattr("recrl.cli.STAGE_CLI_MODULES", ("recrl.ingest.cli",))


@pytest.fixture(scope="module")
def sim_days(tmp_path_factory, make_tiny_config) -> list[Path]:
    """The tiny world's four daily simulator files (``events-YYYY-MM-DD.csv``), written once."""
    root = tmp_path_factory.mktemp("sim")
    config = make_tiny_config(root / "data")
    paths = write_logs(config.sim, root / "raw", root / "truth")
    days = sorted(path for path in paths if path.name.startswith("events-"))
    assert len(days) == 4
    return days


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _records(layout: DataLayout) -> pl.DataFrame:
    return pl.read_parquet(layout.reconciliation / "*.parquet")


# --- sources -------------------------------------------------------------------------------------


def test_a_folder_gives_its_files_recursively_sorted_without_hidden_or_lake_files(tmp_path):
    logs = tmp_path / "logs"
    expected = [_touch(logs / "b.csv"), _touch(logs / "a" / "z.csv"), _touch(logs / "a.csv"), _touch(logs / "c" / "d" / "e.jsonl")]
    for left_out in (".hidden.csv", "_SUCCESS", ".cache/x.csv", "_staging/y.csv", "lake/events/z.parquet", "a/.part.tmp"):
        _touch(logs / left_out)
    assert resolve_sources(logs) == sorted(path.resolve() for path in expected)
    # The same folder twice, or a file inside it again, is read once; order follows the sources.
    both = resolve_sources([logs / "b.csv", logs])
    assert both[0] == (logs / "b.csv").resolve() and sorted(both) == sorted(resolve_sources(logs))


def test_globs_expand_sorted_and_recursive_with_double_star(tmp_path):
    for name in ("2026-11-02.csv", "2026-11-01.csv", "notes.txt", "sub/2026-11-03.csv", ".2026-11-04.csv"):
        _touch(tmp_path / name)
    assert [p.name for p in resolve_sources(str(tmp_path / "2026-*.csv"))] == ["2026-11-01.csv", "2026-11-02.csv"]
    assert [p.name for p in resolve_sources(str(tmp_path / "**" / "*.csv"))] == ["2026-11-01.csv", "2026-11-02.csv", "2026-11-03.csv"]


def test_obd_folders_leave_out_the_item_context_read_beside_each_log(tmp_path):
    log = _touch(tmp_path / "obd" / "random" / "all" / "all.csv")
    _touch(tmp_path / "obd" / "random" / "all" / "item_context.csv")
    assert resolve_sources(tmp_path / "obd", "obd") == [log.resolve()]
    assert len(resolve_sources(tmp_path / "obd", "events")) == 2


def test_an_empty_folder_a_glob_matching_nothing_and_a_missing_path_fail_in_one_line(tmp_path, layout, capsys):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    _touch(tmp_path / "empty" / ".hidden" / "x.csv")
    with pytest.raises(IngestError, match="no input files in folder .*empty"):
        ingest(tmp_path / "empty", "events", layout, IngestConfig())
    with pytest.raises(FileNotFoundError, match=r"no input files match .*\*\.jsonl"):
        ingest(str(tmp_path / "*.jsonl"), "events", layout, IngestConfig())
    with pytest.raises(FileNotFoundError, match="input path not found: .*nope.csv"):
        ingest(tmp_path / "nope.csv", "events", layout, IngestConfig())
    assert main(["ingest", str(tmp_path / "empty"), "--format", "events", "--lake", str(layout.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "empty" in err
    assert not layout.lake.exists()


def test_cli_takes_a_folder_and_prints_the_one_line_reconciliation(tmp_path, sim_days, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    for day in sim_days[:2]:
        shutil.copy(day, logs / day.name)
    assert main(["ingest", str(logs), "--format", "events", "--lake", str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    records = _records(DataLayout(tmp_path / "root"))
    n_input = records["input_rows"].sum()
    assert out[-1] == f"ingest: 2 files (0 skipped), input {n_input:,} = accepted {n_input:,} + quarantined 0 + duplicates 0"
    assert all(day.name in "\n".join(out) for day in sim_days[:2])


# --- skipping files already ingested -------------------------------------------------------------


def test_a_growing_folder_ingests_only_the_new_file_and_a_renamed_copy_is_skipped(tmp_path, sim_days, layout):
    logs = tmp_path / "logs"
    logs.mkdir()
    for day in sim_days[:2]:
        shutil.copy(day, logs / day.name)
    first = ingest(logs, "events", layout, IngestConfig(), now=NOW)
    assert [Path(r.source_file).name for r in first.files] == [day.name for day in sim_days[:2]] and not first.skipped
    lake_rows = read_events(layout).height
    assert lake_rows == sum(r.accepted_rows for r in first.files) > 0

    shutil.copy(sim_days[2], logs / sim_days[2].name)
    second = ingest(logs, "events", layout, IngestConfig(), now=NOW)
    (new,) = second.files
    assert Path(new.source_file).name == sim_days[2].name and new.balanced and new.accepted_rows > 0
    assert [Path(s.source_file).name for s in second.skipped] == [day.name for day in sim_days[:2]]
    assert {s.ingest_batch_id for s in second.skipped} == {first.batch_id}
    assert second.summary().startswith("ingest: 3 files (2 skipped), input ")
    records = _records(layout)
    assert records.height == 3 and records["source_file"].n_unique() == 3
    assert records.filter(pl.col("ingest_batch_id") == second.batch_id)["input_rows"].to_list() == [new.input_rows]
    with_new = read_events(layout).height
    assert with_new == lake_rows + new.accepted_rows == records["accepted_rows"].sum()

    shutil.copy(sim_days[0], logs / "renamed-copy.csv")  # same bytes, another name
    before = lake_content(layout)
    third = ingest(logs, "events", layout, IngestConfig(), now=NOW)
    assert third.files == () and len(third.skipped) == 4
    assert "renamed-copy.csv" in third.table() and "nothing to ingest" in third.table()
    assert _records(layout).height == 3
    after = lake_content(layout)
    assert before.keys() == after.keys() and all(before[key].equals(after[key]) for key in before)

    # Without skipping, the copy is read again: every row of it is a duplicate.
    again = ingest(logs / "renamed-copy.csv", "events", layout, IngestConfig(skip_ingested=False), now=NOW)
    (copy,) = again.files
    assert copy.accepted_rows == 0 and copy.duplicate_rows == copy.input_rows > 0
    assert read_events(layout).height == with_new


# --- empty inputs and file-level errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("zero.csv", "", "events"),
        ("blank.csv", "\n \n\n", "events"),
        ("header.csv", CSV_HEADER + "\n", "events"),
        ("header-unterminated.csv", CSV_HEADER, "events"),
        ("zero.jsonl", "", "events"),
        ("blank.jsonl", "\n\n", "otto"),
        ("zero.csv", "", "taobao"),
    ],
)
def test_an_empty_file_ingests_nothing_and_records_input_zero(tmp_path, layout, name, text, fmt):
    path = _touch(tmp_path / name, text)
    report = ingest(path, fmt, layout, IngestConfig(), now=NOW)
    (record,) = report.files
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows, record.duplicate_rows) == (0, 0, 0, 0)
    assert _records(layout)["input_rows"].to_list() == [0]
    assert sorted(p.name for p in layout.lake.iterdir()) == ["reconciliation"]
    assert report.summary() == "ingest: 1 files (0 skipped), input 0 = accepted 0 + quarantined 0 + duplicates 0"


def _good_rows(n: int, start: int = 0) -> list[str]:
    return [
        f"2026-11-01T10:{index % 60:02d}:00Z,u{index % 7},s1,i{index},click,0,r{index},0.5,p"
        for index in range(start, start + n)
    ]


def test_a_corrupt_parquet_input_fails_naming_it_and_writes_nothing(tmp_path, layout, capsys):
    good = write_csv(tmp_path / "good.csv", _good_rows(20))
    corrupt = tmp_path / "night.parquet"
    corrupt.write_bytes(b"PAR1" + os.urandom(200))
    assert main(["ingest", str(good), str(corrupt), "--format", "events", "--lake", str(layout.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(corrupt) in err
    assert not any(layout.lake.rglob("*.parquet")) and not (layout.lake / "_staging").exists()


def test_a_lake_under_a_file_fails_in_one_line(tmp_path, capsys):
    good = write_csv(tmp_path / "good.csv", _good_rows(5))
    blocker = _touch(tmp_path / "blocker")
    assert main(["ingest", str(good), "--format", "events", "--lake", str(blocker / "root")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(blocker) in err and "not a directory" in err
    with pytest.raises(IngestError, match="not a directory"):
        ingest(good, "events", DataLayout(blocker / "root"), IngestConfig())


def test_an_unreadable_file_fails_naming_it_and_writes_nothing(tmp_path, layout, monkeypatch, capsys):
    good = write_csv(tmp_path / "good.csv", _good_rows(20))
    locked = write_csv(tmp_path / "locked.csv", _good_rows(5))
    if os.geteuid() == 0:
        # root reads a chmod 000 file anyway: refuse it the way the kernel would refuse another user.
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == locked.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)
    else:
        locked.chmod(0)
    assert main(["ingest", str(good), str(locked), "--format", "events", "--lake", str(layout.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "locked.csv" in err and "Permission denied" in err
    assert not layout.lake.exists() or not any(layout.lake.rglob("*.parquet"))


# --- the quarantine gate -------------------------------------------------------------------------


def _naive_rows(n: int) -> list[str]:
    """Rows whose timestamps lack a UTC offset: quarantined unless ingest.naive_timestamps='utc'."""
    return [f"2026-11-02T11:{index % 60:02d}:00,u{index % 5},s2,i{index},click,0,n{index},0.5,p" for index in range(n)]


def test_a_batch_above_the_quarantine_share_is_refused_and_publishes_nothing(tmp_path, layout, capsys):
    ingest(write_csv(tmp_path / "day1.csv", _good_rows(30)), "events", layout, IngestConfig(), now=NOW)
    before, records_before = lake_content(layout), _records(layout)
    night = write_csv(tmp_path / "day2.csv", _good_rows(10, start=100) + _naive_rows(25) + ["not,a,row"])

    with pytest.raises(QuarantineShareError) as refused:
        ingest(night, "events", layout, IngestConfig(), now=NOW)
    message = str(refused.value)
    assert "26 of 36 input rows (72.2%)" in message and "max_quarantine_share = 0.2" in message
    assert ": 25 rows, e.g. " in message and "malformed_line: 1 rows" in message and "what to do:" in message
    assert message.index("25 rows") < message.index("1 rows")  # most frequent reason first
    # The lake is as it was: no events, quarantine or record of the refused batch.
    after = lake_content(layout)
    assert before.keys() == after.keys() and all(before[key].equals(after[key]) for key in before)
    assert _records(layout).equals(records_before) and not (layout.lake / "_staging").exists()
    # Its rejected rows are kept for inspection, and the counts it held add up.
    (folder,) = (layout.lake / "refused").iterdir()
    rejected = pl.read_parquet(folder / "quarantine.parquet")
    assert rejected.height == 26 and set(rejected["ingest_batch_id"]) == {folder.name} and str(folder) in message
    (held,) = pl.read_parquet(folder / "files.parquet").iter_rows(named=True)
    assert held["input_rows"] == held["valid_rows"] + held["quarantined_rows"] == 36

    # The CLI: exit 2, the reasons on stderr. The refused file has no record, so it is not skipped.
    assert main(["ingest", str(night), "--format", "events", "--lake", str(layout.root)]) == 2
    assert "max_quarantine_share" in capsys.readouterr().err
    accepted = ingest(night, "events", layout, IngestConfig(max_quarantine_share=1.0), now=NOW)
    (record,) = accepted.files
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (36, 10, 26)
    assert read_events(layout).height == 30 + 10


def test_a_batch_at_the_quarantine_share_is_published(tmp_path, layout):
    night = write_csv(tmp_path / "night.csv", _good_rows(8) + _naive_rows(2))  # 20 % exactly
    (record,) = ingest(night, "events", layout, IngestConfig(max_quarantine_share=0.2), now=NOW).files
    assert (record.accepted_rows, record.quarantined_rows) == (8, 2)
    assert not (layout.lake / "refused").exists()
