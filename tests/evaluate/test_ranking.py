"""HR@k / NDCG@k against hand-computed ranks."""

from __future__ import annotations

import math

import numpy as np

from recrl.evaluate.ranking import hit_and_ndcg, item_ranks


def test_ranks_are_pessimistic_on_ties_and_skip_reserved_indices() -> None:
    scores = np.array([
        [99.0, 99.0, 0.9, 0.5, 0.1],  # item 3 is second
        [0.0, 0.0, 1.0, 1.0, 1.0],  # all tied: item 2 gets the worst rank
    ])
    np.testing.assert_array_equal(item_ranks(scores, np.array([3, 2])), [1, 2])


def test_hit_rate_and_ndcg_closed_form() -> None:
    metrics = hit_and_ndcg(np.array([0, 1, 4]), (1, 2, 5))
    assert metrics[("hr", 1)] == 1 / 3
    assert metrics[("hr", 2)] == 2 / 3
    assert metrics[("hr", 5)] == 1.0
    expected = (1 + 1 / math.log2(3) + 1 / math.log2(6)) / 3
    assert math.isclose(metrics[("ndcg", 5)], expected)
    assert math.isclose(metrics[("ndcg", 1)], 1 / 3)
