"""Popularity and collaborative-filtering policies over a state's history.

Each policy turns a state's history (B, N) into scores (B, V); ``recrl.policies`` serves them as a
softmax. History weights decay with age (most recent item weight 1, then ``decay``, ``decay^2``, ...)
as in V-SKNN (Ludewig & Jannach, "Evaluation of session-based recommendation algorithms", 2018).
Every policy adds ``pop_weight`` x standardised log-popularity, so empty histories fall back to
popularity instead of a uniform draw.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics.pairwise import cosine_similarity

from recrl.baselines.interactions import Interactions
from recrl.config import BaselineConfig
from recrl.policies import N_RESERVED, PAD_INDEX, StateBatch


def history_weights(history_items: np.ndarray, n_items: int, decay: float, last_n: int) -> sparse.csr_matrix:
    """(B, V) recency-weighted bag of the last ``last_n`` history items (padding dropped)."""
    batch, length = history_items.shape
    recent = history_items[:, -last_n:]  # (B, m), most recent last
    ages = np.arange(recent.shape[1])[::-1]  # (m,) 0 for the most recent
    weights = np.broadcast_to(decay**ages, recent.shape)
    rows = np.broadcast_to(np.arange(batch)[:, None], recent.shape)
    keep = recent != PAD_INDEX
    matrix = sparse.csr_matrix(
        (weights[keep], (rows[keep], recent[keep])), shape=(batch, n_items)
    )  # duplicates summed
    return matrix


def standardised_log_popularity(counts: np.ndarray) -> np.ndarray:
    """(V,) log(1 + count), zero mean and unit variance over the non-reserved items."""
    log_pop = np.log1p(counts)
    body = log_pop[N_RESERVED:]
    return (log_pop - body.mean()) / (body.std() + 1e-12)


class PopularityPolicy:
    """Score = standardised log-popularity of the item in training (ignores history)."""

    def __init__(self, interactions: Interactions, temperature: float = 1.0, name: str = "popularity") -> None:
        self.popularity = standardised_log_popularity(interactions.item_counts())
        self.temperature = temperature
        self.name = name

    def item_scores(self, states: StateBatch) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(states), len(self.popularity))).copy()


class HistoryPolicy:
    """What every history-based CF policy shares: the recency-weighted history bag, the popularity
    fallback and the serving temperature. Subclasses score the bag in ``bag_scores``."""

    def __init__(self, interactions: Interactions, config: BaselineConfig, temperature: float, name: str,
                 decay: float, pop_weight: float) -> None:
        self.popularity = standardised_log_popularity(interactions.item_counts())
        self.n_items = interactions.n_items
        self.history_items = config.knn_history_items
        self.decay, self.pop_weight = decay, pop_weight
        self.temperature = temperature
        self.name = name

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        """(B, V) scores of history bags, scaled so the best item scores 1."""
        raise NotImplementedError

    def item_scores(self, states: StateBatch) -> np.ndarray:
        bag = history_weights(states.history_items, self.n_items, self.decay, self.history_items)  # (B, V)
        return self.bag_scores(bag) + self.pop_weight * self.popularity


class ItemKNNPolicy(HistoryPolicy):
    """Item-kNN: cosine similarity of items over training sessions, top-k neighbours kept.

    sim(i, j) = |S_i cap S_j| / sqrt(|S_i| |S_j|)  (S_i = sessions with item i);
    score(s, j) = sum_t decay^age(t) sim(h_t, j) over the last ``history_items`` items h_t of s.
    """

    def __init__(self, interactions: Interactions, config: BaselineConfig, temperature: float = 1.0,
                 name: str = "item-knn", decay: float = 0.8, pop_weight: float = 0.05) -> None:
        super().__init__(interactions, config, temperature, name, decay, pop_weight)
        item_by_session = interactions.session_item_matrix().T.tocsr()  # (V, S)
        similarity = cosine_similarity(item_by_session, dense_output=True)  # (V, V)
        np.fill_diagonal(similarity, 0.0)
        k = min(config.knn_neighbors, similarity.shape[1] - 1)
        weakest = np.argpartition(-similarity, k, axis=1)[:, k:]  # drop all but the top-k per row
        np.put_along_axis(similarity, weakest, 0.0, axis=1)
        self.similarity = sparse.csr_matrix(similarity)

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        scores = np.asarray((bag @ self.similarity).todense())  # (B, V)
        return scores / (scores.max(axis=1, keepdims=True) + 1e-12)


class SessionKNNPolicy(HistoryPolicy):
    """Session-kNN (V-SKNN): the k training sessions most similar to the state's history vote for items.

    sim(s, S) = <w_s, 1_S> / (||w_s|| ||1_S||), with w_s the recency-weighted history bag;
    score(s, j) = sum_{S in top-k(s)} sim(s, S) 1[j in S].
    """

    def __init__(self, interactions: Interactions, config: BaselineConfig, temperature: float = 1.0,
                 name: str = "session-knn", decay: float = 0.8, pop_weight: float = 0.05) -> None:
        super().__init__(interactions, config, temperature, name, decay, pop_weight)
        sessions = interactions.session_item_matrix()  # (S, V)
        norms = np.sqrt(np.asarray(sessions.sum(axis=1)).ravel())  # binary rows: ||1_S|| = sqrt(|S|)
        self.sessions_normed = sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ sessions  # (S, V)
        self.sessions = sessions
        self.k = min(config.knn_neighbors, sessions.shape[0])

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        sims = np.asarray((bag @ self.sessions_normed.T).todense())  # (B, S), unnormalised in the bag
        if self.k < sims.shape[1]:
            weakest = np.argpartition(-sims, self.k, axis=1)[:, self.k:]
            np.put_along_axis(sims, weakest, 0.0, axis=1)
        scores = np.asarray(sparse.csr_matrix(sims) @ self.sessions.todense())  # (B, V)
        return scores / (scores.max(axis=1, keepdims=True) + 1e-12)


class PureSVDPolicy(HistoryPolicy):
    """PureSVD (Cremonesi et al., RecSys 2010): item factors Q from a truncated SVD of the session-item
    matrix; a state folds in as its history bag, score(s) = (w_s Q) Q^T."""

    def __init__(self, interactions: Interactions, config: BaselineConfig, temperature: float = 1.0,
                 name: str = "pure-svd", decay: float = 0.8, pop_weight: float = 0.05, n_factors: int = 32,
                 seed: int = 0) -> None:
        super().__init__(interactions, config, temperature, name, decay, pop_weight)
        sessions = interactions.session_item_matrix()
        n_factors = max(1, min(n_factors, min(sessions.shape) - 1))
        svd = TruncatedSVD(n_components=n_factors, random_state=seed).fit(sessions)
        self.item_factors = svd.components_.T  # (V, F)

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        scores = np.asarray(bag @ self.item_factors) @ self.item_factors.T  # (B, V)
        return scores / (np.abs(scores).max(axis=1, keepdims=True) + 1e-12)


def fit_baselines(interactions: Interactions, config: BaselineConfig) -> list:
    """Every baseline, fitted on the same training interactions."""
    return [
        PopularityPolicy(interactions),
        ItemKNNPolicy(interactions, config),
        SessionKNNPolicy(interactions, config),
        PureSVDPolicy(interactions, config),
    ]
