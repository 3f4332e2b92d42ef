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
K = 5 over 300 items takes about 2 ms per row (rows batched), accurate to about 1e-12 (tested against
brute-force enumeration and the K <= 3 closed forms).
"""

from __future__ import annotations

import numpy as np

STEP = 0.25
"""Trapezoidal step in s = log t (0.3 still gives 1e-12 against the K = 3 closed form, 0.4 gives 1e-9)."""
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


def plackett_luce_marginals_any(
    probs: np.ndarray, slate_size: int, max_bytes: int = 200_000_000
) -> np.ndarray:
    """(B, V, K) P(item i at slot k) of a Plackett-Luce slate of ``slate_size`` drawn from ``probs`` (B, V).

    Items with probability 0 get 0 (they are never drawn while others remain); rows must have at least
    ``slate_size`` items with positive probability. Rows are done in chunks whose working arrays stay
    under about ``max_bytes``.
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
    n_nodes = len(_nodes(float(p[p > 0].min()))[0])
    per_row = 2 * (p.shape[1] + 1) * n_nodes * slate_size * 8
    chunk = max(1, max_bytes // per_row)
    return np.concatenate([_chunk_marginals(p[s : s + chunk], slate_size) for s in range(0, len(p), chunk)])


def _chunk_marginals(p: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, V, K) marginals of rows ``p`` (B, V) on one node grid."""
    n_rows, n_items = p.shape
    k_max = slate_size
    t, weight = _nodes(float(p[p > 0].min()))  # (N,)
    pt = p[:, :, None] * t[None, None, :]  # (B, V, N)
    rang = np.exp(-pt)  # P(T_j > t): clock j has not rung
    rung = -np.expm1(-pt)  # P(T_j <= t), precise for small p t
    # suffix[j]: truncated polynomial prod_{l >= j} (rang_l + z rung_l), coefficients 0..K-1.
    suffix = np.zeros((n_items + 1, n_rows, len(t), k_max))
    suffix[n_items, :, :, 0] = 1.0
    for j in range(n_items - 1, -1, -1):
        suffix[j] = suffix[j + 1] * rang[:, j, :, None]
        suffix[j, :, :, 1:] += suffix[j + 1, :, :, :-1] * rung[:, j, :, None]
    out = np.zeros((n_rows, n_items, k_max))
    prefix = np.zeros((n_rows, len(t), k_max))  # prod_{l < i}, built as i moves right
    prefix[:, :, 0] = 1.0
    density = p[:, :, None] * rang * weight[None, None, :]  # (B, V, N) p_i e^{-p_i t} dt
    for i in range(n_items):
        # [z^k] prod_{j != i}: the convolution of prefix and suffix[i + 1], truncated at K - 1.
        others = np.zeros((n_rows, len(t), k_max))
        for m in range(k_max):
            others[:, :, m:] += prefix[:, :, m : m + 1] * suffix[i + 1, :, :, : k_max - m]
        out[:, i, :] = np.einsum("bn,bnk->bk", density[:, i, :], others)
        shifted = prefix[:, :, :-1] * rung[:, i, :, None]
        prefix *= rang[:, i, :, None]
        prefix[:, :, 1:] += shifted
    return out


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
