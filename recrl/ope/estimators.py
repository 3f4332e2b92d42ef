"""Off-policy estimators of a policy's value from logged bandit feedback.

Notation (per logged decision i of n): reward r_i, logging propensity p_i, the evaluated policy's
probability of the logged action at its logged position pi_i, importance weight w_i = pi_i / p_i,
reward model q_hat_i = q_hat(x_i, a_i, k_i) at the logged action and
q_pi_i = sum_a pi(a | x_i, k_i) q_hat(x_i, a, k_i) under the evaluated policy. E_n is the mean over rows.

Conventions are those of the Open Bandit Pipeline (Saito et al., NeurIPS 2021 Datasets and Benchmarks;
``obp/ope/estimators.py``): the same per-round rewards, the same weight clipping, switching and
shrinkage, and the same self-normalisation, so values agree with obp to floating-point precision.

Each estimator exposes its *terms*: a few per-row columns whose means determine the estimate
(``value_from_means``). Linear estimators have one column, the per-row contribution; the
self-normalised ones keep numerator and denominator apart, so the bootstrap resamples rows and
recomputes the ratio rather than resampling contributions normalised by the full-sample mean weight.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from recrl.ope.inputs import LoggedRows


class Estimator(ABC):
    """Common interface: per-row terms, the value as a function of their means, diagnostics."""

    name: ClassVar[str]
    lambda_rule: ClassVar[str] = "unused"
    """'unused', 'optional' (None = no clipping) or 'required'."""
    needs_q_logged: ClassVar[bool] = False
    needs_q_policy: ClassVar[bool] = False

    @abstractmethod
    def terms(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        """(n, S) per-row columns whose means give the estimate."""

    @abstractmethod
    def value_from_means(self, means: np.ndarray) -> np.ndarray:
        """(..., S) column means -> (...) estimates; vectorised over bootstrap resamples."""

    @abstractmethod
    def contributions(self, terms: np.ndarray) -> np.ndarray:
        """(n,) obp's per-round rewards: their mean is the estimate."""

    @abstractmethod
    def influence(self, terms: np.ndarray) -> np.ndarray:
        """(n,) per-row influence (delta method); its std / sqrt(n) is the standard error."""

    def share_modified(self, weight: np.ndarray, lambda_: float) -> float:
        """Share of rows whose importance weight the estimator clips, switches off or shrinks."""
        return 0.0


class _Linear(Estimator):
    """An estimator that is the plain mean of one per-row contribution."""

    @abstractmethod
    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        """(n,) per-row contribution."""

    def terms(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        return self.round_rewards(rows, lambda_)[:, None]  # (n, 1)

    def value_from_means(self, means: np.ndarray) -> np.ndarray:
        return means[..., 0]

    def contributions(self, terms: np.ndarray) -> np.ndarray:
        return terms[:, 0]

    def influence(self, terms: np.ndarray) -> np.ndarray:
        return terms[:, 0]


class InversePropensityScore(_Linear):
    r"""IPS (inverse probability weighting), optionally with clipped weights.

    .. math:: \hat V_{IPS} = E_n[\min(w_i, \lambda) r_i]

    lambda = inf (None) is plain IPS. Unbiased when the propensities are right and the evaluated
    policy's support is covered; its variance grows with the weights.

    References: Strehl, Langford, Li, Kakade, "Learning from Logged Implicit Exploration Data",
    NeurIPS 2010; obp ``InverseProbabilityWeighting``.
    """

    name = "ips"
    lambda_rule = "optional"

    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        return rows.reward * np.minimum(rows.weight, lambda_)

    def share_modified(self, weight: np.ndarray, lambda_: float) -> float:
        return float(np.mean(weight > lambda_))


class SelfNormalizedIPS(Estimator):
    r"""SNIPS: IPS divided by the mean weight.

    .. math:: \hat V_{SNIPS} = \frac{E_n[w_i r_i]}{E_n[w_i]}

    Biased but consistent; a weighted mean of rewards, so it stays within [min r, max r].
    Terms: columns (w r, w).

    References: Swaminathan and Joachims, "The Self-Normalized Estimator for Counterfactual
    Learning", NeurIPS 2015; obp ``SelfNormalizedInverseProbabilityWeighting``.
    """

    name = "snips"

    def terms(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        weight = rows.weight
        return np.stack([rows.reward * weight, weight], axis=1)  # (n, 2)

    def value_from_means(self, means: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return means[..., 0] / means[..., 1]

    def contributions(self, terms: np.ndarray) -> np.ndarray:
        # obp's round rewards: r_i w_i / E_n[w].
        with np.errstate(invalid="ignore", divide="ignore"):
            return terms[:, 0] / terms[:, 1].mean()

    def influence(self, terms: np.ndarray) -> np.ndarray:
        # Delta method for a ratio of means: (w r - V w) / E_n[w].
        mean_weight = terms[:, 1].mean()
        if not mean_weight > 0:
            return np.full(len(terms), np.nan)
        value = terms[:, 0].mean() / mean_weight
        return (terms[:, 0] - value * terms[:, 1]) / mean_weight


class DirectMethod(_Linear):
    r"""DM: the reward model's value of the evaluated policy.

    .. math:: \hat V_{DM} = E_n[\hat q(x_i, \pi)] = E_n[\sum_a \pi(a | x_i, k_i) \hat q(x_i, a, k_i)]

    No weights, so low variance; biased exactly as much as the reward model is wrong.

    References: Beygelzimer and Langford, "The Offset Tree for Learning with Partial Labels", KDD 2009;
    obp ``DirectMethod``.
    """

    name = "dm"
    needs_q_policy = True

    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        return rows.q_policy


class DoublyRobust(_Linear):
    r"""DR: DM plus an importance-weighted correction of the model's error, weights optionally clipped.

    .. math:: \hat V_{DR} = E_n[\hat q(x_i, \pi) + \min(w_i, \lambda) (r_i - \hat q(x_i, a_i))]

    Unbiased if either the propensities or the reward model is right (lambda = inf).

    References: Dudik, Erhan, Langford, Li, "Doubly Robust Policy Evaluation and Optimization",
    Statistical Science 2014; obp ``DoublyRobust``.
    """

    name = "dr"
    lambda_rule = "optional"
    needs_q_logged = True
    needs_q_policy = True

    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        return rows.q_policy + np.minimum(rows.weight, lambda_) * (rows.reward - rows.q_logged)

    def share_modified(self, weight: np.ndarray, lambda_: float) -> float:
        return float(np.mean(weight > lambda_))


class SelfNormalizedDR(Estimator):
    r"""SNDR: DR whose correction term is divided by the mean weight (obp's convention).

    .. math:: \hat V_{SNDR} = E_n[\hat q(x_i, \pi)] + \frac{E_n[w_i (r_i - \hat q(x_i, a_i))]}{E_n[w_i]}

    Weights are not clipped. Terms: columns (q_pi, w (r - q_hat), w).

    References: Kallus and Uehara, "Intrinsically Efficient, Stable, and Bounded Off-Policy Evaluation
    for Reinforcement Learning", NeurIPS 2019; obp ``SelfNormalizedDoublyRobust``.
    """

    name = "sndr"
    needs_q_logged = True
    needs_q_policy = True

    def terms(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        weight = rows.weight
        return np.stack([rows.q_policy, weight * (rows.reward - rows.q_logged), weight], axis=1)  # (n, 3)

    def value_from_means(self, means: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return means[..., 0] + means[..., 1] / means[..., 2]

    def contributions(self, terms: np.ndarray) -> np.ndarray:
        # obp's round rewards: q_pi_i + w_i (r_i - q_hat_i) / E_n[w].
        with np.errstate(invalid="ignore", divide="ignore"):
            return terms[:, 0] + terms[:, 1] / terms[:, 2].mean()

    def influence(self, terms: np.ndarray) -> np.ndarray:
        mean_weight = terms[:, 2].mean()
        if not mean_weight > 0:
            return np.full(len(terms), np.nan)
        correction = terms[:, 1].mean() / mean_weight
        return terms[:, 0] + (terms[:, 1] - correction * terms[:, 2]) / mean_weight


class SwitchDR(_Linear):
    r"""Switch-DR(lambda): the DR correction only on rows whose weight is at most lambda (DM elsewhere).

    .. math:: \hat V_{Switch} = E_n[\hat q(x_i, \pi) + w_i (r_i - \hat q(x_i, a_i)) 1\{w_i \le \lambda\}]

    lambda = inf is DR; lambda = 0 is DM.

    References: Wang, Agarwal, Dudik, "Optimal and Adaptive Off-policy Evaluation in Contextual
    Bandits", ICML 2017; obp ``SwitchDoublyRobust``.
    """

    name = "switch-dr"
    lambda_rule = "required"
    needs_q_logged = True
    needs_q_policy = True

    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        weight = rows.weight
        switch = np.array(weight <= lambda_, dtype=int)
        return rows.q_policy + switch * weight * (rows.reward - rows.q_logged)

    def share_modified(self, weight: np.ndarray, lambda_: float) -> float:
        return float(np.mean(weight > lambda_))


class DROptimisticShrinkage(_Linear):
    r"""DR-OS(lambda): DR with weights shrunk optimistically towards 0.

    .. math:: \hat V_{DRos} = E_n[\hat q(x_i, \pi) + \frac{\lambda w_i}{w_i^2 + \lambda} (r_i - \hat q(x_i, a_i))]

    lambda = inf is DR; lambda -> 0 tends to DM (at lambda = 0 the shrunk weight is taken as its
    limit 0, where obp would divide 0 by 0 on rows with w = 0). share_modified counts rows whose
    weight is at least halved (w^2 >= lambda).

    References: Su, Dimakopoulou, Krishnamurthy, Dudik, "Doubly Robust Off-Policy Evaluation with
    Shrinkage", ICML 2020; obp ``DoublyRobustWithShrinkage``.
    """

    name = "dr-os"
    lambda_rule = "required"
    needs_q_logged = True
    needs_q_policy = True

    def round_rewards(self, rows: LoggedRows, lambda_: float) -> np.ndarray:
        weight = rows.weight
        if math.isinf(lambda_):
            shrunk = weight
        else:
            denominator = weight**2 + lambda_
            shrunk = np.divide(lambda_ * weight, denominator, out=np.zeros_like(weight), where=denominator > 0)
        return rows.q_policy + shrunk * (rows.reward - rows.q_logged)

    def share_modified(self, weight: np.ndarray, lambda_: float) -> float:
        return float(np.mean(weight**2 >= lambda_)) if not math.isinf(lambda_) else 0.0


ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        InversePropensityScore(),
        SelfNormalizedIPS(),
        DirectMethod(),
        DoublyRobust(),
        SelfNormalizedDR(),
        SwitchDR(),
        DROptimisticShrinkage(),
    )
}
"""Every estimator by its public name."""


def get_estimator(name: str) -> Estimator:
    """The estimator called ``name``; ValueError listing the known names otherwise."""
    if name not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {name!r}")
    return ESTIMATORS[name]


def check_lambda(estimator: Estimator, lambda_: float | None) -> float:
    """Validate ``lambda_`` for ``estimator``; return the value to use (inf = no clipping)."""
    if estimator.lambda_rule == "unused":
        if lambda_ is not None:
            raise ValueError(f"lambda_ is not used by estimator {estimator.name!r}; pass lambda_=None")
        return math.inf
    if lambda_ is None:
        if estimator.lambda_rule == "required":
            raise ValueError(f"estimator {estimator.name!r} requires lambda_ (a float >= 0, inf allowed)")
        return math.inf
    if isinstance(lambda_, bool) or not isinstance(lambda_, int | float | np.floating | np.integer):
        raise ValueError(f"lambda_ must be a number >= 0, got {lambda_!r}")
    lambda_ = float(lambda_)
    if math.isnan(lambda_) or lambda_ < 0:
        raise ValueError(f"lambda_ must be >= 0 (inf allowed), got {lambda_}")
    return lambda_
