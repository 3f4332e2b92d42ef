"""What the training split offers every baseline: positive interactions and per-item exposure.

A positive interaction is a training decision that earned feedback (click, cart or purchase); for
implicit sequences every decision is one. Exposure counts come from the bandit decisions (one per
impression): how often the logger showed each item and the reward users gave it there. They come from
the states stage's transitions, so baselines see exactly the training days and nothing after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from scipy import sparse


@dataclass(frozen=True)
class Interactions:
    """Positive (session, item) events, sorted by session then time, and the train split's exposure.

    session: (M,) int64 dense session index; item: (M,) int64 vocabulary index; n_sessions, n_items.
    ts: (M,) int64 microseconds since the epoch (None: order only, every session equally recent).
    item_shown: (V,) impressions of each item in training, item_reward: (V,) reward earned on them,
    item_examined: (V,) impressions weighted by their slot's pooled reward per impression relative to
    the top slot's, sum_k n_ik rbar_k / rbar_0 (COEC's "expected clicks" denominator: a position-bias
    correction); all None for logs without impressions, e.g. implicit sequences.
    """

    session: np.ndarray
    item: np.ndarray
    n_sessions: int
    n_items: int
    ts: np.ndarray | None = None
    item_shown: np.ndarray | None = None
    item_reward: np.ndarray | None = None
    item_examined: np.ndarray | None = None

    def session_item_matrix(self) -> sparse.csr_matrix:
        """(S, V) binary matrix: which items each session interacted with."""
        ones = np.ones(len(self.item), dtype=np.float64)
        matrix = sparse.csr_matrix((ones, (self.session, self.item)), shape=(self.n_sessions, self.n_items))
        matrix.data[:] = 1.0  # repeated interactions count once
        return matrix

    def item_counts(self) -> np.ndarray:
        """(V,) number of positive interactions per item."""
        return np.bincount(self.item, minlength=self.n_items).astype(np.float64)

    def session_last_ts(self) -> np.ndarray:
        """(S,) time of each session's last positive interaction (its index when ``ts`` is None)."""
        if self.ts is None:
            return np.arange(self.n_sessions, dtype=np.int64)
        last = np.full(self.n_sessions, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, self.session, self.ts)
        return last

    @property
    def has_exposure(self) -> bool:
        """Whether impressions were logged (bandit logs): exposure-debiased popularity is possible."""
        return self.item_shown is not None and float(self.item_shown.sum()) > 0


def interactions_from_transitions(transitions: pa.Table, n_items: int) -> Interactions:
    """Positive interactions and per-item exposure of a transitions table (the train split)."""
    frame = pl.from_arrow(transitions).select(
        "kind", "user_id", "session_id", "ts", "action", "position", "click", "cart", "purchase", "reward"
    )
    positive = (
        frame.filter((pl.col("click") + pl.col("cart") + pl.col("purchase")) > 0)
        .with_columns(pl.coalesce("session_id", "user_id").alias("session_key"))
        .sort("session_key", "ts")
    )
    if positive.height == 0:
        raise ValueError("the training transitions hold no positive interaction (click, cart or purchase)")
    session = positive["session_key"].rank("dense").cast(pl.Int64).to_numpy() - 1
    shown = frame.filter(pl.col("kind") == "bandit")
    item_shown = item_reward = item_examined = None
    if shown.height:
        action = shown["action"].cast(pl.Int64).to_numpy()
        reward = shown["reward"].fill_null(0.0).to_numpy()
        slot = np.clip(shown["position"].fill_null(0).cast(pl.Int64).to_numpy(), 0, None)  # (n,) 0-based
        item_shown = np.bincount(action, minlength=n_items).astype(np.float64)[:n_items]
        item_reward = np.bincount(action, weights=reward, minlength=n_items)[:n_items]
        slot_rate = np.bincount(slot, weights=reward) / np.maximum(np.bincount(slot), 1)  # (K,) rbar_k
        relative = slot_rate / slot_rate[0] if slot_rate[0] > 0 else np.ones_like(slot_rate)
        item_examined = np.bincount(action, weights=relative[slot], minlength=n_items)[:n_items]
    return Interactions(
        session=session,
        item=positive["action"].cast(pl.Int64).to_numpy(),
        n_sessions=int(session.max()) + 1,
        n_items=n_items,
        ts=positive["ts"].dt.epoch("us").to_numpy().astype(np.int64),
        item_shown=item_shown,
        item_reward=item_reward,
        item_examined=item_examined,
    )
