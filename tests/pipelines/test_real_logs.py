"""The nightly flow on logs without an exact truth: real samples (OBD, OTTO, RetailRocket, Taobao)
and simulator logs with the propensities removed. Each run must fill every warehouse table, say
where its propensities came from, and print no truth column when there is none."""

from __future__ import annotations

import csv
import dataclasses
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from pipelines.nightly import nightly
from recrl.config import AgentConfig, EvalConfig, PipelineConfig, SimConfig
from recrl.evaluate.report import comparison_text
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.store import warehouse

pytestmark = pytest.mark.slow
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
"""``../shared/data`` beside the repository (as in tests/conftest.py)."""

WAREHOUSE_TABLES = ("runs", "policies", "ope_estimates", "ranking_metrics", "behaviour_model")


def replaced(section, **changes):
    """``section`` with ``changes`` (a dataclass today, a pydantic model once recrl.config moves)."""
    if hasattr(section, "model_copy"):
        return section.model_copy(update=changes)
    return dataclasses.replace(section, **changes)


def quick_config(data_root: Path, source: str, source_format: str, **eval_changes) -> PipelineConfig:
    """Seconds-long settings: a 1-epoch small encoder, 50 resamples, 2 reward-model folds."""
    return replaced(
        PipelineConfig(), data_root=str(data_root), source=source, source_format=source_format,
        sim=replaced(SimConfig(), n_users=300, n_items=50, n_days=4, seed=5),
        agent=replaced(AgentConfig(), epochs=1, warmup_epochs=1, hidden_size=16, intermediate_size=32,
                       num_layers=1),
        eval=replaced(EvalConfig(), n_bootstrap=50, reward_model_folds=2, **eval_changes),
    )


def run_and_read(config: PipelineConfig, run_id: str) -> dict:
    """Run the flow; per table its row count, plus the estimates' propensity sources and the printout."""
    assert nightly(config=config, run_id=run_id) == run_id
    layout = DataLayout(Path(config.data_root))
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]  # noqa: S608
                  for t in WAREHOUSE_TABLES}
        sources = {r[0] for r in con.execute("SELECT DISTINCT propensity_source FROM ope_estimates").fetchall()}
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
        empty_targets = con.execute(
            "SELECT DISTINCT target FROM ranking_metrics WHERE n = 0 AND value IS NULL").fetchall()
        nan_values = con.execute("SELECT count(*) FROM ranking_metrics WHERE isnan(value)").fetchone()[0]
        used = con.execute("SELECT model FROM behaviour_model WHERE used").fetchall()
    comparison = warehouse.main_comparison(layout.warehouse, run_id)
    return {"counts": counts, "sources": sources, "status": status, "comparison": comparison,
            "text": comparison_text(comparison, run_id), "empty_targets": {r[0] for r in empty_targets},
            "nan_values": nan_values, "used": [r[0] for r in used]}


def assert_real_log_run(result: dict, source: str) -> None:
    assert result["status"] == "succeeded"
    assert all(n > 0 for n in result["counts"].values()), result["counts"]
    assert result["sources"] == {source}
    assert result["nan_values"] == 0
    # No truth on real logs: the comparison has no truth values and the printout no truth column.
    assert result["comparison"]["true_value"].null_count() == result["comparison"].height
    assert "true_value" not in result["text"] and "truth:     none" in result["text"]
    assert f"propensities: {source}" in result["text"] and "ess_share" in result["text"]


@pytest.mark.skipif(not (SHARED_DATA / "obd").is_dir(), reason=f"Open Bandit sample not found at {SHARED_DATA}")
def test_open_bandit_sample_uses_its_logged_propensities(prefect_api, tmp_path) -> None:
    source = SHARED_DATA / "obd" / "random" / "all" / "all.csv"
    result = run_and_read(quick_config(tmp_path, str(source), "obd"), "obd")
    assert_real_log_run(result, "logged")
    assert "purchase" in result["empty_targets"]  # OBD logs clicks only: HR@k on purchases is NULL, n = 0
    assert result["used"] == ["logged"]


@pytest.mark.skipif(not (SHARED_DATA / "otto").is_dir(), reason=f"OTTO sample not found at {SHARED_DATA}")
def test_otto_sessions_are_evaluated_with_estimated_propensities(prefect_api, tmp_path) -> None:
    source = SHARED_DATA / "otto" / "sessions_sample.jsonl"
    result = run_and_read(quick_config(tmp_path, str(source), "otto"), "otto")
    assert_real_log_run(result, "estimated")
    # One behaviour model served: the logit, or popularity where the logit did not beat it on valid.
    assert len(result["used"]) == 1 and result["used"][0] in {"estimated", "popularity"}


def simulated_public_log(config: PipelineConfig, folder: Path, source_format: str) -> Path:
    """The simulator's feedback events written in a public dataset's own format (RetailRocket's
    ``events.csv`` or Taobao's ``UserBehavior.csv``): no impressions, no propensities, numeric ids,
    epoch timestamps, the dataset's event names. (The ingest fixtures of these formats hold a few rows
    only: too few days for a train / valid / test split.)"""
    paths = sorted(p for p in write_logs(config.sim, folder / "sim", folder / "truth") if p.name.startswith("events-"))
    names = {"retailrocket": {"click": "view", "cart": "addtocart", "purchase": "transaction"},
             "taobao": {"click": "pv", "cart": "cart", "purchase": "buy"}}[source_format]
    out = folder / f"{source_format}.csv"
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if source_format == "retailrocket":
            writer.writerow(["timestamp", "visitorid", "event", "itemid", "transactionid"])
        for path in paths:
            for row in csv.DictReader(path.open(newline="")):
                if row["event_type"] not in names:
                    continue
                user, item = int(row["user_id"].split("_")[-1]), int(row["item_id"].split("_")[-1])
                seconds = datetime.fromisoformat(row["ts"].replace("Z", "+00:00")).timestamp()
                if source_format == "retailrocket":
                    writer.writerow([int(seconds * 1000), user, names[row["event_type"]], item, ""])
                else:
                    writer.writerow([user, item, 1, names[row["event_type"]], int(seconds)])
    return out


@pytest.mark.parametrize("source_format", ["retailrocket", "taobao"])
def test_retailrocket_and_taobao_logs(prefect_api, tmp_path, source_format) -> None:
    config = quick_config(tmp_path / "data", "simulator", source_format)
    source = simulated_public_log(config, tmp_path, source_format)
    result = run_and_read(replaced(config, source=str(source)), source_format)
    assert_real_log_run(result, "estimated")


def test_simulator_logs_without_propensities_are_evaluated_with_estimated_ones(prefect_api, tmp_path) -> None:
    config = quick_config(tmp_path / "data", "simulator", "events")
    layout = DataLayout(tmp_path / "data")
    paths = sorted(p for p in write_logs(config.sim, tmp_path / "sim", tmp_path / "truth")
                   if p.name.startswith("events-"))
    stripped = tmp_path / "events-without-propensity.csv"
    with stripped.open("w", newline="") as out:
        writer = None
        for path in paths:
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    row.pop("propensity")
                    writer = writer or csv.DictWriter(out, fieldnames=list(row))
                    if out.tell() == 0:
                        writer.writeheader()
                    writer.writerow(row)
    config = replaced(config, source=str(stripped))
    result = run_and_read(config, "no-pscore")
    assert_real_log_run(result, "estimated")
    assert result["used"] == ["estimated"]
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        kinds = con.execute("SELECT DISTINCT decision_kind FROM behaviour_model").fetchall()
        (estimated, popularity) = con.execute(
            "SELECT log_loss FROM behaviour_model WHERE model IN ('estimated', 'popularity') ORDER BY model"
        ).fetchall()
    # Impressions are still bandit decisions; the logit beats popularity alone on the valid day.
    assert kinds == [("bandit",)] and estimated[0] < popularity[0]
