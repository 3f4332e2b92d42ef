"""Cross-fitted reward model: out-of-fold predictions, candidate chunking, a real model's accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from recrl.ope import cross_fitted_q, estimate
from recrl.ope.reward_model import CellMeanRegressor, fold_of_rows


class MemorisingModel:
    """Remembers each training row's reward by its id (feature 0); -1 for ids it never saw."""

    def fit(self, x, y):
        self.seen = dict(zip(x[:, 0].astype(int).tolist(), y.tolist(), strict=True))
        return self

    def predict(self, x):
        return np.array([self.seen.get(int(i), -1.0) for i in x[:, 0]])


def test_each_row_is_predicted_by_a_model_that_never_saw_it():
    n, n_candidates = 503, 4
    row_id = np.arange(n)
    reward = np.random.default_rng(0).binomial(1, 0.5, n).astype(float)
    x_logged = np.stack([row_id, np.zeros(n)], axis=1)  # (n, 2)
    calls = []

    def candidates(rows):
        calls.append(len(rows))
        return np.stack([np.repeat(rows[:, None], n_candidates, 1), np.ones((len(rows), n_candidates))], axis=2)

    q_logged, q_candidates = cross_fitted_q(MemorisingModel, x_logged, reward, candidates, n_folds=5, chunk_rows=37)
    np.testing.assert_array_equal(q_logged, -1.0)  # its own reward was never in its model's training folds
    np.testing.assert_array_equal(q_candidates, -1.0)
    assert q_candidates.shape == (n, n_candidates)
    assert max(calls) == 37 and sum(calls) == n  # candidates built chunk by chunk, every row once
    # Sanity check of the test itself: without cross-fitting the memoriser returns the row's reward.
    np.testing.assert_array_equal(MemorisingModel().fit(x_logged, reward).predict(x_logged), reward)


class CellModel:
    """Mean reward per cell (feature 1), ignoring the row id (feature 0); unseen cells get the mean."""

    def fit(self, x, y):
        self.cells = CellMeanRegressor(prior_strength=0.0).fit(x[:, 1:], y)
        return self

    def predict(self, x):
        return self.cells.predict(x[:, 1:])


def test_extra_rows_train_every_fold_and_are_never_predicted():
    """Logged rows live in cell 0 (reward 0), extra rows in cell 1 (reward 1): only the extra rows can
    teach the model cell 1, and the logged rows' own predictions stay out-of-fold."""
    n, m = 60, 8
    x_logged, reward = np.stack([np.arange(n), np.zeros(n)], axis=1), np.zeros(n)
    x_extra, reward_extra = np.stack([np.arange(n, n + m), np.ones(m)], axis=1), np.ones(m)

    def candidates(rows):  # each row's two candidates: its own cell and cell 1
        return np.stack([np.stack([rows, np.zeros(len(rows))], 1), np.stack([rows, np.ones(len(rows))], 1)], axis=1)

    q_logged, q_candidates = cross_fitted_q(CellModel, x_logged, reward, candidates, n_folds=3,
                                            x_extra=x_extra, reward_extra=reward_extra)
    np.testing.assert_array_equal(q_logged, 0.0)
    np.testing.assert_array_equal(q_candidates, np.tile([0.0, 1.0], (n, 1)))
    assert q_logged.shape == (n,)  # the extra rows are never predicted
    without_extra = cross_fitted_q(CellModel, x_logged, reward, candidates, n_folds=3)[1]
    np.testing.assert_array_equal(without_extra, 0.0)  # unseen cell 1 -> the global mean, 0


def test_folds_are_balanced_and_seeded():
    fold = fold_of_rows(103, 5, seed=1)
    assert sorted(np.bincount(fold).tolist()) == [20, 20, 21, 21, 21]
    np.testing.assert_array_equal(fold, fold_of_rows(103, 5, seed=1))
    assert not np.array_equal(fold, fold_of_rows(103, 5, seed=2))


def test_default_model_learns_the_click_rate_and_dm_recovers_the_value():
    """Context x, action a: click rate 0.1 + 0.3 [a == x mod 3]; evaluate pi(a | x) = 1[a == x mod 3]."""
    rng = np.random.default_rng(5)
    n, n_actions = 6000, 3
    context = rng.integers(0, 6, n)
    action = rng.integers(0, n_actions, n)
    rate = lambda x, a: 0.1 + 0.3 * (a == x % 3)  # noqa: E731
    reward = rng.binomial(1, rate(context, action)).astype(float)
    x_logged = np.stack([context, action], axis=1).astype(float)

    def candidates(rows):
        a = np.broadcast_to(np.arange(n_actions), (len(rows), n_actions))
        return np.stack([np.broadcast_to(context[rows, None], a.shape), a], axis=2).astype(float)

    q_logged, q_candidates = cross_fitted_q(None, x_logged, reward, candidates, n_folds=3, seed=0)
    # ~220 training rows per (context, action) cell: a rate's standard error is ~0.033; allow 3.
    np.testing.assert_allclose(q_candidates, rate(context[:, None], np.arange(n_actions)[None, :]), atol=0.1)
    policy = (np.arange(n_actions)[None, :] == (context % 3)[:, None]).astype(float)  # (n, A)
    q_policy = (policy * q_candidates).sum(axis=1)
    dm = estimate("dm", reward=reward, pscore=np.full(n, 1 / 3), action_prob=policy[np.arange(n), action],
                  q_logged=q_logged, q_policy=q_policy, n_bootstrap=50)
    dr = estimate("dr", reward=reward, pscore=np.full(n, 1 / 3), action_prob=policy[np.arange(n), action],
                  q_logged=q_logged, q_policy=q_policy, n_bootstrap=200)
    assert dm.value == pytest.approx(0.4, abs=0.02)
    assert dr.ci_low <= 0.4 <= dr.ci_high


def test_cell_mean_regressor_shrinks_towards_the_global_mean():
    x = np.array([[0, 0], [0, 0], [1, 0], [1, 0]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    model = CellMeanRegressor(prior_strength=2.0).fit(x, y)
    np.testing.assert_allclose(model.predict(np.array([[0, 0], [1, 0], [5, 5]])), [0.75, 0.25, 0.5])
    np.testing.assert_allclose(CellMeanRegressor(0.0).fit(x, y).predict(x), y)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"x_logged": np.zeros(10)}, "x_logged"), ({"reward": np.zeros(9)}, "reward"),
     ({"n_folds": 1}, "n_folds"), ({"n_folds": 11}, "n_folds"),
     ({"candidate_features": lambda rows: np.zeros((len(rows), 3))}, "candidate_features"),
     ({"x_extra": np.zeros((4, 2))}, "together"), ({"x_extra": np.zeros((4, 3)), "reward_extra": np.zeros(4)}, "x_extra"),
     ({"x_extra": np.zeros((4, 2)), "reward_extra": np.zeros(3)}, "x_extra")],
)
def test_bad_input(kwargs, message):
    args = {"make_model": CellMeanRegressor, "x_logged": np.zeros((10, 2)), "reward": np.zeros(10),
            "candidate_features": lambda rows: np.zeros((len(rows), 3, 2)), "n_folds": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        cross_fitted_q(**args)
