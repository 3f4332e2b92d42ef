"""How simulated users respond to slates: the one implementation of the dynamics.

Position-based click model (PBM; Craswell et al., "An experimental comparison of click
position-bias models", WSDM 2008), so each position's click is an independent Bernoulli and
per-position off-policy estimators are unbiased:

    r(x, a)              = sigmoid(b0 + <u, e_a> + history_weight * <h, e_a> + pop_a)
    P(click at k)        = position_bias[k] * r(x, a)
    P(purchase | click)  = sigmoid(c0 + c1 * <u, e_a> - c2 * price_a)
    R(x, a, k)           = position_bias[k] * r(x, a) * (w_click + w_purchase * P(purchase | click))

The context x is (user, h): long-term taste u and short-term interest h, an exponential moving
average of the vectors of clicked items, h <- decay * h + (1 - decay) * e_a. The log writer, the
gymnasium environment and the ground-truth API all call these functions, so they agree exactly.
"""

from __future__ import annotations

import numpy as np

from recrl.simulate.world import World


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _item_dot(vectors: np.ndarray, world: World, items: np.ndarray | None) -> np.ndarray:
    """<v_b, e_a> for rows v (B, d): over all items (B, n_items), or over ``items`` (B, K) only."""
    if items is None:
        return vectors @ world.item_vectors_t  # (B, n_items)
    return (vectors[:, None, :] * world.item_vectors[items]).sum(axis=2)  # (B, K)


def _item_values(values: np.ndarray, items: np.ndarray | None) -> np.ndarray:
    return values[None, :] if items is None else values[items]


def attraction(
    world: World, users: np.ndarray, interest: np.ndarray, items: np.ndarray | None = None
) -> np.ndarray:
    """r(x, a) for users (B,) with short-term interests (B, d): (B, n_items), or (B, K) for ``items``."""
    cfg = world.config
    taste = _item_dot(world.user_taste[users], world, items)
    recent = _item_dot(interest, world, items)
    return sigmoid(
        cfg.attraction_bias + taste + cfg.history_weight * recent + _item_values(world.item_popularity, items)
    )


def purchase_probability(world: World, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
    """P(purchase | click) of users (B,): (B, n_items), or (B, K) for ``items``; taste and price only."""
    cfg = world.config
    taste = _item_dot(world.user_taste[users], world, items)
    price = _item_values(world.item_price, items)
    return sigmoid(cfg.purchase_bias + cfg.purchase_taste_weight * taste - cfg.purchase_price_weight * price)


def slot_value(
    world: World, users: np.ndarray, interest: np.ndarray, reward_click: float, reward_purchase: float
) -> np.ndarray:
    """(B, n_items) q(x, a) = r(x, a) (w_click + w_purchase P(purchase | click)): R at an examined slot."""
    r = attraction(world, users, interest)
    return r * (reward_click + reward_purchase * purchase_probability(world, users))


def expected_rewards(
    world: World, users: np.ndarray, interest: np.ndarray, reward_click: float, reward_purchase: float
) -> np.ndarray:
    """(B, n_items, K) R(x, a, k) = position_bias[k] q(x, a) for every item and position."""
    q = slot_value(world, users, interest, reward_click, reward_purchase)  # (B, n_items)
    bias = np.asarray(world.config.position_bias, dtype=np.float64)  # (K,)
    return q[:, :, None] * bias[None, None, :]


def oracle_slates(slot_values: np.ndarray, slate_size: int) -> np.ndarray:
    """(B, K) the items of highest q(x, a), best first: optimal for every position under the PBM."""
    top = np.argpartition(-slot_values, slate_size - 1, axis=1)[:, :slate_size]  # (B, K) unordered
    order = np.argsort(-np.take_along_axis(slot_values, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def respond(
    world: World, rng: np.random.Generator, users: np.ndarray, interest: np.ndarray, slates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the clicks (B, K) and purchases (B, K) of users shown ``slates`` (B, K) item indices."""
    bias = np.asarray(world.config.position_bias, dtype=np.float64)  # (K,)
    r = attraction(world, users, interest, slates)  # (B, K)
    p_buy = purchase_probability(world, users, slates)  # (B, K)
    clicks = rng.random(slates.shape) < bias[None, :] * r
    purchases = clicks & (rng.random(slates.shape) < p_buy)
    return clicks, purchases


def update_interest(world: World, interest: np.ndarray, slates: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """(B, d) h after the clicks of one slate, applied in position order (the order users click in)."""
    decay = world.config.history_decay
    h = interest.copy()
    for k in range(slates.shape[1]):
        clicked = clicks[:, k]
        h[clicked] = decay * h[clicked] + (1.0 - decay) * world.item_vectors[slates[clicked, k]]
    return h


def continue_probability(world: World, clicked_any: np.ndarray) -> np.ndarray:
    """(B,) probability that a session goes on after a request; a click removes part of the stop chance.

    Without clicks sessions are geometric with mean ``mean_session_requests``.
    """
    cfg = world.config
    stop = 1.0 / cfg.mean_session_requests
    stop_after = np.where(clicked_any, stop * (1.0 - cfg.click_continue_boost), stop)
    return 1.0 - stop_after
