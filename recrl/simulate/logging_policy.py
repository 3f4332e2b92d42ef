"""The simulator's logging policy ("sim-logging-v1") and Plackett-Luce slate sampling.

The logging policy is decent but beatable: it sees only observable history, and scores

    score(a) = pop_a + bonus * [category(a) == category(last clicked item)]
    beta(a)  = (1 - eps) * softmax(score / T)_a + eps / n_items

then draws a slate of K items without replacement from beta (Plackett-Luce). The propensity it
logs for an item shown at position k is the exact Plackett-Luce position marginal beta(a | x, k)
from ``recrl.policies.plackett_luce_marginals``. Its probabilities depend on the context only
through the last clicked category, so marginals are computed once per category and reused.
"""

from __future__ import annotations

import numpy as np

from recrl.policies import plackett_luce_marginals
from recrl.schema import HISTORY_TYPE_CODE
from recrl.simulate.world import World

LOGGING_POLICY_ID = "sim-logging-v1"
NO_CATEGORY = -1
"""``last_category`` of a user who has not clicked anything yet."""


def logging_probs(world: World, last_category: np.ndarray, available: np.ndarray | None = None) -> np.ndarray:
    """(B, n_items) beta(a | x) given each context's last clicked category (B,), -1 = none.

    ``available`` (n_items,) bool: items the shop offers (None = all); the others get probability 0
    and the exploration share is spread over the available ones.
    """
    cfg = world.config
    last_category = np.asarray(last_category, dtype=np.int64)
    if last_category.ndim != 1 or np.any((last_category < NO_CATEGORY) | (last_category >= cfg.n_categories)):
        raise ValueError(f"last_category must be a 1-d array of values in [-1, {cfg.n_categories - 1}]")
    same = world.item_category[None, :] == last_category[:, None]  # (B, n_items)
    logits = (world.item_popularity[None, :] + cfg.logging_category_bonus * same) / cfg.logging_temperature
    offered = np.ones(world.n_items, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    logits = np.where(offered[None, :], logits, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    soft /= soft.sum(axis=1, keepdims=True)
    return (1.0 - cfg.logging_epsilon) * soft + cfg.logging_epsilon * offered[None, :] / offered.sum()


def position_marginals(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, V, K) exact Plackett-Luce position marginals of ``probs`` (B, V), one row at a time:
    the third slot's closed form needs (V, V) memory per row (5,000 items: 400 MB)."""
    return np.concatenate([plackett_luce_marginals(probs[b : b + 1], slate_size) for b in range(len(probs))])


def sample_slates(rng: np.random.Generator, probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, K) Plackett-Luce draws without replacement from ``probs`` (B, n_items), first drawn first.

    Gumbel-top-k: the K largest log p_a + G_a (G i.i.d. standard Gumbel) are distributed exactly as
    K sequential draws without replacement (Kool et al., "Stochastic Beams and Where to Find Them",
    ICML 2019). Items with probability 0 are never drawn.
    """
    with np.errstate(divide="ignore"):
        keys = np.log(probs) + rng.gumbel(size=probs.shape)  # (B, n_items)
    top = np.argpartition(-keys, slate_size - 1, axis=1)[:, :slate_size]  # (B, K) unordered
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def last_clicked_category(
    world: World, history_item_ids: list[list[str]], history_types: list[list[int]]
) -> np.ndarray:
    """(B,) category of each history's newest feedback item (clicks, carts and purchases follow clicks)."""
    index = {item_id: i for i, item_id in enumerate(world.item_ids)}
    feedback = set(HISTORY_TYPE_CODE.values())
    out = np.full(len(history_item_ids), NO_CATEGORY, dtype=np.int64)
    for b, (items, types) in enumerate(zip(history_item_ids, history_types, strict=True)):
        for item_id, code in zip(reversed(items), reversed(types), strict=True):
            if code in feedback and item_id in index:
                out[b] = world.item_category[index[item_id]]
                break
    return out


class LoggingPolicy:
    """The logging policy as a ``policy_fn`` for ``online_value`` and as cached position marginals."""

    policy_id = LOGGING_POLICY_ID

    def __init__(self, world: World, available: np.ndarray | None = None) -> None:
        self.world = world
        contexts = np.arange(NO_CATEGORY, world.config.n_categories)  # (C + 1,)
        self._probs = logging_probs(world, contexts, available)  # (C + 1, n_items)
        self._marginals = position_marginals(self._probs, world.config.slate_size)  # (C + 1, n_items, K)

    def probs(self, last_category: np.ndarray) -> np.ndarray:
        """(B, n_items) beta(a | x) for last clicked categories (B,)."""
        return self._probs[np.asarray(last_category) - NO_CATEGORY]

    def position_marginals(self, last_category: np.ndarray) -> np.ndarray:
        """(B, n_items, K) exact beta(a | x, k) for last clicked categories (B,)."""
        return self._marginals[np.asarray(last_category) - NO_CATEGORY]

    def __call__(self, history_item_ids: list[list[str]], history_types: list[list[int]]) -> np.ndarray:
        return self.probs(last_clicked_category(self.world, history_item_ids, history_types))

    def serve(self, users: np.ndarray, last_category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``SlateServer.serve`` (``recrl.simulate.logs``): it reads only the last clicked category."""
        return self.probs(last_category), self.position_marginals(last_category)

    def observe(self, users: np.ndarray, slates: np.ndarray, clicks: np.ndarray, purchases: np.ndarray,
                click_ts: np.ndarray, purchase_ts: np.ndarray) -> None:
        """``SlateServer.observe``: nothing to keep (the simulator tracks the last clicked category)."""
