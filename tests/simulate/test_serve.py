"""A simulated day served by a recrl policy logs that policy's own Plackett-Luce propensities.

The history days are logged by the built-in logging policy and run through the real stages; then one
day is served by item-kNN (a history-based policy, so the served state must be the one the states stage
rebuilds) and run through ingest and states again, once at a softmax temperature and once greedily (the
top-K slate). Every impression of the new day must carry exactly the position marginal the evaluation
computes for item-kNN at that decision, and its policy id.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from recrl.baselines import ItemKNNPolicy, interactions_from_transitions
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.policies import GREEDY, N_RESERVED, SERVING_EPSILON
from recrl.simulate import write_logs
from recrl.simulate.logs import SimState
from recrl.simulate.serve import ServedPolicy, serve_day
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

POLICY_ID = "test-run/item-knn"


@pytest.fixture(scope="module", params=[0.2, GREEDY], ids=["softmax", "greedy"])
def served(request, tmp_path_factory, make_tiny_config):
    root = tmp_path_factory.mktemp("served")
    config = make_tiny_config(root)
    layout = DataLayout(root)
    ingest(write_logs(config.sim, layout.raw / "sim", layout.truth), "events", layout, config.ingest)
    build_states(layout, config.states)
    vocab = load_vocab(layout)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    policy = ItemKNNPolicy(interactions, config.baselines)
    policy.temperature = request.param
    before = SimState.load(layout.truth)
    item_vocab = {item_id: i for i, item_id in enumerate(vocab.item_ids) if i >= N_RESERVED}
    served = ServedPolicy(policy, POLICY_ID, item_vocab, vocab.size, config.states.history_len)
    path = serve_day(config.sim, layout.raw / "sim", layout.truth, served)
    ingest([path], "events", layout, config.ingest)
    build_states(layout, config.states)
    return dataclasses.make_dataclass("Served", ["config", "layout", "policy", "path", "before", "vocab"])(
        config, layout, policy, path, before, vocab
    )


def test_served_day_logs_the_policys_own_plackett_luce_marginals(served) -> None:
    assert served.path.name == "events-2026-11-05.csv"  # the day after the 4 history days
    assert load_vocab(served.layout).size == served.vocab.size  # nothing new to learn from one more day
    test = to_arrays(load_transitions(served.layout, "test", kind="bandit"), served.config.states.history_len)
    assert len(test) > 1000
    scores = score_states(served.policy, test.states)
    probs = decision_probs(scores, test.position, served.policy.temperature, served.config.sim.slate_size)
    expected = probs[np.arange(len(test)), test.action]
    np.testing.assert_allclose(test.propensity, expected, rtol=1e-9, atol=1e-15)
    # The check can tell policies apart: the same scores at another temperature log other propensities.
    other = decision_probs(scores, test.position, 1.0, served.config.sim.slate_size)[
        np.arange(len(test)), test.action
    ]
    assert np.median(np.abs(test.propensity / other - 1)) > 0.1
    if served.policy.temperature == GREEDY:  # each slot shows the item ranked there, but for the uniform slates
        ranked_there = test.propensity > 1.0 - SERVING_EPSILON
        assert 0.99 < ranked_there.mean() < 1.0
        np.testing.assert_array_equal(np.argmax(probs, axis=1)[ranked_there], test.action[ranked_there])


def test_served_day_carries_its_policy_id_truth_and_state(served) -> None:
    events = pl.read_csv(served.path)
    impressions = events.filter(pl.col("event_type") == "impression")
    assert impressions["policy_id"].unique().to_list() == [POLICY_ID]
    assert (
        events.filter(pl.col("event_type") != "impression")["policy_id"].null_count()
        == events.height - impressions.height
    )
    decisions = pl.read_parquet(served.layout.truth / "decisions.parquet")
    new = decisions.join(impressions.select("request_id", "position").unique(), on=["request_id", "position"])
    assert new.height == impressions.height  # one truth row per served decision
    first_new_request = int(impressions["request_id"].min()[1:])
    assert first_new_request == served.before.counters["request"]  # ids continue, never collide
    assert SimState.load(served.layout.truth).next_day == served.before.next_day + 1
    # The served policy beats the logging policy's value on its own day (item-kNN does on this world).
    history = decisions.filter(~pl.col("request_id").is_in(impressions["request_id"].unique().implode()))
    assert new["logging_value"].mean() > history["logging_value"].mean()
