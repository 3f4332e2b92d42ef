"""States as slices of the numbered feedback -> Arrow lists (recrl.states.write.slice_lists)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from recrl.states.write import slice_lists


def test_slices_become_lists_oldest_first():
    items = np.array([10, 11, 12, 20, 21], dtype=np.int32)  # user a: pos 0-2, user b: pos 3-4
    types = np.array([1, 2, 3, 1, 1], dtype=np.int8)
    ends = np.array([2, 3, 0, 5, 5])
    lengths = np.array([2, 2, 0, 1, 2])
    history_items, history_types = slice_lists(items, types, ends, lengths)
    assert history_items.type == pa.list_(pa.int32()) and history_types.type == pa.list_(pa.int8())
    assert history_items.to_pylist() == [[10, 11], [11, 12], [], [21], [20, 21]]
    assert history_types.to_pylist() == [[1, 2], [2, 3], [], [1], [1, 1]]
    assert history_items.null_count == 0


def test_slices_match_python_reference_on_random_bounds():
    rng = np.random.default_rng(0)
    items = rng.integers(2, 100, 500).astype(np.int32)
    types = rng.integers(1, 4, 500).astype(np.int8)
    ends = rng.integers(0, 501, 2000)
    lengths = np.minimum(rng.integers(0, 11, 2000), ends)
    history_items, history_types = slice_lists(items, types, ends, lengths)
    assert history_items.to_pylist() == [items[e - n : e].tolist() for e, n in zip(ends, lengths, strict=True)]
    assert history_types.to_pylist() == [types[e - n : e].tolist() for e, n in zip(ends, lengths, strict=True)]


def test_empty_batch_gives_empty_lists():
    history_items, _ = slice_lists(np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.int64),
                                   np.zeros(0, np.int32))
    assert len(history_items) == 0


@pytest.mark.parametrize("bad", ["ends", "lengths"])
def test_out_of_range_slices_are_rejected(bad):
    # A slice must lie inside the values: a bound past the end would read another user's events.
    ends, lengths = np.array([3]), np.array([2])
    if bad == "ends":
        ends = np.array([4])
    else:
        lengths = np.array([4])
    with pytest.raises(ValueError, match="slice"):
        slice_lists(np.arange(3, dtype=np.int32), np.ones(3, np.int8), ends, lengths)
