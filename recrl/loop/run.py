"""The closed loop on the simulator: every night the deployed policy serves a day, and may be replaced.

Night 1 writes the history days with the built-in logging policy (the first incumbent). Each later
night:

1. **serve**: the simulator serves one new day with the deployed policy, stochastically (Plackett-Luce
   slates from its served probabilities), logging its own propensities and policy id
   (``recrl.simulate.serve``);
2. **ingest** that day's file only, **rebuild** the states (the new day is the test split, the day
   before it valid, the rest train);
3. **retrain** the actor-critic, warm-started from last night's weights;
4. **evaluate** every policy on the new day (``recrl.evaluate.stage.evaluate_run``): the incumbent
   logged it, so it is the evaluation's 'logging' policy, judged on-policy;
5. **gate** (``recrl.evaluate.gate``): the candidate (``gate.candidate`` of tonight's run) is deployed
   only if its lower confidence bound beats the incumbent's on-policy mean by ``gate.margin``;
6. **record** the run's evaluation, the gate's decision (``deployments``) and the night
   (``nightly_summary``: the served policy's true value and estimate, the candidate's, the decision)
   in one warehouse transaction.

Deployed policies are named ``run_id/policy`` and loaded from their run's models at the temperature the
evaluation chose (``recrl.evaluate.recommend.load_policy``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.config import ConfigError, PipelineConfig
from recrl.evaluate.gate import LOGGING_POLICY, ON_POLICY, GateDecision, deployment_row, gate_run
from recrl.evaluate.recommend import load_policy
from recrl.evaluate.stage import evaluate_run
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.ope.rows import stored_estimator_name
from recrl.policies import N_RESERVED
from recrl.simulate import LOGGING_POLICY_ID, write_logs
from recrl.simulate.serve import ServedPolicy, serve_day
from recrl.sql import stream_sql
from recrl.states import build_states, load_vocab
from recrl.store import runs, warehouse
from recrl.store.warehouse import connect

log = logging.getLogger(__name__)

SIM_DIR = "sim"
"""Folder under ``{data}/raw`` of the simulated day files (as the nightly flow writes them)."""


def check_loop_config(config: PipelineConfig) -> None:
    """The loop needs the simulator (its truth) and a fresh data root (its history days are night 1's)."""
    problems = []
    if config.source != "simulator":
        problems.append(f"source: the closed loop runs on the simulator, got {config.source!r}")
    if config.states.test_days != 1:
        problems.append(
            f"states.test_days: the closed loop judges each night on its one new day, got "
            f"{config.states.test_days}"
        )
    if problems:
        raise ConfigError(problems)
    raw = DataLayout(Path(config.data_root)).raw / SIM_DIR
    if raw.is_dir() and any(raw.glob("events-*.csv")):
        raise ValueError(
            f"data root {config.data_root} already holds simulated logs ({raw}): "
            "the loop starts from a fresh data root"
        )


def run_nights(config: PipelineConfig, nights: int, run_prefix: str = "night") -> pl.DataFrame:
    """Run ``nights`` nights of the loop (module docstring); returns the ``nightly_summary`` rows."""
    if nights < 1:
        raise ValueError(f"nights must be >= 1, got {nights}")
    check_loop_config(config)
    layout = DataLayout(Path(config.data_root))
    incumbent: tuple[str, str] | None = None  # (run_id, policy) of the deployed policy; None = the logger
    previous_run: str | None = None
    for night in range(1, nights + 1):
        started, clock = datetime.now(UTC), time.perf_counter()
        run_id = f"{run_prefix}-{night}"
        incumbent_id = LOGGING_POLICY_ID if incumbent is None else "/".join(incumbent)
        day_files = serve_tonight(layout, config, incumbent, incumbent_id)
        report = ingest(day_files, "events", layout, config.ingest)  # that day only
        log.info("night %d: %s", night, report.summary())
        counts = build_states(layout, config.states).counts
        warm_start = layout.models / previous_run if previous_run else None
        checkpoint = fit_actor_critic(layout, config.states, config.agent, run_id, warm_start=warm_start,
                                      baselines=config.baselines, text=config.text)
        if config.gate.candidate == "sasrec":
            fit_sequential(layout, config.states, config.sequential, run_id)
        frames = evaluate_run(layout, config, run_id, str(checkpoint))
        candidate_id = f"{run_id}/{config.gate.candidate}"
        decision = gate_run(
            frames["ope_estimates"], candidate_id, incumbent_id, True, config.gate, config.eval
        )
        log.info("night %d gate: %s (%s)", night, decision.decision, decision.reason)
        created = {"created_at": datetime.now(UTC)}
        totals = {split: sum(counts.get(split, {}).values()) for split in ("train", "valid", "test")}
        frames["runs"] = runs.run_row(config, run_id, "succeeded", started,
                                      {"night": time.perf_counter() - clock}, totals)
        frames["deployments"] = pl.DataFrame([deployment_row(run_id, decision) | created])
        frames["nightly_summary"] = pl.DataFrame(
            [
                night_row(
                    night,
                    run_id,
                    day_date(day_files[-1]),
                    frames["ope_estimates"],
                    decision,
                    config,
                    time.perf_counter() - clock,
                )
            ]
        )
        warehouse.replace_run(layout.warehouse, run_id, frames)
        if decision.deploy:
            incumbent = (run_id, config.gate.candidate)
        previous_run = run_id
    return nightly_summary(layout.warehouse)


def serve_tonight(
    layout: DataLayout, config: PipelineConfig, incumbent: tuple[str, str] | None, incumbent_id: str
) -> list[Path]:
    """Night 1: the history days, logged by the built-in logging policy; later: one day served by the
    incumbent (the logging policy until a candidate is deployed), which sees the vocabulary it was
    trained on (the current states: the vocabulary only grows)."""
    raw_dir = layout.raw / SIM_DIR
    rewards = {"reward_click": config.states.reward_click, "reward_purchase": config.states.reward_purchase}
    if not (layout.truth / "decisions.parquet").is_file():
        return write_logs(config.sim, raw_dir, layout.truth, **rewards)
    served = None
    if incumbent is not None:
        vocab = load_vocab(layout)
        served = ServedPolicy(
            load_policy(layout, *incumbent),
            incumbent_id,
            {item_id: i for i, item_id in enumerate(vocab.item_ids) if i >= N_RESERVED},
            vocab.size,
            config.states.history_len,
        )
    return [serve_day(config.sim, raw_dir, layout.truth, served, **rewards)]


def day_date(path: Path) -> dt.date:
    """The date of a simulated day file ``events-YYYY-MM-DD.csv``."""
    return dt.date.fromisoformat(path.stem.removeprefix("events-"))


def night_row(
    night: int,
    run_id: str,
    test_date: dt.date,
    estimates: pl.DataFrame,
    decision: GateDecision,
    config: PipelineConfig,
    seconds: float,
) -> dict:
    """One ``nightly_summary`` row (sql/warehouse/create_nightly_summary.sql)."""
    served = estimates.filter((pl.col("policy") == LOGGING_POLICY) & (pl.col("estimator") == ON_POLICY)).row(
        0, named=True
    )
    estimator = stored_estimator_name(config.gate.estimator, config.eval.clip_lambda)
    candidate = estimates.filter(
        (pl.col("policy") == config.gate.candidate) & (pl.col("estimator") == estimator)
    ).row(0, named=True)
    return {
        "night": night,
        "run_id": run_id,
        "test_date": test_date,
        "served_policy": decision.incumbent.policy,
        "served_true_value": served["true_value"],
        "served_estimate": served["value"],
        "served_ci_low": served["ci_low"],
        "served_ci_high": served["ci_high"],
        "candidate": decision.candidate.policy,
        "candidate_true_value": candidate["true_value"],
        "candidate_estimate": candidate["value"],
        "candidate_ci_low": candidate["ci_low"],
        "candidate_ci_high": candidate["ci_high"],
        "candidate_lower_bound": decision.lower_bound,
        "decision": decision.decision,
        "deployed": decision.deployed.policy,
        "seconds": round(seconds, 1),
    }


def nightly_summary(db_path: Path) -> pl.DataFrame:
    """Every night of the loop in order (sql/warehouse/nightly_summary.sql)."""
    with connect(db_path, read_only=True) as con:
        return pl.from_arrow(stream_sql(con, "warehouse/nightly_summary").read_all())


def loop_config(config: PipelineConfig, data_root: Path | None) -> PipelineConfig:
    """``config`` with ``data_root`` replaced when given (validated again)."""
    return dataclasses.replace(config, data_root=str(data_root)) if data_root is not None else config
