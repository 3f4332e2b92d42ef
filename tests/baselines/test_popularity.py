"""Exposure-debiased popularity: reward per impression, shrunk toward the mean, not the logger's exposure."""

from __future__ import annotations

import numpy as np
import pytest

from recrl.baselines import Interactions, PopularityPolicy, interactions_from_transitions
from recrl.baselines.popularity import shrunk_rate
from recrl.policies import StateBatch
from recrl.states import load_transitions, load_vocab

N_ITEMS = 6


def exposed_interactions() -> Interactions:
    """Item 2: shown 40 times, 12 clicks. Item 3: shown 2,000 times (the logger's favourite), 60 clicks.
    Item 4: shown once, clicked once. Item 5: shown 500 times, 15 clicks."""
    shown = np.array([0, 0, 40, 2000, 1, 500], dtype=float)
    clicks = np.array([0, 0, 12, 60, 1, 15], dtype=float)
    item = np.repeat(np.arange(N_ITEMS), clicks.astype(int))  # one positive interaction per click
    session = np.arange(len(item))
    return Interactions(
        session,
        item,
        n_sessions=len(item),
        n_items=N_ITEMS,
        item_shown=shown,
        item_reward=0.2 * clicks,
        item_examined=shown,
    )


def empty_states() -> StateBatch:
    history = np.zeros((1, 10), dtype=np.int64)
    return StateBatch(history, history.copy(), np.array(["u"], dtype=object))


def test_debiased_popularity_ranks_rarely_shown_often_clicked_above_often_shown() -> None:
    interactions = exposed_interactions()
    counts = PopularityPolicy(interactions, basis="interactions").item_scores(empty_states())[0]
    debiased = PopularityPolicy(interactions, prior=10.0).item_scores(empty_states())[0]
    assert counts[3] > counts[2]  # raw clicks follow exposure
    assert debiased[2] > debiased[3]  # 30% of impressions clicked beats 3%
    assert debiased[2] > debiased[4]  # one click on one impression is shrunk toward the mean
    assert PopularityPolicy(interactions).hyperparameters["basis"] == "impressions"


def test_shrunk_rate_is_the_beta_posterior_mean() -> None:
    reward, shown = np.array([0.0, 2.0, 6.0]), np.array([0.0, 10.0, 90.0])
    mean = 8.0 / 100.0
    np.testing.assert_allclose(shrunk_rate(reward, shown, 5.0), (reward + 5.0 * mean) / (shown + 5.0))
    np.testing.assert_allclose(shrunk_rate(reward, shown, 1e9), mean, rtol=1e-6)  # infinite prior: the mean


def test_without_impressions_popularity_falls_back_to_counts_and_says_so() -> None:
    interactions = exposed_interactions()
    implicit = Interactions(interactions.session, interactions.item, interactions.n_sessions, N_ITEMS)
    policy = PopularityPolicy(implicit)
    assert policy.hyperparameters["basis"] == "interactions"
    assert np.argmax(policy.item_scores(empty_states())[0][2:]) + 2 == 3
    with pytest.raises(ValueError, match="needs impressions"):
        PopularityPolicy(implicit, basis="impressions")


def test_exposure_counts_come_from_every_training_impression(tiny_pipeline) -> None:
    layout = tiny_pipeline.layout
    train = load_transitions(layout, "train", kind="bandit")
    interactions = interactions_from_transitions(load_transitions(layout, "train"), load_vocab(layout).size)
    assert interactions.item_shown.sum() == train.num_rows
    np.testing.assert_allclose(interactions.item_reward.sum(), np.nansum(train.column("reward").to_numpy()))
    # Lower slots get less attention, so their impressions count for less than one examined impression.
    assert interactions.item_examined.sum() < interactions.item_shown.sum()
