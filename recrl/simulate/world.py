"""The simulated shop: a catalogue of items and a population of users, rebuilt from one seed.

Items cluster by category in a latent space: item ``a`` of category ``c`` has vector
``e_a = centre_c + noise``. A user's long-term taste ``u`` sits near the (normalised) sum of one or
two favourite category centres, so ``<u, e_a>`` is large for items of the favourite categories and
near zero elsewhere. Everything here is a pure function of ``SimConfig``: the same seed gives the
same world, which is what lets the evaluation stage recompute true rewards long after the logs were
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from recrl.config import SimConfig
from recrl.schema import ITEM_SCHEMA

CENTRE_NORM = 1.5
"""Norm of every category centre: <u, e> is about CENTRE_NORM**2 for a favourite category."""
ITEM_NOISE_STD = 0.25
"""Per-dimension spread of items around their category centre."""
USER_NOISE_STD = 0.2
"""Per-dimension spread of users' tastes around their favourite centres."""
PRICE_LOG_STD = 0.5
"""Items' price levels are log-normal around 1 with this log-scale spread."""
"""Largest slate the simulator writes; K > 3 uses the integral Plackett-Luce marginals of
``recrl.policies.plackett_luce_marginals`` for the logged propensities."""

COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "blue",
    "red",
    "green",
    "grey",
    "beige",
    "navy",
    "pink",
    "olive",
)
CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "jeans",
        ("slim", "relaxed", "straight", "tapered", "bootcut"),
        ("denim jeans", "chinos", "cargo trousers"),
    ),
    ("shoes", ("leather", "canvas", "suede", "running", "classic"), ("sneakers", "loafers", "boots")),
    ("tops", ("cotton", "linen", "oversized", "fitted", "striped"), ("t-shirt", "shirt", "blouse")),
    ("knitwear", ("wool", "cashmere", "chunky", "merino", "ribbed"), ("sweater", "cardigan", "hoodie")),
    ("outerwear", ("quilted", "waterproof", "padded", "light", "hooded"), ("jacket", "parka", "raincoat")),
    ("dresses", ("floral", "wrap", "maxi", "midi", "pleated"), ("dress", "skirt", "jumpsuit")),
    ("bags", ("leather", "woven", "mini", "structured", "canvas"), ("tote bag", "backpack", "crossbody bag")),
    (
        "sportswear",
        ("breathable", "stretch", "training", "seamless", "thermal"),
        ("leggings", "shorts", "tank top"),
    ),
    ("accessories", ("silk", "knitted", "reversible", "vintage", "printed"), ("scarf", "belt", "cap")),
    ("home", ("ceramic", "cotton", "scented", "woven", "minimal"), ("cushion", "candle", "throw")),
    ("beauty", ("hydrating", "matte", "gentle", "vegan", "travel"), ("face cream", "lipstick", "cleanser")),
    ("kids", ("soft", "organic", "playful", "padded", "easy"), ("romper", "pyjamas", "raincoat")),
)
"""Per-category words for titles: (category name, descriptors, product nouns)."""


@dataclass(frozen=True)
class World:
    """Catalogue and users of one seed. Arrays are indexed by item index / user index.

    item_vectors: (n_items, d) latent e_a.            item_category: (n_items,) int category index.
    item_popularity: (n_items,) popularity offset.    item_price: (n_items,) price level (> 0).
    user_taste: (n_users, d) long-term taste u.       user_favourites: (n_users, 2) favourite
    categories (the second equals the first for one-favourite users).
    """

    config: SimConfig
    item_ids: list[str]
    item_titles: list[str]
    category_names: list[str]
    item_vectors: np.ndarray
    item_category: np.ndarray
    item_popularity: np.ndarray
    item_price: np.ndarray
    user_ids: list[str]
    user_taste: np.ndarray
    user_favourites: np.ndarray

    @cached_property
    def item_vectors_t(self) -> np.ndarray:
        """(d, n_items) contiguous transpose of ``item_vectors``: BLAS is much faster on it."""
        return np.ascontiguousarray(self.item_vectors.T)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def items_table(self) -> pa.Table:
        """Item attributes in ``recrl.schema.ITEM_SCHEMA`` (item_id, title, category)."""
        categories = [self.category_names[c] for c in self.item_category]
        columns = [
            pa.array(values, type=pa.string()) for values in (self.item_ids, self.item_titles, categories)
        ]
        return pa.Table.from_arrays(columns, schema=ITEM_SCHEMA)


def build_world(config: SimConfig) -> World:
    """Draw the catalogue and the users of ``config.seed`` (deterministic; logs use their own stream)."""
    rng = np.random.default_rng([config.seed, 0])  # config ranges are checked by SimConfig itself
    n_items, n_cat, dim = config.n_items, config.n_categories, config.latent_dim

    centres = rng.normal(size=(n_cat, dim))
    centres *= CENTRE_NORM / np.linalg.norm(centres, axis=1, keepdims=True)  # (C, d)
    # Round-robin then shuffled, so every category has items and sizes differ by at most one.
    item_category = rng.permutation(np.arange(n_items) % n_cat)  # (n_items,)
    item_vectors = centres[item_category] + rng.normal(scale=ITEM_NOISE_STD, size=(n_items, dim))
    item_popularity = rng.normal(scale=config.popularity_std, size=n_items)
    item_price = np.exp(rng.normal(scale=PRICE_LOG_STD, size=n_items))

    width = max(3, len(str(n_items - 1)))
    item_ids = [f"item_{i:0{width}d}" for i in range(n_items)]
    titles = []
    for c in item_category:
        _, descriptors, nouns = CATEGORY_WORDS[c]
        titles.append(
            f"{descriptors[rng.integers(len(descriptors))]} {COLOURS[rng.integers(len(COLOURS))]} "
            f"{nouns[rng.integers(len(nouns))]}"
        )

    n_users = config.n_users
    first = rng.integers(n_cat, size=n_users)
    second = np.where(rng.random(n_users) < 0.5, rng.integers(n_cat, size=n_users), first)
    favourites = np.stack([first, second], axis=1)  # (n_users, 2)
    # Two distinct favourites share the taste: each gets <u, e> of about CENTRE_NORM**2 / sqrt(2).
    n_distinct = np.where(first == second, 1.0, 2.0)
    taste = (centres[first] + np.where((first != second)[:, None], centres[second], 0.0)) / np.sqrt(
        n_distinct
    )[:, None]
    taste += rng.normal(scale=USER_NOISE_STD, size=(n_users, dim))  # (n_users, d)
    user_width = max(4, len(str(n_users - 1)))
    user_ids = [f"user_{u:0{user_width}d}" for u in range(n_users)]

    return World(
        config=config,
        item_ids=item_ids,
        item_titles=titles,
        category_names=[CATEGORY_WORDS[c][0] for c in range(n_cat)],
        item_vectors=item_vectors,
        item_category=item_category,
        item_popularity=item_popularity,
        item_price=item_price,
        user_ids=user_ids,
        user_taste=taste,
        user_favourites=favourites,
    )
