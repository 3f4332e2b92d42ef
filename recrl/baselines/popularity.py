"""Popularity baselines: exposure-debiased (reward per impression) or, without impressions, counts.

Counting clicks rewards the items the logger showed most: on a log whose policy favours some items,
raw counts follow the logger's exposure, not what users want. Per item i with n_i training impressions
and reward r_i earned on them, the debiased score is the reward per impression shrunk toward the global
mean mu = sum_i r_i / sum_i n_i with prior strength m (a Beta-style empirical Bayes estimate):

    rate_i = (r_i + m mu) / (n_i + m)

so a rarely shown item needs evidence before it outranks a well-measured one. With
``position_adjusted`` the impressions n_i are weighted by their slot's examination, sum_k n_ik rbar_k /
rbar_0 (clicks over expected clicks, COEC; Chapelle & Zhang, WWW 2009, for the position model), so an
item the logger kept in low slots is not penalised for their lower attention. Logs without impressions
(implicit click / purchase sequences) carry no exposure: there the score falls back to the number of
positive interactions (``basis = "interactions"``), which is exposure-biased and says so in its config.
Scores are standardised log values (zero mean, unit variance over the recommendable items), so one
temperature grid serves every basis.
"""

from __future__ import annotations

import numpy as np

from recrl.baselines.interactions import Interactions
from recrl.policies import N_RESERVED, StateBatch


def standardise(values: np.ndarray) -> np.ndarray:
    """(V,) zero mean, unit variance over the non-reserved items."""
    body = values[N_RESERVED:]
    return (values - body.mean()) / (body.std() + 1e-12)


def standardised_log_popularity(counts: np.ndarray) -> np.ndarray:
    """(V,) log(1 + count), standardised."""
    return standardise(np.log1p(counts))


def shrunk_rate(reward: np.ndarray, shown: np.ndarray, prior: float) -> np.ndarray:
    """(V,) (r_i + m mu) / (n_i + m), mu the pooled reward per impression."""
    mean = float(reward.sum()) / max(float(shown.sum()), 1e-12)
    return (reward + prior * mean) / (shown + prior + 1e-12)


def popularity_scores(
    interactions: Interactions, basis: str, prior: float, position_adjusted: bool = False
) -> np.ndarray:
    """(V,) standardised popularity of ``basis`` 'impressions' (debiased) or 'interactions' (counts)."""
    if basis == "impressions":
        if not interactions.has_exposure:
            raise ValueError("debiased popularity needs impressions in the training split (a bandit log)")
        shown = interactions.item_examined if position_adjusted else interactions.item_shown
        rate = shrunk_rate(interactions.item_reward, shown, prior)
        return standardise(np.log(rate + 1e-12))
    if basis == "interactions":
        return standardised_log_popularity(interactions.item_counts())
    raise ValueError(f"popularity basis must be 'impressions' or 'interactions', got {basis!r}")


def default_basis(interactions: Interactions) -> str:
    """'impressions' where the log has them, else 'interactions' (the fallback of implicit logs)."""
    return "impressions" if interactions.has_exposure else "interactions"


class PopularityPolicy:
    """Score = the item's standardised (debiased) popularity in training; ignores the history.

    ``basis`` None picks 'impressions' when the training split logged any, else 'interactions'.
    """

    kind = "popularity"

    def __init__(
        self,
        interactions: Interactions,
        config=None,
        temperature: float = 1.0,
        name: str = "popularity",
        basis: str | None = None,
        prior: float | None = None,
        position_adjusted: bool = False,
    ) -> None:
        basis = basis or default_basis(interactions)
        prior = float(prior if prior is not None else getattr(config, "popularity_prior", 100.0))
        self.hyperparameters = {"basis": basis, "prior": prior, "position_adjusted": bool(position_adjusted)}
        self.popularity = popularity_scores(interactions, basis, prior, position_adjusted)
        self.temperature = temperature
        self.name = name

    def arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], hyperparameters: dict, name: str, temperature: float
    ) -> PopularityPolicy:
        policy = cls.__new__(cls)
        policy.popularity = arrays["popularity"]
        policy.hyperparameters, policy.name, policy.temperature = dict(hyperparameters), name, temperature
        return policy

    def item_scores(self, states: StateBatch) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(states), len(self.popularity))).copy()
