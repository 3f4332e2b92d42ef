"""The nightly flow's sources: a folder of daily logs (growing night by night), a glob, and 'lake'."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.nightly import check_source, ingest_logs, main, nightly
from recrl.ingest import IngestError, QuarantineShareError
from recrl.lake import DataLayout
from recrl.loop import LOOP_TABLES
from recrl.simulate import write_logs
from recrl.store.warehouse import TABLES


@pytest.fixture(scope="module")
def sim_days(tmp_path_factory, make_tiny_config) -> list[Path]:
    """The tiny world's four daily simulator files, written once."""
    root = tmp_path_factory.mktemp("sim")
    config = make_tiny_config(root / "data")
    paths = write_logs(config.sim, root / "raw", root / "truth")
    return sorted(path for path in paths if path.name.startswith("events-"))


def _folder_of(days: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:
        shutil.copy(day, folder / day.name)
    return folder


def test_the_ingest_task_takes_a_growing_folder_and_prints_its_reconciliation(tmp_path, sim_days, make_tiny_config, capsys):
    logs = _folder_of(sim_days[:2], tmp_path / "logs")
    config = dataclasses.replace(make_tiny_config(tmp_path / "data"), source=str(logs))
    check_source(config)
    first = ingest_logs.fn([config.source], "events", config)
    assert (first["files"], first["skipped"]) == (2, 0) and first["input"] == first["accepted"] > 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ingest: 2 files (0 skipped), input ")

    _folder_of(sim_days[2:3], logs)
    second = ingest_logs.fn([config.source], "events", config)
    assert (second["files"], second["skipped"]) == (1, 2) and second["accepted"] > 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ingest: 3 files (2 skipped), input ")
    lake_rows = pl.scan_parquet(DataLayout(tmp_path / "data").events / "**/*.parquet").select(pl.len()).collect().item()
    assert lake_rows == first["accepted"] + second["accepted"]

    # A glob over the same folder: every file ingested before.
    glob_config = dataclasses.replace(config, source=str(logs / "events-*.csv"))
    check_source(glob_config)
    assert ingest_logs.fn([glob_config.source], "events", glob_config)["skipped"] == 3


def test_source_lake_needs_events_and_bad_sources_fail_in_one_line(tmp_path, make_tiny_config, capsys):
    config = dataclasses.replace(make_tiny_config(tmp_path / "data"), source="lake")
    with pytest.raises(IngestError, match="no events under"):
        check_source(config)
    (tmp_path / "empty").mkdir()
    for source in ("lake", str(tmp_path / "empty"), str(tmp_path / "*.jsonl")):
        config_file = tmp_path / "config.json"
        # Written as JSON, not built: a glob that matches nothing is already refused by PipelineConfig.
        config_file.write_text(json.dumps(json.loads(config.to_json()) | {"source": source}))
        assert main(["--config", str(config_file)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("lake" in err[0] if source == "lake" else source in err[0])


@pytest.mark.slow
def test_nightly_on_a_growing_folder_then_on_the_lake(prefect_api, sim_days, make_tiny_config, tmp_path) -> None:
    logs = _folder_of(sim_days[:3], tmp_path / "logs")
    config = dataclasses.replace(make_tiny_config(tmp_path / "data"), source=str(logs))
    layout = DataLayout(tmp_path / "data")
    nightly(config=config, run_id="night-1")
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        for table in (t for t in TABLES if t not in LOOP_TABLES):  # the closed loop's tables stay empty
            assert con.table(table).aggregate("count(*)").fetchall()[0][0] > 0, table
    records = pl.read_parquet(layout.reconciliation / "*.parquet")
    assert records.height == 3

    _folder_of(sim_days[3:], logs)  # the next night's file lands
    nightly(config=config, run_id="night-2")
    records = pl.read_parquet(layout.reconciliation / "*.parquet")
    (new,) = records.filter(pl.col("ingest_batch_id") != records["ingest_batch_id"][0]).iter_rows(named=True)
    assert records.height == 4 and Path(new["source_file"]).name == sim_days[3].name
    lake_rows = pl.scan_parquet(layout.events / "**/*.parquet").select(pl.len()).collect().item()
    assert lake_rows == records["accepted_rows"].sum()

    # 'lake': nothing simulated or ingested, the same lake trained on again.
    nightly(config=dataclasses.replace(config, source="lake"), run_id="night-3")
    assert pl.read_parquet(layout.reconciliation / "*.parquet").height == 4
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3


def test_the_ingest_task_fails_when_the_quarantine_gate_refuses_the_batch(tmp_path, make_tiny_config):
    logs = tmp_path / "logs"
    logs.mkdir()
    header = "ts,user_id,session_id,item_id,event_type,position,request_id,propensity,policy_id"
    rows = [f"2026-11-01T10:00:{index:02d},u{index},s,i{index},click,0,r{index},0.5,p" for index in range(10)]
    (logs / "naive.csv").write_text("\n".join([header, *rows]) + "\n")  # no UTC offsets: all quarantined
    config = dataclasses.replace(make_tiny_config(tmp_path / "data"), source=str(logs))
    with pytest.raises(QuarantineShareError, match="10 of 10 input rows"):
        ingest_logs.fn([config.source], "events", config)
    assert not DataLayout(tmp_path / "data").events.exists()
