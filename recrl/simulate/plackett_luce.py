"""Plackett-Luce position marginals for any slate size K, by a one-dimensional integral.

``recrl.policies.plackett_luce_marginals`` has closed forms for K <= 3 only (and its third slot costs
O(V^2) memory per row). For wide slates this module uses the exponential-race view of Plackett-Luce
(Luce 1959; Yellott 1977): give item j an exponential clock T_j ~ Exp(p_j); the order in which the
clocks ring is exactly a Plackett-Luce draw without replacement from p. So item i sits at slot k when
exactly k other clocks ring before T_i:

    P(i at k) = int_0^inf p_i e^{-p_i t} [z^k] prod_{j != i} (e^{-p_j t} + z (1 - e^{-p_j t})) dt

The coefficient [z^k] is a Poisson-binomial probability; the product over j != i is built from prefix
and suffix products over the items (every term positive, so no cancelling subtraction), truncated at
degree K - 1. With t = e^s the integrand decays exponentially at both ends of s, and the trapezoidal
rule on such integrands converges geometrically in the step (Trefethen & Weideman, "The exponentially
convergent trapezoidal rule", SIAM Review 2014). Cost O(n_nodes V K^2) per row, memory O(n_nodes V K):
K = 5 over a few hundred items takes milliseconds per row, accurate to about 1e-10 (tested against
brute-force enumeration and the K <= 3 closed forms).
"""

from __future__ import annotations

import numpy as np

STEP = 0.05
"""Trapezoidal step in s = log t."""
TAIL = 40.0
"""The integral is cut where p_i t > TAIL for the smallest positive p_i (e^-40 ~ 4e-18 left out)."""
S_MIN = -36.0
"""Lower end of s: the mass below t = e^-36 is at most e^-36 relative to p_i."""


def _nodes(p_min: float) -> tuple[np.ndarray, np.ndarray]:
    """(t (N,), weights (N,)) of the trapezoidal rule in s = log t, weights = STEP * t."""
    s_max = np.log(TAIL / p_min)
    s = np.arange(S_MIN, s_max + STEP, STEP)
    t = np.exp(s)
    return t, STEP * t


def plackett_luce_marginals_any(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, V, K) P(item i at slot k) of a Plackett-Luce slate of ``slate_size`` drawn from ``probs`` (B, V).

    Items with probability 0 get 0 (they are never drawn while others remain); rows must have at least
    ``slate_size`` items with positive probability.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (B, V), got shape {p.shape}")
    if slate_size < 1 or slate_size > p.shape[1]:
        raise ValueError(f"slate_size must be in 1..{p.shape[1]}, got {slate_size}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-8):
        raise ValueError("probs must be non-negative rows that sum to 1")
    if np.any((p > 0).sum(axis=1) < slate_size):
        raise ValueError(f"every row needs at least {slate_size} items with positive probability")
    out = np.zeros(p.shape + (slate_size,))
    for b in range(p.shape[0]):
        out[b] = _row_marginals(p[b], slate_size)
    return out


def _row_marginals(p: np.ndarray, slate_size: int) -> np.ndarray:
    """(V, K) marginals of one row ``p`` (V,)."""
    n_items, k_max = len(p), slate_size
    t, weight = _nodes(float(p[p > 0].min()))  # (N,)
    rang = np.exp(-p[:, None] * t[None, :])  # (V, N) P(T_j > t): clock j has not rung
    rung = -np.expm1(-p[:, None] * t[None, :])  # (V, N) P(T_j <= t), precise for small p t
    # prefix[j]: truncated polynomial prod_{l < j} (rang_l + z rung_l), coefficients 0..K-1.
    prefix = np.zeros((n_items + 1, len(t), k_max))
    prefix[0, :, 0] = 1.0
    for j in range(n_items):
        prefix[j + 1] = prefix[j] * rang[j, :, None]
        prefix[j + 1, :, 1:] += prefix[j, :, :-1] * rung[j, :, None]
    suffix = np.zeros((n_items + 1, len(t), k_max))  # suffix[j]: prod_{l >= j}
    suffix[n_items, :, 0] = 1.0
    for j in range(n_items - 1, -1, -1):
        suffix[j] = suffix[j + 1] * rang[j, :, None]
        suffix[j, :, 1:] += suffix[j + 1, :, :-1] * rung[j, :, None]
    # others[i, n, k] = [z^k] prod_{j != i}: the convolution of prefix[i] and suffix[i + 1].
    others = np.zeros((n_items, len(t), k_max))
    for m in range(k_max):
        others[:, :, m:] += prefix[:n_items, :, m : m + 1] * suffix[1:, :, : k_max - m]
    density = p[:, None] * rang * weight[None, :]  # (V, N) p_i e^{-p_i t} dt
    return np.einsum("in,ink->ik", density, others)


def brute_force_marginals(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(V, K) marginals of one row ``probs`` (V,) by enumerating every ordered slate (tiny V only)."""
    from itertools import permutations

    p = np.asarray(probs, dtype=np.float64)
    out = np.zeros((len(p), slate_size))
    for slate in permutations(range(len(p)), slate_size):
        prob, left = 1.0, 1.0
        for item in slate:
            if left <= 0:
                prob = 0.0
                break
            prob *= p[item] / left
            left -= p[item]
        for k, item in enumerate(slate):
            out[item, k] += prob
    return out
