"""The behaviour model beta_hat: on simulator logs its pscore tracks the logged propensity, it beats
popularity alone on the valid day, keeps support everywhere, and its reliability table adds up."""

from __future__ import annotations

import numpy as np
import pytest

from recrl.evaluate.behaviour import FLOOR, behaviour_report, fit_behaviour, reliability
from recrl.policies import PAD_INDEX, slate_size_of
from recrl.states.export import load_transitions, to_arrays
from recrl.states.vocab import load_vocab


@pytest.fixture(scope="module")
def fitted(tiny_pipeline):
    layout, n = tiny_pipeline.layout, tiny_pipeline.config.states.history_len
    train = to_arrays(load_transitions(layout, "train", kind="bandit"), n)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), n)
    vocab_size = load_vocab(layout).size
    slate_size = slate_size_of(train.position)
    return (fit_behaviour(train, vocab_size, slate_size), fit_behaviour(train, vocab_size, slate_size,
                                                                        popularity_only=True), valid)


def test_estimated_propensities_track_the_logged_ones(fitted) -> None:
    model, popularity, valid = fitted
    pscore = model.pscore(valid)
    assert np.corrcoef(np.log(pscore), np.log(valid.propensity))[0, 1] > 0.8
    logged_loss = -np.log(valid.propensity).mean()
    estimated, by_popularity = behaviour_report(model, valid), behaviour_report(popularity, valid)
    # The true logger is the floor; the logit sits between it and popularity alone.
    assert logged_loss < estimated["log_loss"] < by_popularity["log_loss"]
    assert estimated["ece"] < 0.2


def test_every_item_keeps_support_and_rows_sum_to_one(fitted) -> None:
    model, _, valid = fitted
    probs = model.probs(valid.take(slice(0, 200)))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, PAD_INDEX] == 0).all()
    assert probs[:, PAD_INDEX + 1:].min() >= FLOOR / (probs.shape[1] - 1) - 1e-12


def test_reliability_table_counts_every_decision_and_all_mass() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(20), size=500)  # (B, V)
    action = np.array([rng.choice(20, p=p) for p in probs])  # drawn from probs: calibrated
    table, ece = reliability(probs, action)
    assert sum(b["observed"] for b in table) == 500
    assert np.isclose(sum(b["predicted"] for b in table), 500)
    assert sum(b["cells"] for b in table) == probs.size
    assert ece < 0.15
    _, skewed = reliability(probs, np.argmin(probs, axis=1))  # always the least likely item: miscalibrated
    assert skewed > 0.8
