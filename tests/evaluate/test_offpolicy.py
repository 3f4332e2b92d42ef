"""Greedy slates and the exploration rule of ``recrl.evaluate.offpolicy``."""

from __future__ import annotations

import numpy as np

from recrl.baselines import PopularityPolicy, PureSVDPolicy, fit_baselines, interactions_from_transitions
from recrl.baselines.cf import ItemKNNPolicy
from recrl.config import EvalConfig
from recrl.evaluate.offpolicy import (
    GREEDY,
    RewardFeatures,
    choose_temperature,
    decision_probs,
    fit_reward_model,
    greedy_slot_probs,
    score_states,
    simulator_truth,
)
from recrl.policies import N_RESERVED, slate_size_of
from recrl.simulate.truth import Simulator
from recrl.states import load_transitions, load_vocab, to_arrays


def test_greedy_puts_the_kth_ranked_item_at_slot_k() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 12))
    slots = rng.integers(0, 3, 50)
    probs = decision_probs(scores, slots, GREEDY, 3)
    np.testing.assert_array_equal(probs.sum(axis=1), 1.0)
    for b in range(50):
        ranked = N_RESERVED + np.argsort(-scores[b, N_RESERVED:])  # best first, reserved items excluded
        assert probs[b, ranked[slots[b]]] == 1.0
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
    assert decision_probs(scores, np.array([1]), GREEDY, 2)[0, 3] == 1.0


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
    temperature, table = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates)
    assert table["temperature"].to_list() == list(temperatures)
    assert temperature == table.sort("dr_lcb", descending=True)["temperature"][0]
    assert (table["dr_lcb"] < table["dr"]).all()
    assert (table["dr_std_err"] >= table["dr_std_err_empirical"]).all()  # floored by the reward model
    # z = 0 is the best valid DR; a larger z moves the bound down by z standard errors, the DR stays.
    best_dr, table_0 = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates, z=0.0)
    assert best_dr == table_0.sort("dr", descending=True)["temperature"][0]
    np.testing.assert_allclose(table_0["dr_lcb"].to_numpy(), table["dr"].to_numpy())
    _, table_2 = choose_temperature(scores, valid, temperatures, slate_size, q_logged, q_candidates, z=2.0)
    spread = (table["dr"] - table["dr_lcb"]).to_numpy() / EvalConfig().temperature_z
    np.testing.assert_allclose((table_2["dr"] - table_2["dr_lcb"]).to_numpy(), 2.0 * spread, rtol=1e-9)
    # A flatter softmax has smaller weights: a larger ESS.
    assert table["ess"].to_list()[-1] > table["ess"].to_list()[0]
    # The test days never enter the choice: their truth only scores it.
    truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                            config.states.reward_purchase, slate_size)
    test_scores = score_states(policy, test.states)
    greedy_value = truth(test, test_scores, GREEDY).mean()
    assert greedy_value > truth(test, test_scores, 5.0).mean()  # item-kNN ranks better than chance
