"""Validated per-row inputs of the off-policy estimators.

Every estimator sees the same five per-row arrays of one logged dataset of ``n`` decisions; checking
them once here gives every estimator the same clear errors (each names the offending argument).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoggedRows:
    """Per-row arrays of ``n`` logged decisions, all ``(n,)`` float64.

    reward: r_i >= 0, the observed reward of the logged action.
    pscore: p_i in (0, 1], the logging policy's probability of the logged action at its position.
    action_prob: pi(a_i | x_i, k_i) in [0, 1], the evaluated policy's probability of the same.
    q_logged: q_hat(x_i, a_i, k_i), the reward model at the logged action (None if not given).
    q_policy: sum_a pi(a | x_i, k_i) q_hat(x_i, a, k_i), the model's value of the policy (None if not given).
    """

    reward: np.ndarray
    pscore: np.ndarray
    action_prob: np.ndarray
    q_logged: np.ndarray | None = None
    q_policy: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.reward.shape[0])

    @property
    def weight(self) -> np.ndarray:
        """Importance weights w_i = pi(a_i | x_i, k_i) / p_i, shape (n,)."""
        return self.action_prob / self.pscore


def _as_1d(values: object, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite, got {array[bad]} at row {bad}")
    return array


def _check_range(array: np.ndarray, name: str, ok: np.ndarray, rule: str) -> None:
    if not np.all(ok):
        bad = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{name} must be {rule}, got {array[bad]} at row {bad}")


def validate_rows(
    *,
    reward: object,
    pscore: object,
    action_prob: object,
    q_logged: object | None = None,
    q_policy: object | None = None,
) -> LoggedRows:
    """Check and convert the per-row inputs; raise ``ValueError`` naming the first bad argument.

    Rules: all 1-D, finite, the same length n >= 1; reward >= 0; 0 < pscore <= 1;
    0 <= action_prob <= 1. q_logged and q_policy, when given, are finite (their range is the
    reward model's business, e.g. a regressor may predict slightly below 0).
    """
    reward_ = _as_1d(reward, "reward")
    if reward_.shape[0] == 0:
        raise ValueError("reward is empty: an estimate needs at least one logged row")
    arrays = {"pscore": _as_1d(pscore, "pscore"), "action_prob": _as_1d(action_prob, "action_prob")}
    if q_logged is not None:
        arrays["q_logged"] = _as_1d(q_logged, "q_logged")
    if q_policy is not None:
        arrays["q_policy"] = _as_1d(q_policy, "q_policy")
    for name, array in arrays.items():
        if array.shape[0] != reward_.shape[0]:
            raise ValueError(f"{name} has {array.shape[0]} rows but reward has {reward_.shape[0]} (length mismatch)")
    _check_range(reward_, "reward", reward_ >= 0.0, ">= 0")
    pscore_ = arrays["pscore"]
    _check_range(pscore_, "pscore", (pscore_ > 0.0) & (pscore_ <= 1.0), "in (0, 1]")
    action_prob_ = arrays["action_prob"]
    _check_range(action_prob_, "action_prob", (action_prob_ >= 0.0) & (action_prob_ <= 1.0), "in [0, 1]")
    return LoggedRows(reward_, pscore_, action_prob_, arrays.get("q_logged"), arrays.get("q_policy"))


def effective_sample_size(weight: np.ndarray) -> float:
    """Kish's effective sample size of importance weights: ``(sum_i w_i)^2 / sum_i w_i^2``.

    Equals n when all weights are equal and falls towards 1 as one weight dominates; 0 when every
    weight is 0 (the evaluated policy never takes a logged action). Kish, "Survey Sampling", 1965.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"weight must be a 1-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weight must be finite and >= 0")
    sum_sq = float(np.dot(w, w))
    return float(w.sum()) ** 2 / sum_sq if sum_sq > 0 else 0.0
