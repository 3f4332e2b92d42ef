"""Public API of recrl's off-policy evaluation: ``estimate`` and ``estimate_all``.

Outside tools call these; their signatures and the fields of ``Estimate`` are stable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist

import numpy as np

from recrl.ope.bootstrap import percentile_interval, poisson_bootstrap_means
from recrl.ope.estimators import Estimator, check_lambda, get_estimator
from recrl.ope.inputs import LoggedRows, effective_sample_size, validate_rows

CI_METHOD = "bootstrap"
"""How ``ci_low`` / ``ci_high`` are computed without a reward model: Poisson-bootstrap percentiles
(``recrl.ope.bootstrap``)."""
CI_METHOD_FLOORED = "bootstrap+model-floor"
"""... and with one (``q_logged`` given): the percentile interval joined with value -/+ z se_model
(``model_std_err``), so heavy weights on rows that happened to get no reward cannot hide their variance."""


@dataclass(frozen=True)
class Estimate:
    """One estimator's estimate of a policy's value, with its uncertainty and weight diagnostics."""

    estimator: str
    """Estimator name (``ips``, ``snips``, ``dm``, ``dr``, ``sndr``, ``switch-dr``, ``dr-os``)."""
    value: float
    """Point estimate (equal to obp's ``estimate_policy_value``)."""
    ci_low: float
    """Lower end of the (1 - alpha) percentile bootstrap interval."""
    ci_high: float
    """Upper end of the (1 - alpha) percentile bootstrap interval."""
    n: int
    """Logged rows used."""
    ess: float
    """Kish effective sample size of the (unclipped) importance weights."""
    std_err: float
    """Standard error: the larger of the empirical one (std of the per-row influence / sqrt(n), delta
    method for the ratios) and ``model_std_err`` where a reward model is given."""
    normal_ci_low: float
    """value - z_{1 - alpha/2} std_err."""
    normal_ci_high: float
    """value + z_{1 - alpha/2} std_err."""
    max_weight: float
    """Largest importance weight pi / p (unclipped)."""
    share_clipped: float
    """Share of rows whose weight this estimator clipped, switched off or shrank (see each estimator)."""
    lambda_: float | None
    """lambda used (None where the estimator takes none; inf = no clipping)."""
    alpha: float
    """1 - confidence level of both intervals."""
    n_bootstrap: int
    """Bootstrap resamples behind ``ci_low`` / ``ci_high``."""
    ci_method: str = CI_METHOD
    model_std_err: float = math.nan
    """The reward model's standard error (``model_standard_error``); NaN without ``q_logged``."""
    contributions: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)
    """(n,) per-row contributions (obp's round rewards); their mean is ``value``."""


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be a float in (0, 1), got {alpha!r}")
    return float(alpha)


def _lambda_for(name: str, lambda_: float | Mapping[str, float] | None) -> float | None:
    """The lambda that ``estimate_all`` hands to estimator ``name``."""
    if isinstance(lambda_, Mapping):
        return lambda_.get(name)
    return lambda_ if get_estimator(name).lambda_rule != "unused" else None


def estimate_all(
    estimators: Sequence[str],
    *,
    reward: np.ndarray,
    pscore: np.ndarray,
    action_prob: np.ndarray,
    q_logged: np.ndarray | None = None,
    q_policy: np.ndarray | None = None,
    lambda_: float | Mapping[str, float] | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> list[Estimate]:
    """Estimate a policy's value with several estimators, sharing validation and one bootstrap pass.

    Parameters
    ----------
    estimators : names, e.g. ``("ips", "snips", "dr")``; each at most once.
    reward, pscore, action_prob, q_logged, q_policy : (n,) per-row arrays, see ``estimate``.
    lambda_ : one float for every estimator that takes a lambda (ips, dr: clipping; switch-dr; dr-os),
        or a mapping name -> lambda; estimators without a lambda ignore it.
    alpha, n_bootstrap, seed : as in ``estimate``. Every estimator is evaluated on the same
        resamples, so differences between estimators are not blurred by resampling noise.

    Returns
    -------
    One ``Estimate`` per name, in the given order.
    """
    if isinstance(estimators, str) or len(estimators) == 0:
        raise ValueError(f"estimators must be a non-empty sequence of names, got {estimators!r}")
    if len(set(estimators)) != len(estimators):
        raise ValueError(f"estimators must not repeat a name, got {list(estimators)}")
    alpha = _check_alpha(alpha)
    chosen = [get_estimator(name) for name in estimators]
    lambdas = [check_lambda(e, _lambda_for(e.name, lambda_)) for e in chosen]
    rows = validate_rows(reward=reward, pscore=pscore, action_prob=action_prob, q_logged=q_logged, q_policy=q_policy)
    for e in chosen:
        if e.needs_q_logged and rows.q_logged is None:
            raise ValueError(f"estimator {e.name!r} needs q_logged (the reward model at the logged action)")
        if e.needs_q_policy and rows.q_policy is None:
            raise ValueError(f"estimator {e.name!r} needs q_policy (the reward model's value of the policy)")
    terms = [e.terms(rows, lam) for e, lam in zip(chosen, lambdas, strict=True)]
    offsets = np.cumsum([0] + [t.shape[1] for t in terms])
    # One (n, S_total) matrix so all estimators share the same Poisson counts.
    resampled = poisson_bootstrap_means(np.concatenate(terms, axis=1), n_bootstrap, seed)  # (R, S_total)
    return [
        _summarise(e, lam, rows, t, resampled[:, offsets[j] : offsets[j + 1]], alpha, n_bootstrap)
        for j, (e, lam, t) in enumerate(zip(chosen, lambdas, terms, strict=True))
    ]


def _summarise(
    estimator: Estimator, lambda_: float, rows: LoggedRows, terms: np.ndarray, resampled: np.ndarray, alpha: float, n_bootstrap: int
) -> Estimate:
    contributions = estimator.contributions(terms)  # (n,)
    value = float(contributions.mean())
    ci_low, ci_high = percentile_interval(estimator.value_from_means(resampled), alpha)
    influence = estimator.influence(terms)
    empirical_std_err = float(influence.std(ddof=1) / math.sqrt(rows.n)) if rows.n > 1 else math.nan
    model_std_err = model_standard_error(estimator, lambda_, rows)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    std_err, ci_method = empirical_std_err, CI_METHOD
    if not math.isnan(model_std_err):
        # The interval is the union of the percentile one and value -/+ z se_model; the standard error
        # the decision rules read (normal interval, LCBs, the gate) is the larger of the two.
        std_err, ci_method = max(empirical_std_err, model_std_err), CI_METHOD_FLOORED
        ci_low, ci_high = min(ci_low, value - z * model_std_err), max(ci_high, value + z * model_std_err)
    weight = rows.weight
    return Estimate(
        estimator=estimator.name,
        value=value,
        ci_low=ci_low,
        ci_high=ci_high,
        n=rows.n,
        ess=effective_sample_size(weight),
        std_err=std_err,
        normal_ci_low=value - z * std_err,
        normal_ci_high=value + z * std_err,
        max_weight=float(weight.max()),
        share_clipped=estimator.share_modified(weight, lambda_),
        lambda_=None if estimator.lambda_rule == "unused" else lambda_,
        alpha=alpha,
        n_bootstrap=int(n_bootstrap),
        ci_method=ci_method,
        model_std_err=model_std_err,
        contributions=contributions,
    )


def model_standard_error(estimator: Estimator, lambda_: float, rows: LoggedRows) -> float:
    r"""The estimator's standard error with the within-action reward noise taken from the reward model.

    A row's influence is linear in its own reward, phi_i = a_i + b_i r_i, so (law of total variance)

    .. math:: Var(\phi) = Var(E[\phi | x, a]) + E[b^2 \sigma^2(x, a)]
              \approx Var_n(\phi_i |_{r = \hat q}) + E_n[b_i^2 \hat\sigma^2_i],
              \qquad \hat\sigma^2_i = \max(\kappa \hat q_i - \hat q_i^2, 0),
              \quad \kappa = \sum_i r_i^2 / \sum_i r_i

    (E[r^2 | x, a] = kappa q(x, a) holds exactly when the mix of reward levels is the same everywhere,
    e.g. binary rewards, kappa = 1). The empirical variance of phi sees a heavy-weight row's noise only
    if that row happened to be rewarded; this one charges every row the noise its q_hat implies.
    b_i = phi_i(r_i = 1) - phi_i(r_i = 0) with the normalising means held fixed. Returns
    sqrt(Var / n), or NaN without ``q_logged`` (no model) or with fewer than two rows.
    """
    if rows.q_logged is None or rows.n < 2:
        return math.nan
    reward_sum = float(rows.reward.sum())
    kappa = float((rows.reward**2).sum()) / reward_sum if reward_sum > 0 else 0.0
    noise = np.maximum(kappa * rows.q_logged - rows.q_logged**2, 0.0)  # (n,) sigma_hat^2
    imputed = estimator.influence(estimator.terms(replace(rows, reward=rows.q_logged), lambda_))  # (n,)
    slope = (estimator.contributions(estimator.terms(replace(rows, reward=np.ones(rows.n)), lambda_))
             - estimator.contributions(estimator.terms(replace(rows, reward=np.zeros(rows.n)), lambda_)))
    variance = float(imputed.var(ddof=1) + np.mean(slope**2 * noise))
    return math.sqrt(variance / rows.n)


def estimate(
    estimator: str,
    *,
    reward: np.ndarray,
    pscore: np.ndarray,
    action_prob: np.ndarray,
    q_logged: np.ndarray | None = None,
    q_policy: np.ndarray | None = None,
    lambda_: float | None = None,
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Estimate the value of an evaluated policy pi from data logged by another policy.

    Parameters
    ----------
    estimator : ``ips``, ``snips``, ``dm``, ``dr``, ``sndr``, ``switch-dr`` or ``dr-os``
        (formulas in ``recrl.ope.estimators``).
    reward : (n,) observed rewards r_i >= 0.
    pscore : (n,) logging propensities p_i in (0, 1] of the logged action at its logged position.
    action_prob : (n,) pi(a_i | x_i, k_i) in [0, 1]: the evaluated policy's probability of the
        logged action at its logged position.
    q_logged : (n,) q_hat(x_i, a_i, k_i); needed by dr, sndr, switch-dr, dr-os.
    q_policy : (n,) sum_a pi(a | x_i, k_i) q_hat(x_i, a, k_i); needed by dm and the DR family.
    lambda_ : clipping threshold of ips / dr (optional, None = none), switching threshold of
        switch-dr and shrinkage of dr-os (required; ``math.inf`` allowed). Not accepted by
        snips, dm and sndr.
    alpha : 1 - confidence level of the intervals.
    n_bootstrap : Poisson bootstrap resamples of the percentile interval.
    seed : seed of the bootstrap.

    Returns
    -------
    Estimate with ``value``, ``ci_low``, ``ci_high``, ``n``, ``ess`` and diagnostics.

    Raises
    ------
    ValueError naming the argument: propensity 0, > 1 or NaN; negative reward; length mismatch;
    action_prob outside [0, 1]; missing q arrays; unknown estimator; missing or invalid lambda_.
    """
    get_estimator(estimator)
    return estimate_all(
        [estimator],
        reward=reward,
        pscore=pscore,
        action_prob=action_prob,
        q_logged=q_logged,
        q_policy=q_policy,
        lambda_={estimator: lambda_} if lambda_ is not None else None,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )[0]
