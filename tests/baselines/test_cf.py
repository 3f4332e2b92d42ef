"""Contract of every baseline (fit, score) and the behaviour each CF method promises."""

from __future__ import annotations

import numpy as np
import pytest

from recrl.baselines import (
    Interactions,
    ItemKNNPolicy,
    PopularityPolicy,
    PureSVDPolicy,
    SessionKNNPolicy,
    fit_baselines,
    interactions_from_transitions,
)
from recrl.config import BaselineConfig
from recrl.policies import StateBatch
from recrl.states import load_transitions, load_vocab, to_arrays

N_ITEMS = 12


def toy_interactions() -> Interactions:
    """Sessions that always pair 2 with 3 and 4 with 5; item 6 is the most popular on its own."""
    sessions, items = [], []
    for s in range(40):
        pair = (2, 3) if s % 2 == 0 else (4, 5)
        sessions += [s, s, s]
        items += [pair[0], pair[1], 6]
    for s in range(40, 70):
        sessions.append(s)
        items.append(6)
    return Interactions(np.array(sessions), np.array(items), n_sessions=70, n_items=N_ITEMS)


def states_with_last_item(item: int) -> StateBatch:
    history = np.zeros((1, 10), dtype=np.int64)
    history[0, -1] = item
    types = (history > 0).astype(np.int64)
    return StateBatch(history, types, np.array(["u"], dtype=object))


@pytest.mark.parametrize(
    ("policy_class", "options"),
    # PureSVD generalises only with fewer factors than the data's rank (3 session types here).
    [(ItemKNNPolicy, {}), (SessionKNNPolicy, {}), (PureSVDPolicy, {"n_factors": 2})],
)
def test_cf_recommends_the_co_occurring_item(policy_class, options) -> None:
    policy = policy_class(toy_interactions(), BaselineConfig(knn_neighbors=5), **options)
    for seen, partner in ((2, 3), (4, 5)):
        scores = policy.item_scores(states_with_last_item(seen))[0]
        others = [i for i in range(2, N_ITEMS) if i not in (seen, 6, partner)]
        assert scores[partner] > max(scores[i] for i in others) + 1e-6  # strictly, not by a tie


def test_popularity_ranks_by_training_count_and_ignores_history() -> None:
    policy = PopularityPolicy(toy_interactions())
    scores = policy.item_scores(states_with_last_item(2))[0]
    assert np.argmax(scores[2:]) + 2 == 6
    np.testing.assert_array_equal(scores, policy.item_scores(states_with_last_item(4))[0])


def test_every_baseline_scores_real_states(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    vocab = load_vocab(layout)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 64))
    names = set()
    for policy in fit_baselines(interactions, config.baselines):
        scores = policy.item_scores(states)
        assert scores.shape == (64, vocab.size)
        assert np.isfinite(scores[:, 2:]).all()
        names.add(policy.name)
    assert names == {"popularity", "item-knn", "session-knn", "pure-svd"}


def test_interactions_need_a_positive() -> None:
    import pyarrow as pa

    empty = pa.table(
        {
            "kind": ["bandit"],
            "user_id": ["u"],
            "session_id": ["s"],
            "ts": [0],
            "action": [2],
            "position": [0],
            "click": [0],
            "cart": [0],
            "purchase": [0],
            "reward": [0.0],
        }
    )
    with pytest.raises(ValueError, match="no positive interaction"):
        interactions_from_transitions(empty, 5)
