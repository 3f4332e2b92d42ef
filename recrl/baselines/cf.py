"""Collaborative-filtering policies over a state's history: item-kNN, session-kNN (V-SKNN), PureSVD.

Each policy turns a state's history (B, N) into scores (B, V); ``recrl.policies`` serves them as a
softmax. The history is a bag over its last ``history_len`` items weighted by recency, decay^age (most
recent weight 1), as in V-SKNN (Ludewig & Jannach, "Evaluation of session-based recommendation
algorithms", 2018). Every policy scales its CF scores so the best item scores 1 and adds
``pop_weight`` x the (exposure-debiased where possible) standardised popularity of
``recrl.baselines.popularity``, so empty histories fall back to popularity instead of a uniform draw.

Fitted parameters are arrays (``arrays()``), settings are ``hyperparameters``; ``recrl.baselines.store``
writes both and ``from_arrays`` rebuilds a policy that scores identically. Nothing here is dense in
V x V or S x V: neighbour lists are sparse top-k rows.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD

from recrl.baselines.interactions import Interactions
from recrl.baselines.popularity import PopularityPolicy, default_basis, popularity_scores
from recrl.config import BaselineConfig
from recrl.policies import PAD_INDEX, StateBatch

__all__ = [
    "HistoryPolicy",
    "ItemKNNPolicy",
    "PopularityPolicy",
    "PureSVDPolicy",
    "SessionKNNPolicy",
    "history_weights",
    "top_k_per_row",
]


def history_weights(history_items: np.ndarray, n_items: int, decay: float, last_n: int) -> sparse.csr_matrix:
    """(B, V) recency-weighted bag of the last ``last_n`` history items (padding dropped)."""
    batch = history_items.shape[0]
    recent = history_items[:, -last_n:]  # (B, m), most recent last
    ages = np.arange(recent.shape[1])[::-1]  # (m,) 0 for the most recent
    weights = np.broadcast_to(float(decay) ** ages, recent.shape)
    rows = np.broadcast_to(np.arange(batch)[:, None], recent.shape)
    keep = recent != PAD_INDEX
    return sparse.csr_matrix(
        (weights[keep], (rows[keep], recent[keep])), shape=(batch, n_items)
    )  # duplicates summed


def top_k_per_row(matrix: sparse.spmatrix, k: int) -> sparse.csr_matrix:
    """The ``k`` largest entries of each row (ties broken by the lower column), as CSR: nnz <= rows * k."""
    coo = sparse.coo_matrix(matrix)
    order = np.lexsort((coo.col, -coo.data, coo.row))
    row, col, data = coo.row[order], coo.col[order], coo.data[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row, side="left")  # position within its row
    keep = (rank < k) & (data > 0)
    return sparse.csr_matrix((data[keep], (row[keep], col[keep])), shape=coo.shape)


def scale_rows(scores: np.ndarray) -> np.ndarray:
    """Each row divided by its largest absolute value (rows of zeros stay zero)."""
    return scores / (np.abs(scores).max(axis=1, keepdims=True) + 1e-12)


class HistoryPolicy:
    """What every history-based CF policy shares: the recency-weighted history bag, the popularity mix
    and the serving temperature. Subclasses fit their arrays in ``fit`` and score the bag in ``bag_scores``."""

    kind = ""
    defaults: dict = {}

    def __init__(
        self,
        interactions: Interactions,
        config: BaselineConfig | None = None,
        temperature: float = 1.0,
        name: str | None = None,
        **hyperparameters,
    ) -> None:
        config = config or BaselineConfig()
        unknown = set(hyperparameters) - set(self.default_hyperparameters(config))
        if unknown:
            raise ValueError(f"unknown {self.kind} hyperparameter(s): {sorted(unknown)}")
        self.hyperparameters = self.default_hyperparameters(config) | hyperparameters
        self.n_items = interactions.n_items
        self.popularity = popularity_scores(
            interactions, default_basis(interactions), config.popularity_prior
        )
        self.temperature = temperature
        self.name = name or self.kind
        self.fit(interactions)

    @classmethod
    def default_hyperparameters(cls, config: BaselineConfig) -> dict:
        return {
            "decay": config.history_decay,
            "history_len": config.knn_history_items,
            "pop_weight": config.pop_weight,
        }

    def fit(self, interactions: Interactions) -> None:
        raise NotImplementedError

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        """(B, V) scores of history bags, each row scaled so its best item scores 1."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity} | self.fitted_arrays()

    def fitted_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], hyperparameters: dict, name: str, temperature: float
    ) -> HistoryPolicy:
        policy = cls.__new__(cls)
        policy.hyperparameters, policy.name, policy.temperature = dict(hyperparameters), name, temperature
        policy.popularity = arrays["popularity"]
        policy.n_items = len(policy.popularity)
        policy.load_arrays(arrays)
        return policy

    def item_scores(self, states: StateBatch) -> np.ndarray:
        h = self.hyperparameters
        bag = history_weights(states.history_items, self.n_items, h["decay"], int(h["history_len"]))  # (B, V)
        return self.bag_scores(bag) + h["pop_weight"] * self.popularity


def csr_arrays(prefix: str, matrix: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays (``prefix.data`` ...) for safetensors."""
    return {
        f"{prefix}.data": matrix.data,
        f"{prefix}.indices": matrix.indices.astype(np.int64),
        f"{prefix}.indptr": matrix.indptr.astype(np.int64),
        f"{prefix}.shape": np.asarray(matrix.shape),
    }


def csr_from_arrays(prefix: str, arrays: dict[str, np.ndarray]) -> sparse.csr_matrix:
    shape = tuple(int(s) for s in arrays[f"{prefix}.shape"])
    return sparse.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]), shape=shape
    )


def forward_cooccurrence(interactions: Interactions, window: int) -> sparse.csr_matrix:
    """(V, V) sum over sessions of 1/d for each i followed d <= ``window`` steps later by j != i."""
    same, item = interactions.session, interactions.item  # sorted by session, then time
    rows, cols, weights = [], [], []
    for d in range(1, window + 1):
        pair = (same[:-d] == same[d:]) & (item[:-d] != item[d:])
        rows.append(item[:-d][pair])
        cols.append(item[d:][pair])
        weights.append(np.full(int(pair.sum()), 1.0 / d))
    v = interactions.n_items
    return sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(v, v)
    )


class ItemKNNPolicy(HistoryPolicy):
    """Item-kNN: shrunk cosine similarity of items over training sessions of positive interactions.

    sim(i, j) = C_ij / (sqrt(n_i n_j) + shrink), n_i = sessions with i, C_ij = sessions with both i and j
    (``sequential``: sum over sessions of 1/d for j following i d <= 3 steps later, so i -> j is directed);
    only the ``neighbors`` most similar j are kept per i (nnz <= V k);
    score(s, j) = sum_t decay^age(t) sim(h_t, j) over the last ``history_len`` items h_t of s.
    """

    kind = "item-knn"
    window = 3
    """Steps ahead counted by the sequential co-occurrence."""

    @classmethod
    def default_hyperparameters(cls, config: BaselineConfig) -> dict:
        return super().default_hyperparameters(config) | {
            "neighbors": config.knn_neighbors,
            "shrink": config.knn_shrink,
            "sequential": False,
        }

    def fit(self, interactions: Interactions) -> None:
        h = self.hyperparameters
        by_session = interactions.session_item_matrix()  # (S, V) binary
        n = np.asarray(by_session.sum(axis=0)).ravel()  # (V,) sessions per item
        if h["sequential"]:
            counts = forward_cooccurrence(interactions, self.window).tocoo()
        else:
            counts = (by_session.T @ by_session).tocoo()  # (V, V) sparse co-occurrence
        off_diagonal = counts.row != counts.col
        row, col = counts.row[off_diagonal], counts.col[off_diagonal]
        sim = counts.data[off_diagonal] / (np.sqrt(n[row] * n[col]) + h["shrink"] + 1e-12)
        similarity = sparse.coo_matrix((sim, (row, col)), shape=counts.shape)
        self.similarity = top_k_per_row(similarity, int(h["neighbors"]))  # (V, V), nnz <= V k

    def fitted_arrays(self) -> dict[str, np.ndarray]:
        return csr_arrays("similarity", self.similarity)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.similarity = csr_from_arrays("similarity", arrays)

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        return scale_rows((bag @ self.similarity).toarray())  # (B, V)


class SessionKNNPolicy(HistoryPolicy):
    """Session-kNN (V-SKNN, Ludewig & Jannach 2018): training sessions similar to the history vote.

    Candidates: among the training sessions sharing an item with the history, the ``sample`` most recent
    (V-SKNN's recent-session sampling); of those the ``neighbors`` most similar by
    sim(s, S) = <w_s, 1_S> / sqrt(|S|) (w_s the recency-weighted history bag, cosine up to the per-state
    ||w_s||); score(s, j) = sum_{S in top-k(s)} sim(s, S) 1[j in S].
    """

    kind = "session-knn"
    chunk = 512
    """States scored at once: the (chunk, S) similarity block is the largest array."""

    @classmethod
    def default_hyperparameters(cls, config: BaselineConfig) -> dict:
        return super().default_hyperparameters(config) | {
            "neighbors": config.sknn_neighbors,
            "sample": config.sknn_sample,
        }

    def fit(self, interactions: Interactions) -> None:
        self.sessions = interactions.session_item_matrix()  # (S, V) binary
        self.session_ts = interactions.session_last_ts()  # (S,)
        self._prepare()

    def _prepare(self) -> None:
        norms = np.sqrt(np.asarray(self.sessions.sum(axis=1)).ravel())
        self.sessions_normed_t = (
            sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ self.sessions
        ).T.tocsr()  # (V, S)
        self.recent_first = np.argsort(-self.session_ts, kind="stable")  # (S,)

    def fitted_arrays(self) -> dict[str, np.ndarray]:
        return csr_arrays("sessions", self.sessions) | {"session_ts": self.session_ts}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.sessions = csr_from_arrays("sessions", arrays)
        self.session_ts = arrays["session_ts"]
        self._prepare()

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        return np.concatenate(
            [self._chunk_scores(bag[s : s + self.chunk]) for s in range(0, bag.shape[0], self.chunk)]
        )

    def _chunk_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        h = self.hyperparameters
        sims = (bag @ self.sessions_normed_t).toarray()  # (b, S)
        n_sessions = sims.shape[1]
        if int(h["sample"]) < n_sessions:
            recent = sims[:, self.recent_first]  # (b, S) most recent session first
            seen = np.cumsum(recent > 0, axis=1)  # matching sessions so far, most recent first
            recent[seen > int(h["sample"])] = 0.0
            sims[:, self.recent_first] = recent
        k = int(h["neighbors"])
        if k < n_sessions:
            weakest = np.argpartition(-sims, k, axis=1)[:, k:]
            np.put_along_axis(sims, weakest, 0.0, axis=1)
        return scale_rows((sparse.csr_matrix(sims) @ self.sessions).toarray())  # (b, V)


class PureSVDPolicy(HistoryPolicy):
    """PureSVD (Cremonesi et al., RecSys 2010): item factors Q (V, F) from a truncated SVD of the
    session-item matrix; a state folds in as its history bag, score(s) = (w_s Q) Q^T."""

    kind = "pure-svd"

    @classmethod
    def default_hyperparameters(cls, config: BaselineConfig) -> dict:
        return super().default_hyperparameters(config) | {"n_factors": config.svd_factors, "seed": 0}

    def fit(self, interactions: Interactions) -> None:
        sessions = interactions.session_item_matrix()
        n_factors = max(1, min(int(self.hyperparameters["n_factors"]), min(sessions.shape) - 1))
        svd = TruncatedSVD(n_components=n_factors, random_state=int(self.hyperparameters["seed"])).fit(
            sessions
        )
        self.item_factors = svd.components_.T.copy()  # (V, F)

    def fitted_arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_factors = arrays["item_factors"]

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        return scale_rows(np.asarray(bag @ self.item_factors) @ self.item_factors.T)  # (B, V)
