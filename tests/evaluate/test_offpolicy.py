"""Greedy slates and the exploration rule of ``recrl.evaluate.offpolicy``."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from recrl.baselines import PopularityPolicy, PureSVDPolicy, fit_baselines, interactions_from_transitions
from recrl.baselines.cf import ItemKNNPolicy
from recrl.config import EvalConfig
from recrl.evaluate.offpolicy import (
    RewardFeatures,
    choose_temperature,
    decision_probs,
    fit_reward_model,
    score_states,
    simulator_truth,
)
from recrl.policies import GREEDY, N_RESERVED, SERVING_EPSILON, StateBatch, greedy_slot_probs, slate_size_of
from recrl.simulate.truth import Simulator
from recrl.states import load_transitions, load_vocab, to_arrays
from recrl.states.export import TransitionArrays


def test_greedy_puts_the_kth_ranked_item_at_slot_k() -> None:
    """The greedy slate with the uniform share: 1 - eps + eps / V' for the k-th ranked item, eps / V' for
    every other servable item, 0 for the reserved ones."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 12))
    slots = rng.integers(0, 3, 50)
    probs = decision_probs(scores, slots, GREEDY, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-15)
    uniform = SERVING_EPSILON / (12 - N_RESERVED)
    for b in range(50):
        ranked = N_RESERVED + np.argsort(-scores[b, N_RESERVED:])  # best first, reserved items excluded
        expected = np.r_[0.0, 0.0, np.full(10, uniform)]
        expected[ranked[slots[b]]] += 1.0 - SERVING_EPSILON
        np.testing.assert_allclose(probs[b], expected, rtol=0, atol=1e-15)
    # Ties go to the lower index, and a reserved index is never served however high its score.
    tied = np.zeros((1, 6))
    tied[0, 0] = 9.0
    np.testing.assert_array_equal(greedy_slot_probs(tied, np.array([1])), [[0, 0, 0, 1, 0, 0]])


def test_a_sharp_softmax_is_not_the_greedy_slate() -> None:
    """The bug greedy fixes: at T = 1e-3 the first draw is nearly one-hot, the uniform exploration mixed
    into the served softmax then dominates what is left, and slot 2 is near uniform, not the runner-up."""
    scores = np.array([[0.0, 0.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1]])
    sharp = decision_probs(scores, np.array([1]), 1e-3, 2)
    assert sharp[0, 3] < 0.5
    assert decision_probs(scores, np.array([1]), GREEDY, 2)[0, 3] > 1.0 - SERVING_EPSILON


def test_the_anchored_rule_leaves_the_sharpest_temperature_only_for_a_paired_gain() -> None:
    """Rewards follow the logged item's score: the greedy slate earns the most, and no softer
    temperature's paired bound is above 0. Negate the scores and the flattest (least wrong) one wins
    by a bound above 0; an unknown rule is refused."""
    rng = np.random.default_rng(3)
    n, n_items, slate_size = 4000, 12, 1
    scores = 2.0 * rng.normal(size=(n, n_items))  # reserved columns are never served
    action = rng.integers(N_RESERVED, n_items, n)
    best = N_RESERVED + np.argmax(scores[:, N_RESERVED:], axis=1)
    reward = (rng.random(n) < np.where(action == best, 0.6, 0.05)).astype(np.float64)
    valid = _decisions(action, reward, np.full(n, 1.0 / (n_items - N_RESERVED)))
    temperatures = (GREEDY, 0.05, 0.5, 5.0)  # the greedy slate is the sharpest
    chosen, table = choose_temperature(scores, valid, temperatures, slate_size)
    assert chosen == GREEDY
    assert (table["gain_lb"].to_numpy()[1:] < 0).all()
    chosen, table = choose_temperature(-scores, valid, temperatures, slate_size)
    assert chosen == 5.0 and table["gain_lb"][3] > 0
    with pytest.raises(ValueError, match="temperature rule"):
        choose_temperature(scores, valid, temperatures, slate_size, rule="best")


def _decisions(action: np.ndarray, reward: np.ndarray, propensity: np.ndarray) -> TransitionArrays:
    """Top-slot bandit decisions with empty histories (only action, slot, reward and propensity are read)."""
    n = len(action)
    states = StateBatch(np.zeros((n, 2), dtype=np.int64), np.zeros((n, 2), dtype=np.int64),
                        np.arange(n).astype(str).astype(object))
    return TransitionArrays(states=states, next_states=states, action=action, position=np.zeros(n, dtype=np.int64),
                            click=reward.astype(np.int8), cart=np.zeros(n, dtype=np.int8),
                            purchase=np.zeros(n, dtype=np.int8), reward=reward, propensity=propensity,
                            done=np.zeros(n, dtype=bool), request_id=np.full(n, None, dtype=object),
                            decision_id=np.arange(n).astype(str).astype(object),
                            ts=np.zeros(n, dtype="datetime64[us]"), kind=np.full(n, "bandit", dtype=object))


def test_temperature_has_the_highest_valid_dr_lower_bound(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    history_len = config.states.history_len
    train = to_arrays(load_transitions(layout, "train", kind="bandit"), history_len)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), history_len)
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), history_len)
    vocab = load_vocab(layout)
    slate_size = slate_size_of(valid.position)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    baselines = {type(b): b for b in fit_baselines(interactions, config.baselines, valid=valid, slate_size=slate_size)}
    features = RewardFeatures(baselines[PopularityPolicy], baselines[ItemKNNPolicy], baselines[PureSVDPolicy],
                              slate_size)
    q_logged, q_candidates = fit_reward_model(features, valid, config.eval, train)
    policy = baselines[ItemKNNPolicy]
    temperatures = (0.05, 0.2, 1.0, 5.0)
    scores = score_states(policy, valid.states)
    temperature, table = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates,
                                            rule="lcb")
    assert table["temperature"].to_list() == list(temperatures)
    assert temperature == table.sort("dr_lcb", descending=True)["temperature"][0]
    assert (table["dr_lcb"] < table["dr"]).all()
    assert (table["dr_std_err"] >= table["dr_std_err_empirical"]).all()  # floored by the reward model
    # z = 0 is the best valid DR; a larger z moves the bound down by z standard errors, the DR stays.
    best_dr, table_0 = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates, z=0.0,
                                          rule="lcb")
    assert best_dr == table_0.sort("dr", descending=True)["temperature"][0]
    np.testing.assert_allclose(table_0["dr_lcb"].to_numpy(), table["dr"].to_numpy())
    _, table_2 = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates, z=2.0)
    spread = (table["dr"] - table["dr_lcb"]).to_numpy() / EvalConfig().temperature_z
    np.testing.assert_allclose((table_2["dr"] - table_2["dr_lcb"]).to_numpy(), 2.0 * spread, rtol=1e-9)
    # A flatter softmax has smaller weights: a larger ESS.
    assert table["ess"].to_list()[-1] > table["ess"].to_list()[0]
    # The anchored rule (the default): the paired gain over the sharpest temperature is the DR difference
    # on the same decisions, 0 for the sharpest itself, and its bound is far tighter than either DR's.
    anchored, paired = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates)
    np.testing.assert_allclose(paired["gain"].to_numpy(), (paired["dr"] - paired["dr"][0]).to_numpy(), atol=1e-12)
    assert paired["gain"][0] == 0.0 and paired["gain_std_err"][0] == 0.0
    assert (paired["gain_std_err"][1:] < paired["dr_std_err"][1:] + paired["dr_std_err"][0]).all()
    z_anchor = NormalDist().inv_cdf(1 - EvalConfig().temperature_alpha / (len(temperatures) - 1))
    np.testing.assert_allclose(paired["gain_lb"].to_numpy(),
                               (paired["gain"] - z_anchor * paired["gain_std_err"]).to_numpy())
    softer = paired["gain_lb"].to_numpy()[1:]
    assert anchored == (temperatures[1 + int(np.argmax(softer))] if softer.max() > 0 else temperatures[0])
    # The test days never enter the choice: their truth only scores it.
    truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                            config.states.reward_purchase, slate_size)
    test_scores = score_states(policy, test.states)
    greedy_value = truth(test, test_scores, GREEDY).mean()
    assert greedy_value > truth(test, test_scores, 5.0).mean()  # item-kNN ranks better than chance
