"""Evaluation stage: every policy on the held-out test days, written to the warehouse.

Reads ``{data}/states`` (vocabulary, transitions), the actor-critic checkpoint and, for simulated logs,
``{data}/truth``. Policies: the actor-critic, the popularity and CF baselines (fitted on the train
split), the logging policy as logged, and (simulator) the oracle. Each learned policy's temperature is
chosen on the valid split; only test-split numbers are reported.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from recrl.agents.actor_critic import ActorCriticPolicy, load_checkpoint
from recrl.baselines import (
    ItemKNNPolicy,
    PopularityPolicy,
    PureSVDPolicy,
    fit_baselines,
    interactions_from_transitions,
)
from recrl.config import PipelineConfig
from recrl.evaluate.offpolicy import (
    RewardFeatures,
    estimate_row,
    evaluate_policy,
    fit_reward_model,
    simulator_truth,
)
from recrl.lake import DataLayout
from recrl.ope import estimate
from recrl.policies import slate_size_of
from recrl.simulate.truth import Simulator
from recrl.states.export import load_transitions, to_arrays
from recrl.states.vocab import load_vocab


def evaluate_run(layout: DataLayout, config: PipelineConfig, run_id: str, checkpoint: str) -> dict[str, pl.DataFrame]:
    """Rows of ``policies``, ``ope_estimates`` and ``ranking_metrics`` for one run (not yet written)."""
    vocab = load_vocab(layout)
    history_len = config.states.history_len
    train_table = load_transitions(layout, "train")
    valid_table = load_transitions(layout, "valid", kind="bandit")
    valid = to_arrays(valid_table, history_len)
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), history_len)
    if len(valid) == 0 or len(test) == 0 or not np.isfinite(test.propensity).all():
        raise ValueError("off-policy evaluation needs logged propensities on the valid and test days")
    slate_size = slate_size_of(test.position)

    interactions = interactions_from_transitions(train_table, vocab.size)
    baselines = fit_baselines(interactions, config.baselines, valid=valid, slate_size=slate_size,
                              save_dir=layout.models / run_id / "baselines")
    model, _ = load_checkpoint(layout.models / run_id)
    policies = [(ActorCriticPolicy(model), "agent")] + [(b, "baseline") for b in baselines]

    by_type = {type(b): b for b in baselines}
    features = RewardFeatures(by_type[PopularityPolicy], by_type[ItemKNNPolicy], by_type[PureSVDPolicy], slate_size)
    earlier = to_arrays(pa.concat_tables([load_transitions(layout, "train", kind="bandit"), valid_table]), history_len)
    q_logged, q_candidates = fit_reward_model(features, test, config.eval, earlier)

    truth = None
    if config.source == "simulator":
        truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                                config.states.reward_purchase, slate_size)

    policy_rows, estimate_rows, ranking_rows = [], [], []
    for policy, kind in policies:
        result = evaluate_policy(policy, kind, valid, test, q_logged, q_candidates, config.eval,
                                 config.baselines.temperatures, slate_size, truth)
        policy_rows.append(result.policy | {"checkpoint": checkpoint if kind == "agent" else None,
                                            "config_json": policy_config_json(policy, config)})
        estimate_rows += result.estimates
        ranking_rows += result.ranking

    logging_truth, oracle_truth = logged_truth(layout, test, config) if truth else (None, None)
    on_policy = estimate("snips", reward=test.reward, pscore=test.propensity, action_prob=test.propensity,
                         alpha=config.eval.alpha, n_bootstrap=config.eval.n_bootstrap, seed=config.eval.seed)
    estimate_rows.append(estimate_row("logging", on_policy, logging_truth) | {"estimator": "on-policy"})
    policy_rows.append({"policy": "logging", "kind": "logging", "temperature": None, "true_value": logging_truth,
                        "checkpoint": None, "config_json": None})
    if truth:
        policy_rows.append({"policy": "oracle", "kind": "oracle", "temperature": None, "true_value": oracle_truth,
                            "checkpoint": None, "config_json": None})

    stamp = {"run_id": run_id}
    created = {"created_at": datetime.now(UTC)}
    return {
        "policies": pl.DataFrame([stamp | r for r in policy_rows], infer_schema_length=None),
        "ope_estimates": pl.DataFrame([stamp | r | created for r in estimate_rows], infer_schema_length=None),
        "ranking_metrics": pl.DataFrame([stamp | r for r in ranking_rows], infer_schema_length=None),
    }


def logged_truth(layout: DataLayout, test, config: PipelineConfig) -> tuple[float, float]:
    """Simulator truth of the logging policy and the oracle, averaged over the test decisions."""
    decisions = pl.read_parquet(layout.truth / "decisions.parquet")
    logged = pl.DataFrame({"request_id": test.request_id.astype(str), "position": test.position})
    joined = logged.join(decisions, on=["request_id", "position"], how="left", coalesce=True)
    if joined["logging_value"].null_count():
        raise ValueError("simulator truth lacks some test decisions: was the truth written for these logs?")
    return float(joined["logging_value"].mean()), float(joined["oracle_value"].mean())


def policy_config_json(policy, config: PipelineConfig) -> str:
    """The settings that made a policy (agent config or baseline config), as JSON."""
    section = config.agent if isinstance(policy, ActorCriticPolicy) else config.baselines
    return json.dumps(dataclasses.asdict(section) | {"temperature": policy.temperature}, sort_keys=True)
