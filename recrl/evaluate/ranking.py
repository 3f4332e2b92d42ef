"""HR@k and NDCG@k of a policy's scores against logged positive feedback.

For each decision whose logged item earned the target feedback (a click, or a purchase), the item's
rank among all recommendable items is counted pessimistically: rank = #{items scoring >= it} - 1, so
ties (a constant policy) never earn credit. With one relevant item per decision:

    HR@k   = mean 1[rank < k]
    NDCG@k = mean 1[rank < k] / log2(rank + 2)
"""

from __future__ import annotations

import numpy as np

from recrl.policies import N_RESERVED


def item_ranks(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """(B,) 0-based pessimistic rank of ``items[b]`` in ``scores[b]`` (B, V) over non-reserved items."""
    body = np.asarray(scores, dtype=np.float64)[:, N_RESERVED:]  # (B, V - 2)
    target = body[np.arange(len(items)), np.asarray(items) - N_RESERVED]  # (B,)
    return (body >= target[:, None]).sum(axis=1) - 1


def hit_and_ndcg(ranks: np.ndarray, cutoffs: tuple[int, ...]) -> dict[tuple[str, int], float | None]:
    """{('hr', k): HR@k, ('ndcg', k): NDCG@k} over the given ranks (None when there are none: a
    target with no positives has no hit rate, which is not the same as a hit rate of 0)."""
    out: dict[tuple[str, int], float | None] = {}
    for k in cutoffs:
        hit = ranks < k
        out[("hr", k)] = float(hit.mean()) if len(ranks) else None
        out[("ndcg", k)] = float((hit / np.log2(ranks + 2.0)).mean()) if len(ranks) else None
    return out
