"""Poisson bootstrap: count distribution, agreement with the multinomial bootstrap, coverage, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recrl.ope import estimate
from recrl.ope.bootstrap import POISSON_ONE_TABLE, percentile_interval, poisson_bootstrap_means


def test_count_table_is_poisson_one_to_16_bits():
    observed = np.bincount(POISSON_ONE_TABLE, minlength=8) / POISSON_ONE_TABLE.size
    expected = np.array([math.exp(-1) / math.factorial(k) for k in range(8)])
    np.testing.assert_allclose(observed[:7], expected[:7], atol=2.0**-16)
    counts = POISSON_ONE_TABLE.astype(float)
    assert counts.mean() == pytest.approx(1.0, abs=1e-4)
    assert counts.var() == pytest.approx(1.0, abs=1e-3)


def test_same_seed_same_result_whatever_the_threads_and_chunks_sum_right():
    columns = np.random.default_rng(0).exponential(size=(10_000, 3))
    one = poisson_bootstrap_means(columns, 300, seed=5, chunk_rows=512, n_threads=1)
    two = poisson_bootstrap_means(columns, 300, seed=5, chunk_rows=512, n_threads=2)
    np.testing.assert_array_equal(one, two)
    other = poisson_bootstrap_means(columns, 300, seed=6, chunk_rows=512, n_threads=2)
    assert not np.allclose(one, other)


def test_matches_a_naive_multinomial_bootstrap():
    """Spread and skew agree with the textbook bootstrap (index resampling) within Monte Carlo error."""
    rng = np.random.default_rng(1)
    x = rng.lognormal(sigma=1.2, size=2000)  # skewed, like importance-weighted rewards
    poisson = poisson_bootstrap_means(x[:, None], 4000, seed=2)[:, 0]
    naive = np.array([x[rng.integers(0, x.size, x.size)].mean() for _ in range(4000)])
    analytic_se = x.std() / math.sqrt(x.size)
    # The sd of a 4000-draw sd estimate is ~1.1% of it (more with skew): allow 6%.
    assert poisson.std() == pytest.approx(analytic_se, rel=0.06)
    assert naive.std() == pytest.approx(analytic_se, rel=0.06)
    assert poisson.mean() == pytest.approx(x.mean(), abs=4 * analytic_se / math.sqrt(4000))
    skew = [np.mean((v - v.mean()) ** 3) / v.std() ** 3 for v in (poisson, naive)]
    assert skew[0] > 0.1 and skew[1] > 0.1  # both keep the right skew a normal interval would miss
    assert abs(skew[0] - skew[1]) < 0.25


def test_interval_covers_the_true_value_at_the_nominal_rate():
    """IPS on a known problem: 95% percentile and normal intervals cover V in 90-99% of 300 datasets."""
    rng = np.random.default_rng(11)
    n, n_actions = 400, 4
    click_rate = np.array([0.1, 0.3, 0.5, 0.2])
    target = np.array([0.1, 0.2, 0.6, 0.1])  # evaluated policy
    true_value = float(target @ click_rate)
    covered_boot = covered_normal = 0
    for rep in range(300):
        action = rng.integers(0, n_actions, size=n)
        reward = rng.binomial(1, click_rate[action]).astype(float)
        result = estimate("ips", reward=reward, pscore=np.full(n, 0.25), action_prob=target[action],
                          n_bootstrap=400, seed=rep)
        covered_boot += result.ci_low <= true_value <= result.ci_high
        covered_normal += result.normal_ci_low <= true_value <= result.normal_ci_high
    assert 0.90 <= covered_boot / 300 <= 0.99
    assert 0.90 <= covered_normal / 300 <= 0.99


def test_self_normalised_interval_recomputes_the_ratio():
    """SNIPS resamples numerator and denominator together: a constant reward gives a zero-width interval."""
    rng = np.random.default_rng(3)
    n = 500
    result = estimate("snips", reward=np.full(n, 0.7), pscore=rng.uniform(0.05, 1, n),
                      action_prob=rng.uniform(0, 1, n), n_bootstrap=200)
    assert result.value == pytest.approx(0.7, rel=1e-12)
    assert result.ci_low == pytest.approx(0.7, rel=1e-6) and result.ci_high == pytest.approx(0.7, rel=1e-6)
    assert result.std_err == pytest.approx(0.0, abs=1e-12)


def test_percentile_interval_ignores_empty_resamples():
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5) == pytest.approx((1.5, 2.5))
    assert all(math.isnan(v) for v in percentile_interval(np.array([np.nan]), 0.05))


def test_bad_arguments():
    with pytest.raises(ValueError, match="columns"):
        poisson_bootstrap_means(np.zeros((0, 2)), 10, seed=0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        poisson_bootstrap_means(np.zeros((5, 2)), 0, seed=0)


def test_random_groups_agree_with_the_row_level_bootstrap():
    """Above max_groups, resampling random group sums gives the row-level spread and skew."""
    rng = np.random.default_rng(4)
    x = rng.lognormal(sigma=1.0, size=(40_000, 1)) * rng.binomial(1, 0.2, size=(40_000, 1))
    rows = poisson_bootstrap_means(x, 3000, seed=1, max_groups=None)[:, 0]
    groups = poisson_bootstrap_means(x, 3000, seed=1, max_groups=2000)[:, 0]
    assert groups.std() == pytest.approx(rows.std(), rel=0.08)
    assert groups.mean() == pytest.approx(x.mean(), abs=4 * rows.std() / math.sqrt(3000))
    low_r, high_r = percentile_interval(rows, 0.05)
    low_g, high_g = percentile_interval(groups, 0.05)
    assert low_g == pytest.approx(low_r, abs=0.1 * (high_r - low_r))
    assert high_g == pytest.approx(high_r, abs=0.1 * (high_r - low_r))
