"""Estimators: closed forms, agreement with obp's formulas, properties, limits, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recrl.ope import ESTIMATORS, effective_sample_size, estimate, estimate_all

ALL = list(ESTIMATORS)


def uniform_log(n: int, n_actions: int, seed: int) -> dict[str, np.ndarray]:
    """A uniform-random logging policy over ``n_actions`` with action-dependent Bernoulli rewards."""
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 4, size=n)
    action = rng.integers(0, n_actions, size=n)
    click_rate = 0.05 + 0.1 * ((action + context) % n_actions) / n_actions
    reward = rng.binomial(1, click_rate).astype(np.float64)
    return {"context": context, "action": action, "reward": reward, "pscore": np.full(n, 1.0 / n_actions)}


def test_uniform_policy_on_uniform_log_ips_is_mean_reward():
    log = uniform_log(5000, 5, seed=1)
    result = estimate("ips", reward=log["reward"], pscore=log["pscore"], action_prob=np.full(5000, 0.2))
    assert result.value == pytest.approx(log["reward"].mean(), rel=1e-12)
    assert result.ess == pytest.approx(5000)
    assert result.max_weight == pytest.approx(1.0)


def test_deterministic_policy_on_uniform_log_ips_counts_matches():
    n_actions = 5
    log = uniform_log(6000, n_actions, seed=2)
    chosen = (log["context"] * 2 + 1) % n_actions  # pi(x) = (2x + 1) mod 5
    match = log["action"] == chosen
    result = estimate("ips", reward=log["reward"], pscore=log["pscore"], action_prob=match.astype(float))
    expected = n_actions * log["reward"][match].sum() / len(match)
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert result.ess == pytest.approx(match.sum())  # equal weights on the matches


# --- obp's per-round rewards, transcribed from obp/ope/estimators.py (obp cannot be installed here) ---
def obp_round_rewards(name, reward, action, position, pscore, action_dist, q_hat, lambda_):
    n = action.shape[0]
    iw = action_dist[np.arange(n), action, position] / pscore
    if name in ("ips", "snips"):
        if name == "ips":
            return reward * np.minimum(iw, lambda_)
        return reward * iw / iw.mean()
    q_hat_at_position = q_hat[np.arange(n), :, position]
    q_hat_factual = q_hat[np.arange(n), action, position]
    pi_e_at_position = action_dist[np.arange(n), :, position]
    estimated = np.average(q_hat_at_position, weights=pi_e_at_position, axis=1)
    if name == "dm":
        return estimated
    if name == "dr":
        return estimated + np.minimum(iw, lambda_) * (reward - q_hat_factual)
    if name == "sndr":
        return estimated + iw * (reward - q_hat_factual) / iw.mean()
    if name == "switch-dr":
        return estimated + np.array(iw <= lambda_, dtype=int) * iw * (reward - q_hat_factual)
    iw_hat = (lambda_ * iw) / (iw**2 + lambda_) if lambda_ < np.inf else iw
    return estimated + iw_hat * (reward - q_hat_factual)


@pytest.fixture(scope="module")
def slate_log():
    """Logged slates with a non-uniform logging policy, a stochastic evaluated policy and a model."""
    rng = np.random.default_rng(7)
    n, n_actions, n_positions = 3000, 12, 3
    behaviour = rng.dirichlet(np.ones(n_actions), size=(n, n_positions)).transpose(0, 2, 1)  # (n, A, K)
    action_dist = rng.dirichlet(np.full(n_actions, 0.5), size=(n, n_positions)).transpose(0, 2, 1)  # (n, A, K)
    position = rng.integers(0, n_positions, size=n)
    action = np.array([rng.choice(n_actions, p=behaviour[i, :, position[i]]) for i in range(n)])
    pscore = behaviour[np.arange(n), action, position]
    q_hat = rng.uniform(0.0, 0.3, size=(n, n_actions, n_positions))  # (n, A, K)
    reward = rng.binomial(1, q_hat[np.arange(n), action, position]).astype(np.float64)
    return {
        "reward": reward,
        "action": action,
        "position": position,
        "pscore": pscore,
        "action_dist": action_dist,
        "q_hat": q_hat,
        "action_prob": action_dist[np.arange(n), action, position],
        "q_logged": q_hat[np.arange(n), action, position],
        "q_policy": (action_dist[np.arange(n), :, position] * q_hat[np.arange(n), :, position]).sum(axis=1),
    }


@pytest.mark.parametrize(
    ("name", "lambda_"),
    [("ips", None), ("ips", 5.0), ("snips", None), ("dm", None), ("dr", None), ("dr", 3.0), ("sndr", None),
     ("switch-dr", 4.0), ("switch-dr", math.inf), ("dr-os", 10.0), ("dr-os", math.inf)],
)
def test_matches_obp_to_floating_point_precision(slate_log, name, lambda_):
    d = slate_log
    result = estimate(
        name, reward=d["reward"], pscore=d["pscore"], action_prob=d["action_prob"], q_logged=d["q_logged"],
        q_policy=d["q_policy"], lambda_=lambda_, n_bootstrap=10,
    )
    expected_rows = obp_round_rewards(
        name, d["reward"], d["action"], d["position"], d["pscore"], d["action_dist"], d["q_hat"],
        math.inf if lambda_ is None else lambda_,
    )
    np.testing.assert_allclose(result.contributions, expected_rows, rtol=1e-12, atol=1e-15)
    assert result.value == pytest.approx(expected_rows.mean(), rel=1e-12, abs=1e-15)
    assert result.value == pytest.approx(result.contributions.mean(), rel=1e-15)


def test_switch_and_shrinkage_limits(slate_log):
    d = {k: slate_log[k] for k in ("reward", "pscore", "action_prob", "q_logged", "q_policy")}
    value = {
        (name, lam): estimate(name, **d, lambda_=lam, n_bootstrap=5).value
        for name, lam in [("dr", None), ("dm", None), ("switch-dr", math.inf), ("switch-dr", 0.0),
                          ("dr-os", math.inf), ("dr-os", 0.0), ("ips", None), ("ips", 1e-9)]
    }
    assert value[("switch-dr", math.inf)] == pytest.approx(value[("dr", None)], rel=1e-12)
    assert value[("switch-dr", 0.0)] == pytest.approx(value[("dm", None)], rel=1e-12)
    assert value[("dr-os", math.inf)] == pytest.approx(value[("dr", None)], rel=1e-12)
    assert value[("dr-os", 0.0)] == pytest.approx(value[("dm", None)], rel=1e-12)
    assert value[("ips", 1e-9)] == pytest.approx(1e-9 * d["reward"].mean(), rel=1e-9)  # every weight clipped
    assert value[("ips", 1e-9)] < value[("ips", None)]


def test_share_clipped_and_max_weight(slate_log):
    d = slate_log
    weight = d["action_prob"] / d["pscore"]
    result = estimate("ips", reward=d["reward"], pscore=d["pscore"], action_prob=d["action_prob"], lambda_=2.0,
                      n_bootstrap=5)
    assert result.share_clipped == pytest.approx(np.mean(weight > 2.0))
    assert 0.0 < result.share_clipped < 1.0
    assert result.max_weight == pytest.approx(weight.max())
    assert result.ess == pytest.approx(weight.sum() ** 2 / (weight**2).sum())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=40),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
    reward_scale=st.floats(min_value=0.01, max_value=100.0),
)
def test_snips_stays_within_reward_range(n, seed, reward_scale):
    rng = np.random.default_rng(seed)
    reward = rng.uniform(0.0, reward_scale, size=n) * rng.binomial(1, 0.5, size=n)
    pscore = rng.uniform(1e-4, 1.0, size=n)
    action_prob = rng.uniform(0.0, 1.0, size=n)
    result = estimate("snips", reward=reward, pscore=pscore, action_prob=action_prob, n_bootstrap=20, seed=seed)
    tol = 1e-12 * reward_scale
    assert reward.min() - tol <= result.value <= reward.max() + tol
    assert reward.min() - tol <= result.ci_low <= result.ci_high <= reward.max() + tol


def test_effective_sample_size():
    assert effective_sample_size(np.full(10, 3.0)) == pytest.approx(10.0)
    assert effective_sample_size(np.array([0.0, 0.0, 5.0])) == pytest.approx(1.0)
    assert effective_sample_size(np.zeros(4)) == 0.0
    with pytest.raises(ValueError, match="weight"):
        effective_sample_size(np.array([1.0, -1.0]))


def test_estimate_all_equals_one_by_one(slate_log):
    d = {k: slate_log[k] for k in ("reward", "pscore", "action_prob", "q_logged", "q_policy")}
    lambdas = {"switch-dr": 4.0, "dr-os": 10.0}
    together = estimate_all(ALL, **d, lambda_=lambdas, n_bootstrap=200, seed=3)
    assert [e.estimator for e in together] == ALL
    for joint in together:
        alone = estimate(joint.estimator, **d, lambda_=lambdas.get(joint.estimator), n_bootstrap=200, seed=3)
        assert joint.value == alone.value
        # Same seed -> same Poisson counts per row, whatever other columns ride along.
        assert joint.ci_low == pytest.approx(alone.ci_low, rel=1e-6)
        assert joint.ci_high == pytest.approx(alone.ci_high, rel=1e-6)


BASE = {
    "reward": np.array([0.0, 1.0, 0.0, 1.0]),
    "pscore": np.array([0.5, 0.25, 0.5, 0.1]),
    "action_prob": np.array([0.2, 0.3, 0.0, 1.0]),
    "q_logged": np.array([0.1, 0.2, 0.1, 0.3]),
    "q_policy": np.array([0.2, 0.2, 0.2, 0.2]),
}


def _with(**changes):
    args = {k: v.copy() for k, v in BASE.items()}
    args.update(changes)
    return args


@pytest.mark.parametrize(
    ("estimator", "args", "lambda_", "message"),
    [
        ("ips", _with(pscore=np.array([0.5, 0.0, 0.5, 0.1])), None, "pscore"),
        ("ips", _with(pscore=np.array([0.5, 1.5, 0.5, 0.1])), None, "pscore"),
        ("ips", _with(pscore=np.array([0.5, np.nan, 0.5, 0.1])), None, "pscore"),
        ("ips", _with(pscore=np.array([0.5, -0.2, 0.5, 0.1])), None, "pscore"),
        ("ips", _with(reward=np.array([0.0, -1.0, 0.0, 1.0])), None, "reward"),
        ("ips", _with(reward=np.array([0.0, np.nan, 0.0, 1.0])), None, "reward"),
        ("ips", _with(reward=np.array([0.0, 1.0, 0.0])), None, "length mismatch"),
        ("dr", _with(q_logged=np.array([0.1, 0.2])), None, "q_logged"),
        ("ips", _with(action_prob=np.array([0.2, 1.3, 0.0, 1.0])), None, "action_prob"),
        ("ips", _with(action_prob=np.array([0.2, -0.1, 0.0, 1.0])), None, "action_prob"),
        ("ips", _with(action_prob=np.array([[0.2, 0.3], [0.0, 1.0]])), None, "action_prob"),
        ("ips", _with(reward=np.array([])), None, "reward"),
        ("dm", _with(q_policy=None), None, "q_policy"),
        ("dr", _with(q_logged=None), None, "q_logged"),
        ("sndr", _with(q_policy=None), None, "q_policy"),
        ("dr-os", _with(q_policy=np.array([0.2, np.inf, 0.2, 0.2])), 1.0, "q_policy"),
        ("magic", _with(), None, "estimator"),
        ("switch-dr", _with(), None, "lambda_"),
        ("dr-os", _with(), None, "lambda_"),
        ("switch-dr", _with(), -1.0, "lambda_"),
        ("ips", _with(), float("nan"), "lambda_"),
        ("ips", _with(), "10", "lambda_"),
        ("snips", _with(), 5.0, "lambda_"),
    ],
)
def test_bad_input_raises_value_error_naming_it(estimator, args, lambda_, message):
    with pytest.raises(ValueError, match=message):
        estimate(estimator, **args, lambda_=lambda_, n_bootstrap=10)


@pytest.mark.parametrize(("kwargs", "message"), [({"alpha": 0.0}, "alpha"), ({"alpha": 1.5}, "alpha"),
                                                 ({"n_bootstrap": 0}, "n_bootstrap"),
                                                 ({"n_bootstrap": 2.5}, "n_bootstrap")])
def test_bad_interval_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate("ips", **{k: BASE[k] for k in ("reward", "pscore", "action_prob")}, **kwargs)


def test_estimate_all_rejects_repeats_and_strings():
    rows = {k: BASE[k] for k in ("reward", "pscore", "action_prob")}
    with pytest.raises(ValueError, match="repeat"):
        estimate_all(["ips", "ips"], **rows)
    with pytest.raises(ValueError, match="sequence"):
        estimate_all("ips", **rows)
