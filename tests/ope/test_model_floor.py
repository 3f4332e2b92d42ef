"""The reward model's variance floor of the standard error (``recrl.ope.api.model_standard_error``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recrl.ope import estimate
from recrl.ope.api import CI_METHOD, CI_METHOD_FLOORED


def logged_world(seed: int, n: int, rare_rate: float):
    """A logger that shows action 0 with p = 0.81 and each of 19 rare actions with p = 0.01; the
    evaluated policy is uniform over the 20 (weight 5 on a rare action). Bernoulli rewards, q_hat = q."""
    rng = np.random.default_rng(seed)
    beta = np.r_[0.81, np.full(19, 0.01)]
    q = np.r_[0.3, np.full(19, rare_rate)]
    pi = np.full(20, 0.05)
    action = rng.choice(20, size=n, p=beta)
    reward = (rng.random(n) < q[action]).astype(float)
    truth = float(pi @ q)
    rows = dict(reward=reward, pscore=beta[action], action_prob=pi[action], q_logged=q[action],
                q_policy=np.full(n, truth))
    return rows, truth


def test_floor_restores_coverage_where_heavy_weight_rows_rarely_get_a_reward():
    """n = 300: each rare action is logged ~3 times and rewarded with probability 0.02, so most logs hold
    no rewarded heavy-weight row and the empirical variance misses the noise. 400 seeds."""
    covered = {"floored": 0, "empirical": 0}
    for seed in range(400):
        rows, truth = logged_world(seed, n=300, rare_rate=0.02)
        dr = estimate("dr", **rows, n_bootstrap=50, seed=seed)
        assert dr.ci_method == CI_METHOD_FLOORED
        empirical = float(dr.contributions.std(ddof=1) / math.sqrt(dr.n))
        covered["floored"] += dr.ci_low <= truth <= dr.ci_high
        covered["empirical"] += abs(dr.value - truth) <= 1.96 * empirical
    # Nominal 0.95; a binomial(400, 0.95) falls below 0.92 with probability < 1%.
    assert covered["floored"] / 400 >= 0.92
    assert covered["empirical"] / 400 <= 0.80  # what the floor is for (0.67 here)
    assert covered["floored"] - covered["empirical"] >= 40


def test_floor_matches_the_empirical_error_where_rewards_are_plentiful():
    rows, _ = logged_world(0, n=20_000, rare_rate=0.3)
    dr = estimate("dr", **rows, n_bootstrap=50)
    empirical = float(dr.contributions.std(ddof=1) / math.sqrt(dr.n))
    assert dr.model_std_err == pytest.approx(empirical, rel=0.05)


def test_floor_takes_the_slope_of_each_estimator_and_needs_a_reward_model():
    """SNIPS's row slope is w / E_n[w] and IPS's is w: with q_hat = q both floors agree with their
    empirical errors on plentiful data; without q_logged there is no floor and the interval is the
    bootstrap's own."""
    rows, _ = logged_world(1, n=20_000, rare_rate=0.3)
    for name in ("ips", "snips", "sndr"):
        est = estimate(name, **rows, n_bootstrap=50)
        assert est.model_std_err == pytest.approx(est.std_err, rel=0.05), name
    bare = {k: rows[k] for k in ("reward", "pscore", "action_prob")}
    ips = estimate("ips", **bare, n_bootstrap=50)
    assert math.isnan(ips.model_std_err) and ips.ci_method == CI_METHOD
    assert ips.std_err == pytest.approx(float(ips.contributions.std(ddof=1) / math.sqrt(ips.n)))
