"""The state builder on real logs (Open Bandit Dataset, OTTO) and on the simulator, through recrl.ingest."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from recrl.config import IngestConfig, SimConfig
from recrl.ingest.run import ingest
from recrl.lake import DataLayout
from recrl.states import build_states, load_transitions, to_arrays

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SPLITS = ("train", "valid", "test")


def all_transitions(layout):
    return {split: load_transitions(layout, split) for split in SPLITS}


@pytest.mark.skipif(not (SHARED_DATA / "obd").is_dir(), reason=f"Open Bandit sample not found at {SHARED_DATA}")
def test_open_bandit_logs_give_one_decision_per_logged_row(tmp_path, small_config):
    source = SHARED_DATA / "obd" / "random" / "all" / "all.csv"
    layout = DataLayout(tmp_path)
    ingest([source], "obd", layout, IngestConfig())
    summary = build_states(layout, small_config)
    with source.open() as handle:
        logged = list(csv.DictReader(handle))
    tables = all_transitions(layout)
    assert sum(len(t) for t in tables.values()) == len(logged) == summary.total
    assert all(summary.counts[split]["sequence"] == 0 for split in SPLITS)
    clicks = sum(int(t.column("click").to_numpy().sum()) for t in tables.values())
    assert clicks == sum(int(row["click"]) for row in logged)
    arrays = to_arrays(tables["test"], history_len=small_config.history_len)
    # The uniform-random logger's propensity is 1/80 at every slot; slots are 0-based.
    assert np.allclose(arrays.propensity, 1 / 80) and set(arrays.position.tolist()) == {0, 1, 2}
    assert np.allclose(arrays.reward, small_config.reward_click * arrays.click)
    assert len(summary.dates["test"]) == 1 and len(summary.dates["train"]) == 5


@pytest.mark.skipif(not (SHARED_DATA / "otto").is_dir(), reason=f"OTTO sample not found at {SHARED_DATA}")
def test_otto_sessions_give_one_decision_per_step(tmp_path, small_config):
    layout = DataLayout(tmp_path)
    ingest([SHARED_DATA / "otto" / "sessions_sample.jsonl"], "otto", layout, IngestConfig())
    summary = build_states(layout, small_config)
    tables = all_transitions(layout)
    rows = [row for t in tables.values() for row in t.to_pylist()]
    # 862 events, no two of them the same item at the same ms in a session: 862 steps.
    assert len(rows) == summary.total == 862
    assert sum(r["cart"] for r in rows) == 52 and sum(r["purchase"] for r in rows) == 10
    assert all(r["kind"] == "sequence" and r["propensity"] is None for r in rows)
    # OTTO's session ids are kept (20 sessions), and each ends with exactly one done step.
    sessions = {r["session_id"] for r in rows}
    assert len(sessions) == 20 and sum(r["done"] for r in rows) == 20


def test_simulator_logs_give_one_decision_per_impression(tmp_path, small_config):
    simulate = pytest.importorskip("recrl.simulate")
    layout = DataLayout(tmp_path)
    layout.raw.mkdir(parents=True)
    layout.truth.mkdir(parents=True)
    config = SimConfig(n_users=60, n_items=40, n_days=4)
    files = simulate.write_logs(config, layout.raw, layout.truth)
    ingest(files, "events", layout, IngestConfig())
    summary = build_states(layout, small_config)
    tables = all_transitions(layout)
    n_impressions = sum(
        sum(1 for row in csv.DictReader(path.open()) if row["event_type"] == "impression") for path in files
    )
    assert summary.total == n_impressions > 0
    train = tables["train"]
    assert pc.min(train.column("propensity")).as_py() > 0
    # Each request ends its session or hands over to the next one: done once per (user, session).
    done_sessions = train.filter(train.column("done")).select(["user_id", "session_id"]).to_pylist()
    all_sessions = {(r["user_id"], r["session_id"]) for r in train.select(["user_id", "session_id"]).to_pylist()}
    assert {(r["user_id"], r["session_id"]) for r in done_sessions} == all_sessions
