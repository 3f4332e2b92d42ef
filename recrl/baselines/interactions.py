"""Positive interactions of the training split, the input of every CF baseline.

A positive interaction is a training decision that earned feedback (click, cart or purchase); for
implicit sequences every decision is one. They come from the states stage's transitions, so baselines
see exactly the training days and nothing after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from scipy import sparse


@dataclass(frozen=True)
class Interactions:
    """Positive (session, item) events in time order.

    session: (M,) int64 dense session index; item: (M,) int64 vocabulary index; n_sessions, n_items.
    """

    session: np.ndarray
    item: np.ndarray
    n_sessions: int
    n_items: int

    def session_item_matrix(self) -> sparse.csr_matrix:
        """(S, V) binary matrix: which items each session interacted with."""
        ones = np.ones(len(self.item), dtype=np.float64)
        matrix = sparse.csr_matrix((ones, (self.session, self.item)), shape=(self.n_sessions, self.n_items))
        matrix.data[:] = 1.0  # repeated interactions count once
        return matrix

    def item_counts(self) -> np.ndarray:
        """(V,) number of positive interactions per item."""
        return np.bincount(self.item, minlength=self.n_items).astype(np.float64)


def interactions_from_transitions(transitions: pa.Table, n_items: int) -> Interactions:
    """Positive interactions of a transitions table (the train split), sessions in time order."""
    frame = (
        pl.from_arrow(transitions)
        .select("user_id", "session_id", "ts", "action", "click", "cart", "purchase")
        .filter((pl.col("click") + pl.col("cart") + pl.col("purchase")) > 0)
        .with_columns(pl.coalesce("session_id", "user_id").alias("session_key"))
        .sort("session_key", "ts")
    )
    if frame.height == 0:
        raise ValueError("the training transitions hold no positive interaction (click, cart or purchase)")
    session = frame["session_key"].rank("dense").cast(pl.Int64).to_numpy() - 1
    return Interactions(
        session=session,
        item=frame["action"].cast(pl.Int64).to_numpy(),
        n_sessions=int(session.max()) + 1,
        n_items=n_items,
    )
