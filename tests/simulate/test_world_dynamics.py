"""The world is deterministic in the seed and the user model follows its formulas."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recrl.config import SimConfig
from recrl.schema import ITEM_SCHEMA
from recrl.simulate import dynamics
from recrl.simulate.world import CATEGORY_WORDS, build_world

CONFIG = dataclasses.replace(SimConfig(), n_users=300, seed=11)


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b = build_world(CONFIG), build_world(CONFIG)
    other = build_world(dataclasses.replace(CONFIG, seed=12))
    for name in ("item_vectors", "item_popularity", "item_price", "user_taste", "item_category"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.item_titles == b.item_titles
    assert not np.allclose(a.item_vectors, other.item_vectors)


def test_catalogue_ids_titles_and_categories() -> None:
    world = build_world(CONFIG)
    assert world.item_ids[0] == "item_000" and world.item_ids[-1] == "item_199"
    assert world.user_ids[0] == "user_0000" and len(world.user_ids) == 300
    assert np.bincount(world.item_category, minlength=CONFIG.n_categories).min() == 200 // CONFIG.n_categories
    for title, category in zip(world.item_titles, world.item_category, strict=True):
        _, descriptors, nouns = CATEGORY_WORDS[category]
        assert title.split()[0] in descriptors and any(title.endswith(noun) for noun in nouns)
    table = world.items_table()
    assert table.schema == ITEM_SCHEMA and table.num_rows == 200


def test_users_prefer_their_favourite_categories() -> None:
    world = build_world(CONFIG)
    affinity = world.user_taste @ world.item_vectors.T  # (U, I)
    favourite = world.item_category[None, :] == world.user_favourites[:, :1]
    assert affinity[favourite].mean() > 1.0 > 0.3 > affinity[~favourite].mean()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n_items": 0}, "n_items"),
        ({"n_categories": 13}, "n_categories"),
        ({"slate_size": 11, "position_bias": (1.0,) * 11}, "slate_size"),
        ({"position_bias": (1.0, 0.5)}, "position_bias"),
        ({"position_bias": (1.0, 0.5, 1.5)}, "position_bias"),
        ({"daily_active_rate": 1.5}, "daily_active_rate"),
        ({"mean_session_requests": 0.5}, "mean_session_requests"),
        ({"logging_temperature": 0.0}, "logging_temperature"),
        ({"n_items": 5}, "n_items"),
    ],
)
def test_bad_config_names_the_field(change: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_world(dataclasses.replace(CONFIG, **change))


def test_expected_rewards_follow_the_formula() -> None:
    world = build_world(CONFIG)
    rng = np.random.default_rng(0)
    users = np.array([3, 17])
    interest = rng.normal(scale=0.5, size=(2, CONFIG.latent_dim))
    rewards = dynamics.expected_rewards(world, users, interest, 0.2, 1.0)  # (2, I, K)
    b, a, k = 1, 42, 2
    u, e = world.user_taste[users[b]], world.item_vectors[a]
    r = 1 / (
        1
        + np.exp(
            -(
                CONFIG.attraction_bias
                + u @ e
                + CONFIG.history_weight * interest[b] @ e
                + world.item_popularity[a]
            )
        )
    )
    buy = 1 / (
        1
        + np.exp(
            -(
                CONFIG.purchase_bias
                + CONFIG.purchase_taste_weight * u @ e
                - CONFIG.purchase_price_weight * world.item_price[a]
            )
        )
    )
    assert rewards[b, a, k] == pytest.approx(CONFIG.position_bias[k] * r * (0.2 + buy), rel=1e-12)
    slate = np.array([[a, 7, 9]])
    np.testing.assert_allclose(
        dynamics.attraction(world, users[1:], interest[1:], slate)[0, 0], r, rtol=1e-12
    )


def test_history_matters_recent_clicks_raise_their_category() -> None:
    world = build_world(CONFIG)
    user = np.array([0])
    liked = int(world.user_favourites[0, 0])
    other = (liked + 1) % CONFIG.n_categories
    h = np.zeros((1, CONFIG.latent_dim))
    clicked_other = np.flatnonzero(world.item_category == other)[:3]
    for item in clicked_other:  # three clicks on items of another category
        h = dynamics.update_interest(world, h, np.array([[item]]), np.array([[True]]))
    before = dynamics.attraction(world, user, np.zeros((1, CONFIG.latent_dim)))[0]
    after = dynamics.attraction(world, user, h)[0]
    in_other = world.item_category == other
    assert (after[in_other] / before[in_other]).mean() > 2.0
    assert (
        dynamics.oracle_slates(after[None, :], 3)[0].tolist()
        != dynamics.oracle_slates(before[None, :], 3)[0].tolist()
    )


def test_update_interest_is_the_ema_in_position_order() -> None:
    world = build_world(CONFIG)
    h0 = np.ones((1, CONFIG.latent_dim))
    slate = np.array([[5, 6, 7]])
    h = dynamics.update_interest(world, h0, slate, np.array([[True, False, True]]))
    d = CONFIG.history_decay
    expected = d * (d * h0[0] + (1 - d) * world.item_vectors[5]) + (1 - d) * world.item_vectors[7]
    np.testing.assert_allclose(h[0], expected, rtol=1e-12)
    np.testing.assert_array_equal(h0, np.ones((1, CONFIG.latent_dim)))  # input untouched


def test_clicks_follow_the_position_based_model() -> None:
    world = build_world(CONFIG)
    n = 40_000
    users = np.full(n, 5)
    interest = np.tile(
        world.item_vectors[world.user_favourites[5, 0] == world.item_category][:1] * 0.5, (n, 1)
    )
    slates = np.tile(
        dynamics.oracle_slates(dynamics.slot_value(world, users[:1], interest[:1], 0.2, 1.0), 3), (n, 1)
    )
    clicks, purchases = dynamics.respond(world, np.random.default_rng(3), users, interest, slates)
    p_click = (
        np.asarray(CONFIG.position_bias) * dynamics.attraction(world, users[:1], interest[:1], slates[:1])[0]
    )
    p_buy = p_click * dynamics.purchase_probability(world, users[:1], slates[:1])[0]
    for observed, p in ((clicks.mean(axis=0), p_click), (purchases.mean(axis=0), p_buy)):
        assert np.all(np.abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n))  # 4 sigma per position
    assert not np.any(purchases & ~clicks)


def test_sessions_without_clicks_are_geometric_with_the_configured_mean() -> None:
    world = build_world(CONFIG)
    p_go_on = dynamics.continue_probability(world, np.array([False, True]))
    assert 1 / (1 - p_go_on[0]) == pytest.approx(CONFIG.mean_session_requests)
    assert p_go_on[1] > p_go_on[0]
