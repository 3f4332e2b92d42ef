"""Caching and resume: a failed run leaves a ``failed`` row, and its rerun resumes at the failed stage
with every earlier stage Cached (no retraining); a cached result whose files are gone is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

import pipelines.nightly
from pipelines.nightly import nightly, simulate_logs
from recrl.agents.fit import SEQUENTIAL_LOG_FILE, TRAINING_LOG_FILE
from recrl.lake import DataLayout


@flow
def simulate_only(config):
    return simulate_logs(config, return_state=True)


def test_a_cached_result_naming_deleted_files_is_refused(prefect_api, make_tiny_config, tmp_path) -> None:
    config = make_tiny_config(tmp_path / "data")
    first = simulate_only(config)
    paths = [Path(p) for p in first.result()]
    assert first.name == "Completed" and paths and all(p.is_file() for p in paths)
    again = simulate_only(config)
    assert again.name == "Cached" and again.result() == first.result()

    for path in paths:  # the files the cached result names are gone: the stage must run again
        path.unlink()
    rebuilt = simulate_only(config)
    assert rebuilt.name == "Completed" and all(p.is_file() for p in paths)
    assert simulate_only(config).name == "Cached"  # and the fresh result is cached in turn


def task_states(flow_run_id, names: set[str], deadline_s: float = 60.0) -> dict[str, str]:
    """State name per task run of a flow run (task runs reach the API through events: wait for them)."""
    with get_client(sync_client=True) as client:
        stop = time.monotonic() + deadline_s
        while True:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            states = {t.name: t.state.name for t in task_runs if t.state is not None and t.state.is_final()}
            if names <= states.keys() or time.monotonic() > stop:
                return states
            time.sleep(1)


def runs_row(layout: DataLayout, run_id: str) -> dict:
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        cursor = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        (row,) = cursor.fetchall()
        estimates = con.execute("SELECT count(*) FROM ope_estimates WHERE run_id = ?", [run_id]).fetchone()[0]
    return dict(zip(names, row, strict=True)) | {"estimates": estimates}


@pytest.mark.slow
def test_a_run_failing_in_evaluate_leaves_a_failed_row_and_its_rerun_does_not_retrain(
    prefect_api, make_tiny_config, tmp_path, monkeypatch
) -> None:
    config = make_tiny_config(tmp_path / "data")
    layout = DataLayout(tmp_path / "data")

    def broken_evaluation(*args, **kwargs):
        raise RuntimeError("injected evaluation failure\nsecond line")

    monkeypatch.setattr(pipelines.nightly, "evaluate_run", broken_evaluation)
    failed = nightly(config=config, run_id="night-x", return_state=True)
    assert failed.is_failed()
    row = runs_row(layout, "night-x")
    assert (row["status"], row["failed_stage"], row["error"]) == (
        "failed",
        "evaluate",
        "RuntimeError: injected evaluation failure",
    )
    assert {"ingest", "build-states", "train-actor-critic", "train-sequential"} <= json.loads(
        row["stage_seconds"]
    ).keys()
    assert row["estimates"] == 0 and row["code_version"].startswith("0.") and len(row["data_version"]) == 64
    logs = {name: (layout.models / "night-x" / name) for name in (TRAINING_LOG_FILE, SEQUENTIAL_LOG_FILE)}
    trained = {name: (path.stat().st_mtime_ns, path.read_text()) for name, path in logs.items()}

    monkeypatch.undo()
    resumed = nightly(config=config, run_id="night-x", return_state=True)
    assert resumed.is_completed() and resumed.result() == "night-x"
    assert {name: (path.stat().st_mtime_ns, path.read_text()) for name, path in logs.items()} == trained
    earlier = {"simulate-logs", "ingest", "build-states", "train-actor-critic", "train-sequential"}
    states = task_states(resumed.state_details.flow_run_id, earlier | {"evaluate"})
    assert {name: states.get(name) for name in earlier} == dict.fromkeys(earlier, "Cached")
    assert states["evaluate"] == "Completed"
    row = runs_row(layout, "night-x")
    assert (row["status"], row["failed_stage"], row["error"]) == ("succeeded", None, None)
    assert row["estimates"] > 0 and row["n_train"] > 0

    # The run's artifacts: the main comparison as a table, the report with its plot embedded.
    with get_client(sync_client=True) as client:
        table, report = (
            client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[resumed.state_details.flow_run_id])),
            )
            for key in ("recrl-comparison", "recrl-report")
        )
    (table,), (report,) = table, report
    assert {"actor-critic", "sasrec", "logging"} <= {r["policy"] for r in json.loads(table.data)}
    assert "](data:image/png;base64," in report.data and "](estimates.png)" not in report.data
