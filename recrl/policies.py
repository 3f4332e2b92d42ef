"""What a policy is, for every agent, baseline and estimator in recrl.

A policy scores every item of the vocabulary given a state (the user's recent history). Serving
draws a slate of K items without replacement from ``softmax(scores / temperature)`` (a
Plackett-Luce model), except with probability ``SERVING_EPSILON`` a uniformly random slate
(``explore``). Off-policy estimators need, for each logged decision, the probability that the policy
puts the logged item at the logged position: the *position marginal* ``pi(a | x, k)``,

    pi(a | x, k) = (1 - eps) PL_k(a | softmax(scores(x) / T)) + eps / V'      (V' servable items)

That is the same quantity the logging policy's propensity records (``propensity`` = beta(a | x, k)),
so importance weights pi/beta compare like with like.

Temperature ``GREEDY`` (0) is the limit T -> 0, served exactly at any scale of the scores: the K best-scored
items in order (ties to the lower index), with the same uniform share,

    pi(a | x, k) = (1 - eps) [a is ranked k-th by scores(x)] + eps / V'.

It is every policy's sharpest point: a softmax at a small T is near-greedy only for scores that spread
widely, and its slots 2..K fall to the numerical floor once the runner-up's weight underflows
(docs/agent.md, "Greedy as a serving point").

Vocabulary indices 0 (padding) and 1 (unknown) are never recommended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

PAD_INDEX = 0
UNKNOWN_INDEX = 1
N_RESERVED = 2
"""Vocabulary indices below this are reserved (padding, unknown) and never recommended."""

SERVING_EPSILON = 1e-3
"""Share of served slates drawn uniformly at random (``explore``): every item keeps probability >= eps / V'
at every slot, so logs a policy writes support off-policy evaluation later. Mixed into the slate, not
into the softmax: mixed into the softmax, a sharp policy's top item took nearly all of its mass and
slots 2..K were drawn from what was left, mostly the uniform share (at T = 0.2 the actor-critic's slots
2 and 3 were close to random; docs/agent.md)."""
GREEDY = 0.0
"""Serving temperature of the greedy slate: the top-K items by score, with the uniform share (module docstring)."""
SOFTMAX_FLOOR = 1e-100
"""Mass of a uniform floor in the Plackett-Luce weights (``softmax_probs``): numerical only, so no weight
underflows to 0 (a slot no item could fill) and every log-probability stays finite. It was 1e-6, to keep the
closed-form marginals well conditioned, and that floor was what a sharp policy's slots 2..K were drawn from
once its top item was taken, i.e. uniformly (docs/agent.md, "The softmax floor"). The closed forms now
divide only by sums of weights and subtract nothing (``exclusive_sums``), so they need no floor."""


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


def softmax_probs(scores: np.ndarray, temperature: float, floor: float = SOFTMAX_FLOOR) -> np.ndarray:
    """(B, V) Plackett-Luce weights a slate is drawn from, ``(1 - f) softmax(scores / T) + f / V'`` over the
    V' servable items (reserved indices 0), f = ``floor`` (``SOFTMAX_FLOOR`` for what is served)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits[:, :N_RESERVED] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    probs = (1.0 - floor) * probs
    probs[:, N_RESERVED:] += floor / (probs.shape[1] - N_RESERVED)
    return probs


def log_softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """(B, V) log softmax(scores / T) over the servable items, exact (no floor: -(s_max - s) / T - log Z);
    reserved indices -inf. The log of ``softmax_probs`` without its numerical floor."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits[:, :N_RESERVED] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def explore(marginals: np.ndarray, n_servable: int | None = None) -> np.ndarray:
    """Position marginals of the served slate: ``(1 - eps) marginals + eps / V'`` on the servable items.

    ``marginals`` (B, V) or (B, V, K): the Plackett-Luce marginals of ``softmax_probs``; the uniform slate's
    are 1 / V' at every slot. Vocabulary arrays (reserved indices stay 0) unless ``n_servable`` is given:
    then every column is servable and V' = ``n_servable`` (a simulator's items).
    """
    out = (1.0 - SERVING_EPSILON) * np.asarray(marginals, dtype=np.float64)
    if n_servable is None:
        out[:, N_RESERVED:] += SERVING_EPSILON / (out.shape[1] - N_RESERVED)
    else:
        out += SERVING_EPSILON / n_servable
    return out


def served_slot_probs(scores: np.ndarray, slots: np.ndarray, temperature: float, chunk: int = 2048) -> np.ndarray:
    """(B, V) pi(a | x_b, k_b) of the slate served at ``temperature`` for every item a at slot ``slots[b]``:
    Plackett-Luce of ``softmax_probs`` (the greedy slate at ``GREEDY``), with its uniform share (``explore``)."""
    slots = np.asarray(slots)
    if temperature == GREEDY:
        return explore(greedy_slot_probs(scores, slots))
    return np.concatenate([
        explore(plackett_luce_slot_marginals(softmax_probs(scores[s:s + chunk], temperature), slots[s:s + chunk]))
        for s in range(0, len(scores), chunk)
    ]) if len(scores) else np.zeros(np.shape(scores))


def served_slate_marginals(scores: np.ndarray, temperature: float, slate_size: int) -> np.ndarray:
    """(B, V, K) position marginals of the slate served at ``temperature``, every slot at once
    (``served_slot_probs`` per slot): ``slate_marginals`` with the uniform share."""
    return explore(slate_marginals(scores, temperature, slate_size))


def slate_marginals(scores: np.ndarray, temperature: float, slate_size: int) -> np.ndarray:
    """(B, V, K) position marginals of the Plackett-Luce slate of ``softmax_probs(scores / temperature)``,
    or of the greedy slate at ``GREEDY``, before the uniform share."""
    if temperature == GREEDY:
        scores = np.asarray(scores, dtype=np.float64)
        return np.stack([greedy_slot_probs(scores, np.full(len(scores), k)) for k in range(slate_size)], axis=2)
    return plackett_luce_marginals(softmax_probs(scores, temperature), slate_size)


def greedy_slot_probs(scores: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(B, V) one-hot of the item at rank ``slots[b]`` (0 = best) among the non-reserved items of
    ``scores[b]``; ties go to the lower index (a stable sort), as ``recrl.evaluate.ranking`` breaks none.
    The greedy slate without its uniform share."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores[:, N_RESERVED:], axis=1, kind="stable") + N_RESERVED  # (B, V - 2)
    rows = np.arange(len(scores))
    probs = np.zeros_like(scores)
    probs[rows, order[rows, slots]] = 1.0
    return probs


def plackett_luce_marginals(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, V, K) position marginals ``out[b, i, k]`` = P(item i at slot k) of a Plackett-Luce slate of K
    items drawn from ``probs``; each ``out[b, :, k]`` sums to 1. ``plackett_luce_slot_marginals`` per slot."""
    p = np.asarray(probs, dtype=np.float64)
    if not 1 <= slate_size <= MAX_SLATE_SIZE:
        raise ValueError(f"Plackett-Luce marginals are implemented for slate_size 1..{MAX_SLATE_SIZE}, got {slate_size}")
    return np.stack([plackett_luce_slot_marginals(p, np.full(p.shape[0], k)) for k in range(slate_size)], axis=2)


def slate_size_of(positions: np.ndarray) -> int:
    """K of a log: highest logged slot + 1 (1 for implicit sequences, whose slot is -1)."""
    return max(1, int(np.max(positions, initial=-1)) + 1)


def plackett_luce_slot_marginals(probs: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(B, V) P(item i at slot ``slots[b]``) of a Plackett-Luce slate drawn from ``probs[b]`` (B, V).

    The one implementation of the position marginal in recrl (the actor's torch helper and the
    evaluation call it). Slot 0 is p_i. Slot 1 sums over the item j drawn first, a_j = p_j / (1 - p_j):

        P(i at 1) = sum_{j != i} p_j p_i / (1 - p_j) = p_i sum_{j != i} a_j

    with 1 - p_j and the sum over j != i both summed over the other items (``exclusive_sums``): exact for
    a near-deterministic policy, whose 1 - p_top would cancel. Slot 2 sums over the pairs (j, l) drawn
    first, in O(V^2) (``_third_slot_marginals``, exact in the same way). Slots k >= 3 use the exponential
    race (Plackett-Luce = items arriving at independent Exp(p_j) times, the slate their arrival order):
    i is at slot k when exactly k others arrive before it,

        P(i at k) = int_0^inf p_i e^{-p_i t} P(exactly k of {j != i} arrived by t) dt,

    the inner probability Poisson-binomial in q_j = 1 - e^{-p_j t}. For every i at once it is
    sum_m F_m(i) G_{k-m}(i) of prefix (j < i) and suffix (j > i) Poisson-binomial tables of degree <= k,
    each built by the recurrence F_m <- F_m (1 - q_j) + F_{m-1} q_j: O(V k) per node, every term a
    probability (no overflow, no cancellation; a leave-one-out division would cancel). The integral is a
    trapezoid rule in s = log t, on which the integrand is analytic and decays fast at both ends, so the
    error falls geometrically with the step (``RACE_STEP``); the range runs from t where the t^{k+1}
    head is below 1e-15 to 45 / (1 - mass of the k likeliest items), past which every term has decayed
    by e^{-45}. Tested against brute-force enumeration of every slate (K = 5) to 1e-10.
    """
    p = np.asarray(probs, dtype=np.float64)
    slots = np.asarray(slots)
    if p.ndim != 2 or slots.shape != (p.shape[0],) or np.any((slots < 0) | (slots >= min(MAX_SLATE_SIZE, p.shape[1]))):
        raise ValueError(f"slots must be ({p.shape[0]},) values in 0..{min(MAX_SLATE_SIZE, p.shape[1]) - 1}")
    p = p / p.sum(axis=1, keepdims=True)
    out = p.copy()
    second = slots == 1
    if second.any():
        q = p[second]
        a = q / np.maximum(exclusive_sums(q), TINY)  # a_j = p_j / (1 - p_j), 1 - p_j summed over the others
        out[second] = np.clip(q * exclusive_sums(a), 0.0, 1.0)  # p_i sum_{j != i} a_j
    third = np.flatnonzero(slots == 2)
    third_rows = max(1, THIRD_SLOT_ELEMENTS // p.shape[1] ** 2)
    for start in range(0, len(third), third_rows):
        chunk = third[start:start + third_rows]
        out[chunk] = _third_slot_marginals(p[chunk])
    for k in range(3, MAX_SLATE_SIZE):
        rows = np.flatnonzero(slots == k)
        for start in range(0, len(rows), RACE_CHUNK):
            chunk = rows[start:start + RACE_CHUNK]
            out[chunk] = _race_marginals(p[chunk], k)
    return out


TINY = 1e-300
"""Lower bound of a mass divided by: only a row with fewer than k + 1 items of positive weight reaches it."""


def exclusive_sums(x: np.ndarray) -> np.ndarray:
    """``out[..., i] = sum_{j != i} x[..., j]`` over the last axis, as a prefix plus a suffix sum: nothing is
    subtracted, so the sum stays exact where x_i holds nearly all of the total (total - x_i would cancel)."""
    out = np.zeros_like(x)
    np.cumsum(x[..., :-1], axis=-1, out=out[..., 1:])  # sum_{j < i}
    suffix = np.zeros_like(x)
    np.cumsum(x[..., :0:-1], axis=-1, out=suffix[..., -2::-1])  # sum_{j > i}
    return out + suffix


def left_after_likeliest(p: np.ndarray, k: int) -> np.ndarray:
    """(B,) 1 - (mass of the k likeliest items) of each row, summed over the others (no cancellation)."""
    n_items = p.shape[1]
    return np.partition(p, n_items - k - 1, axis=1)[:, :n_items - k].sum(axis=1)


MAX_SLATE_SIZE = 8
"""Largest K whose marginals are computed (cost grows as K^2; accuracy tested to K = 5)."""
RACE_STEP = 0.2
"""Trapezoid step in log t of the exponential-race integral (below 1e-12 from the converged value at
V = 200, K = 5; 1e-9 at 0.25, 3e-6 at 0.35 on Dirichlet(0.1) probabilities)."""
THIRD_SLOT_ELEMENTS = 2**19
"""Elements of a third-slot batch's (rows, V, V) float64 array (4 MB): small batches stay in cache
(rows are independent: the values are the same for any batch size; timings in docs/agent.md)."""
RACE_CHUNK = 128
"""Rows per exponential-race batch."""
RACE_NODES = 64
"""Quadrature nodes per block: two (V, RACE_CHUNK, RACE_NODES, k + 1) float64 tables at once (~130 MB at
V = 200, k = 4), whatever the range of t."""


def _third_slot_marginals(p: np.ndarray) -> np.ndarray:
    """(b, V) P(i at slot 2), summing over the items j, l drawn into slots 0 and 1:

        P(i at 2) = sum_{j != i} sum_{l not in {i, j}} p_j p_l / (1 - p_j) p_i / (1 - p_j - p_l)
                  = sum_{j != i} a_j E[j, i],   E[j, i] = p_i (R_j - M[j, i]),   M[j, l] = p_l / D[j, l],

    R_j = sum_{l != j} M[j, l]. Nothing that is divided by or summed is a difference that cancels, however
    sharp p is. D[j, l] = 1 - p_j - p_l is (the mass of the others than j) - p_l, exact unless l holds
    nearly all of that mass: l the likeliest item t (then D[j, t] = (1 - p_t) - p_j is taken from t's
    side) or, for j = t, l the runner-up s (D[t, s] = D[s, t] = the other V - 2 weights summed). R_j -
    M[j, i] cancels only where M[j, i] is most of R_j, at the same entries (i = t, and j = t with i = s):
    those are summed without column i instead. The sum over j adds positive terms; p_i is multiplied in
    before a_j (p_i <= D[j, l], so E <= 1 and no product overflows).
    """
    rows, idx = np.arange(p.shape[0]), np.arange(p.shape[1])
    rest = exclusive_sums(p)  # (b, V) 1 - p_j
    a = p / np.maximum(rest, TINY)  # (b, V)
    likeliest = np.argsort(-p, axis=1, kind="stable")[:, :2]
    t, s = likeliest[:, 0], likeliest[:, 1]
    m = rest[:, :, None] - p[:, None, :]  # (b, V, V) D[j, l]; one large array, reused in place below
    m[rows, :, t] = rest[rows, t][:, None] - p  # D[j, t] = (1 - p_t) - p_j
    m[rows, t, s] = m[rows, s, t] = left_after_likeliest(p, 2)
    np.maximum(m, TINY, out=m)
    np.divide(p[:, None, :], m, out=m)  # M[j, l]
    m[:, idx, idx] = 0.0
    row = m.sum(axis=2)  # (b, V) R_j
    at_t = m[rows, :, t]  # (b, V) M[j, t], a copy
    m[rows, :, t] = 0.0
    exact_without_t = m.sum(axis=2)  # (b, V) sum_{l not in {j, t}} M[j, l]
    of_t = m[rows, t, :]  # (b, V) M[t, l], column t already 0
    of_t[rows, s] = 0.0
    without_s_in_t = of_t.sum(axis=1)  # (b,) sum_{l not in {t, s}} M[t, l]
    m[rows, :, t] = at_t
    np.subtract(row[:, :, None], m, out=m)  # R_j - M[j, i]
    m[rows, :, t] = exact_without_t
    m[rows, t, s] = without_s_in_t
    m[:, idx, idx] = 0.0  # j = i is not drawn before i
    m *= p[:, None, :]  # E[j, i]
    return np.clip(np.einsum("bj,bji->bi", a, m), 0.0, 1.0)


def _race_marginals(p: np.ndarray, k: int) -> np.ndarray:
    """(b, V) P(i at slot k >= 3) by the exponential-race integral (see ``plackett_luce_slot_marginals``)."""
    slowest = max(float(left_after_likeliest(p, k).min()), TINY)  # min over S of 1 - p(S), |S| = k
    s_low = np.log(1e-15 * math.factorial(k + 1)) / (k + 1)
    s = np.arange(s_low, np.log(45.0 / slowest) + RACE_STEP, RACE_STEP)  # (n,) nodes in s = log t
    total = np.zeros_like(p)
    for start in range(0, len(s), RACE_NODES):  # nodes are independent: blocks bound the memory
        t = np.exp(s[start:start + RACE_NODES])
        x = p[:, None, :] * t[None, :, None]  # (b, n, V): p_j t
        arrived, waiting = -np.expm1(-x), np.exp(-x)  # P(j arrived by t), P(j not yet)
        n_items = p.shape[1]
        # prefix[i, ..., m] = P(exactly m of the items j < i arrived by t); suffix the same for j > i.
        prefix = np.empty((n_items,) + x.shape[:2] + (k + 1,))  # (V, b, n, k + 1)
        suffix = np.empty_like(prefix)
        for table, items in ((prefix, range(n_items)), (suffix, range(n_items - 1, -1, -1))):
            count = np.zeros(x.shape[:2] + (k + 1,))
            count[..., 0] = 1.0
            for i in items:
                table[i] = count
                grown = count * waiting[:, :, i, None]
                grown[..., 1:] += count[..., :-1] * arrived[:, :, i, None]
                count = grown
        others_before = np.einsum("vbnm,vbnm->bnv", prefix, suffix[..., ::-1])  # sum_m F_m G_{k-m}: (b, n, V)
        total += (waiting * others_before * (t * RACE_STEP)[None, :, None]).sum(axis=1)  # e^{-p_i t} P dt, dt = t ds
    return np.clip(p * total, 0.0, 1.0)
