"""What a policy is, for every agent, baseline and estimator in recrl.

A policy scores every item of the vocabulary given a state (the user's recent history). Serving
draws a slate of K items without replacement from ``softmax(scores / temperature)`` (a
Plackett-Luce model). Off-policy estimators need, for each logged decision, the probability that
the policy puts the logged item at the logged position: the Plackett-Luce *position marginal*
``pi(a | x, k)``. That is the same quantity the logging policy's propensity records
(``propensity`` = beta(a | x, k)), so importance weights pi/beta compare like with like.

Vocabulary indices 0 (padding) and 1 (unknown) are never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

PAD_INDEX = 0
UNKNOWN_INDEX = 1
N_RESERVED = 2
"""Vocabulary indices below this are reserved (padding, unknown) and never recommended."""

SERVING_EPSILON = 1e-3
"""Uniform exploration mixed into every served policy: every item keeps probability >= eps / V, so
logs it writes support off-policy evaluation later, and the Plackett-Luce marginals stay well
conditioned (a one-hot softmax would make 1 - p_j cancel to rounding noise)."""


@dataclass(frozen=True)
class StateBatch:
    """A batch of states as fixed-length arrays (what ``recrl.states.export`` yields).

    history_items: (B, N) int64 vocabulary indices, oldest to newest, left-padded with 0.
    history_types: (B, N) int64 ``HISTORY_TYPE_CODE`` of each history event, 0 = padding.
    user_ids: (B,) object array of user ids (for baselines that keep per-user factors).
    """

    history_items: np.ndarray
    history_types: np.ndarray
    user_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.history_items.shape[0])

    def take(self, index: np.ndarray | slice) -> StateBatch:
        return StateBatch(self.history_items[index], self.history_types[index], self.user_ids[index])


class Policy(Protocol):
    """Anything that scores items for states. Higher score = more likely to be shown."""

    name: str
    temperature: float

    def item_scores(self, states: StateBatch) -> np.ndarray:
        """(B, V) float scores over the vocabulary; reserved indices are ignored."""
        ...


def softmax_probs(scores: np.ndarray, temperature: float) -> np.ndarray:
    """(B, V) served probabilities ``(1 - eps) softmax(scores / T) + eps / (V - 2)``, reserved indices at 0."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits[:, :N_RESERVED] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    probs = (1.0 - SERVING_EPSILON) * probs
    probs[:, N_RESERVED:] += SERVING_EPSILON / (probs.shape[1] - N_RESERVED)
    return probs


def plackett_luce_marginals(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """Exact position marginals of a Plackett-Luce slate drawn from ``probs``.

    Returns ``(B, V, K)`` with ``out[b, i, k]`` = P(item i is at position k), each ``out[b, :, k]``
    summing to 1. Summing over the items j, l drawn into the slots above i, with ``a_j = p_j / (1 - p_j)``:

        P(i at 0) = p_i
        P(i at 1) = sum_{j != i} p_j * p_i / (1 - p_j)                      = p_i * sum_{j != i} a_j
        P(i at 2) = sum_{j != i} sum_{l not in {i, j}} p_j * p_l / (1 - p_j) * p_i / (1 - p_j - p_l)
                  = p_i * sum_{j != i} a_j * sum_{l not in {i, j}} M[j, l],  M[j, l] = p_l / (1 - p_j - p_l)

    Exact for K <= 3 (the OBD and simulator slates); larger K has no closed form of this size.
    """
    if slate_size < 1 or slate_size > 3:
        raise ValueError(f"exact Plackett-Luce marginals are implemented for slate_size 1..3, got {slate_size}")
    p = np.asarray(probs, dtype=np.float64)
    out = np.zeros(p.shape + (slate_size,), dtype=np.float64)
    out[:, :, 0] = p
    if slate_size == 1:
        return out
    # Mass left after j is drawn, summed over the other items: 1 - p_j would cancel to noise when j
    # holds nearly all the mass (near-deterministic policies).
    prefix = np.cumsum(p, axis=1) - p  # (B, V): sum_{l < j} p_l
    suffix = np.cumsum(p[:, ::-1], axis=1)[:, ::-1] - p  # (B, V): sum_{l > j} p_l
    rest_j = np.clip(prefix + suffix, 1e-300, None)
    a = p / rest_j  # (B, V)
    out[:, :, 1] = np.clip(p * (a.sum(axis=1, keepdims=True) - a), 0.0, 1.0)
    if slate_size == 2:
        return out
    # M[b, j, l] = p_l / (1 - p_j - p_l) for l != j (j drawn first, l second).
    rest_jl = np.clip(1.0 - p[:, :, None] - p[:, None, :], 1e-12, None)  # (B, V, V)
    m = p[:, None, :] / rest_jl
    idx = np.arange(p.shape[1])
    m[:, idx, idx] = 0.0
    row = m.sum(axis=2)  # (B, V): R_j = sum_l M[j, l]
    total = (a * row).sum(axis=1, keepdims=True)  # S = sum_j a_j R_j
    col = np.einsum("bj,bji->bi", a, m)  # (a^T M)_i = sum_j a_j M[j, i]
    # The difference cancels to about -1e-11 for near-deterministic policies: clip float error at 0.
    out[:, :, 2] = np.clip(p * (total - a * row - col), 0.0, 1.0)
    return out


def slate_size_of(positions: np.ndarray) -> int:
    """K of a log: highest logged slot + 1 (1 for implicit sequences, whose slot is -1)."""
    return max(1, int(np.max(positions, initial=-1)) + 1)


def plackett_luce_slot_marginals(probs: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(B, V) P(item at slot ``slots[b]``) for each row's own slot (0..2); the formulas of
    ``plackett_luce_marginals``, with the O(V^2) third-slot work done only for rows at slot 2."""
    p = np.asarray(probs, dtype=np.float64)
    slots = np.asarray(slots)
    if slots.shape != (p.shape[0],) or np.any((slots < 0) | (slots > 2)):
        raise ValueError(f"slots must be ({p.shape[0]},) values in 0..2")
    out = p.copy()
    second = slots == 1
    if second.any():
        out[second] = plackett_luce_marginals(p[second], 2)[:, :, 1]
    third = slots == 2
    if third.any():
        out[third] = plackett_luce_marginals(p[third], 3)[:, :, 2]
    return out
