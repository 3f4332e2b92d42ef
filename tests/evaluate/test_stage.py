"""The evaluation stage on a small simulated world: every policy, every estimator, checked against truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recrl.agents.fit import fit_actor_critic
from recrl.evaluate.offpolicy import choose_temperature, decision_probs, score_states
from recrl.evaluate.stage import evaluate_run
from recrl.lake import DataLayout
from recrl.states import load_transitions, load_vocab, to_arrays


@pytest.fixture(scope="module")
def evaluated(tiny_pipeline):
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    checkpoint = fit_actor_critic(layout, config.states, config.agent, "eval-test")
    return evaluate_run(layout, config, "eval-test", str(checkpoint)), config


def learned_policies(frames) -> int:
    return int((frames["policies"]["kind"].is_in(["agent", "baseline", "team"])).sum())


def test_every_policy_gets_every_estimator_and_a_true_value(evaluated) -> None:
    frames, config = evaluated
    policies = frames["policies"]
    names = set(policies["policy"])
    # The text agent's team with the best policy, where the vocabulary has items without train events.
    team = {name for name in names if name.startswith("text+")}
    assert len(team) == int(bool((load_vocab(DataLayout(Path(config.data_root))).counts[2:] == 0).any()))
    # No specialists were trained for this run: the team fuses the others and the exploration agent.
    assert names - team == {"actor-critic", "text", "popularity", "item-knn", "session-knn", "pure-svd",
                            "exploration", "team", "logging", "oracle"}
    assert policies["true_value"].null_count() == 0
    estimates = frames["ope_estimates"]
    learned = estimates.filter(estimates["policy"] != "logging")
    assert learned.group_by("policy").len()["len"].to_list() == [len(config.eval.estimators)] * (8 + len(team))
    assert (estimates["ci_low"] <= estimates["value"]).all() and (estimates["value"] <= estimates["ci_high"]).all()
    assert (learned["ess"] > 0).all() and (learned["ess"] <= learned["n"]).all()
    # The simulator logs its propensities: 'auto' uses them, and still checks the behaviour model.
    assert set(estimates["propensity_source"]) == {"logged"}
    behaviour = frames["behaviour_model"]
    assert behaviour["model"].to_list() == ["estimated", "popularity", "logged"]
    assert behaviour.filter(behaviour["used"])["model"].to_list() == ["logged"]


def test_truth_orders_oracle_above_logging_and_estimates_track_truth(evaluated) -> None:
    frames, config = evaluated
    truth = dict(zip(frames["policies"]["policy"], frames["policies"]["true_value"], strict=True))
    assert truth["oracle"] > 2 * truth["logging"]
    # The logging policy's on-policy estimate is the mean logged reward: its interval must hold its truth.
    logging = frames["ope_estimates"].filter(frames["ope_estimates"]["policy"] == "logging").row(0, named=True)
    assert logging["ci_low"] <= truth["logging"] <= logging["ci_high"]
    # DR is unbiased: across the learned policies its error stays within a few standard errors.
    # The flow clips DR's weights at clip_lambda, and the stored name says so.
    dr = frames["ope_estimates"].filter(frames["ope_estimates"]["estimator"] == f"dr-clip{config.eval.clip_lambda:g}")
    assert dr.height == learned_policies(frames)
    z = np.abs(dr["value"] - dr["true_value"]) / dr["std_err"]
    assert (z < 4).all(), dr.select("policy", "value", "true_value", "std_err")


def test_ranking_metrics_cover_both_targets_and_cutoffs(evaluated) -> None:
    frames, config = evaluated
    ranking = frames["ranking_metrics"]
    assert set(ranking["target"]) == {"click", "purchase"}
    assert set(ranking["k"]) == set(config.eval.cutoffs)
    assert ((ranking["value"] >= 0) & (ranking["value"] <= 1)).all()
    hr = ranking.filter(ranking["metric"] == "hr").sort("k")
    for policy in set(hr["policy"]):
        values = hr.filter((hr["policy"] == policy) & (hr["target"] == "click"))["value"].to_list()
        assert values == sorted(values)  # HR@k grows with k


def test_temperature_is_chosen_on_validation_only(tiny_pipeline) -> None:
    from recrl.baselines import PopularityPolicy, interactions_from_transitions
    from recrl.states import load_vocab

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    valid = to_arrays(load_transitions(layout, "valid"), config.states.history_len)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), load_vocab(layout).size)
    policy = PopularityPolicy(interactions)
    temperature, table = choose_temperature(score_states(policy, valid.states), valid, (0.1, 1.0, 10.0), 3)
    assert table["temperature"].to_list() == [0.1, 1.0, 10.0]
    # Without a reward model the rule's DR is IPS: the highest IPS lower bound wins.
    assert temperature == table.sort("dr_lcb", descending=True)["temperature"][0]
    probs = decision_probs(score_states(policy, valid.states), valid.position, temperature, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)


def test_team_weights_are_stored_per_fusion_and_agent(evaluated) -> None:
    frames, config = evaluated
    weights = frames["agent_weights"]
    agents = set(frames["policies"].filter(~frames["policies"]["kind"].is_in(["team", "logging", "oracle"]))["policy"])
    assert set(weights["fusion"]) == set(config.coordinator.fusions)
    for fusion in config.coordinator.fusions:
        rows = weights.filter(weights["fusion"] == fusion)
        assert set(rows["agent"]) == agents and abs(rows["weight"].sum() - 1.0) < 1e-9
    chosen = weights.filter(weights["chosen"])
    # The served candidate has the best paired gain over the anchor (the anchor itself: gain 0).
    assert chosen["fusion"].n_unique() == 1 and chosen["gain_lcb"][0] == weights["gain_lcb"].max()
    assert set(weights["anchor"]) == {config.coordinator.anchor}
    team = frames["policies"].filter(frames["policies"]["policy"] == "team").row(0, named=True)
    assert team["temperature"] == chosen["temperature"][0]
