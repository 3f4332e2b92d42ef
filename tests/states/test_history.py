"""State slices by binary search (recrl.states.history) against a brute-force "strictly before" scan."""

from __future__ import annotations

import numpy as np
import pytest

from recrl.states.history import FeedbackHistory


def random_history(rng: np.random.Generator, n_users: int = 6, n_events: int = 300) -> tuple[np.ndarray, ...]:
    """Sorted (user_key, ts_us) with many ties (ts on a coarse grid), users keyed 1..n_users, some absent."""
    user_key = rng.integers(1, n_users + 1, n_events)
    user_key[user_key == 3] = 4  # user 3 has no feedback: its states are empty
    ts_us = rng.integers(0, 40, n_events) * 1_000_000
    order = np.lexsort((ts_us, user_key))
    return user_key[order], ts_us[order]


def brute_force(user_key, ts_us, user, cut, history_len):
    """(end, length) from a scan: the user's events with ts < cut are a prefix of the user's run."""
    positions = [i for i in range(len(user_key)) if user_key[i] == user and ts_us[i] < cut]
    if not positions:
        return None, 0
    return positions[-1] + 1, min(len(positions), history_len)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_slices_match_a_brute_force_scan(seed):
    rng = np.random.default_rng(seed)
    user_key, ts_us = random_history(rng)
    items = rng.integers(2, 50, len(user_key)).astype(np.int32)
    history = FeedbackHistory.from_events(user_key, ts_us, items, np.ones(len(items), np.int8))
    # Cuts on the grid (ties with events), between grid points, before the first and after the last event.
    cut_user = rng.integers(0, 7, 2000)  # 0: a user without feedback
    cut_us = rng.integers(-1, 42, 2000) * 1_000_000 + rng.choice([0, 1, 500_000], 2000)
    ends, lengths = history.slices(cut_user, cut_us, history_len=4)
    for user, cut, end, length in zip(cut_user, cut_us, ends, lengths, strict=True):
        expected_end, expected_length = brute_force(user_key, ts_us, user, cut, 4)
        assert length == expected_length, (user, cut)
        if expected_end is not None:
            assert end == expected_end, (user, cut)
    assert (lengths == 0).any() and (lengths == 4).any() and ((lengths > 0) & (lengths < 4)).any()


def test_users_without_feedback_and_an_empty_history_give_empty_slices():
    history = FeedbackHistory.from_events(
        np.array([2, 2], np.int32), np.array([10, 20]), np.array([5, 6], np.int32), np.array([1, 3], np.int8)
    )
    ends, lengths = history.slices(np.array([0, 1, 2, 2, 2]), np.array([99, 99, 10, 11, 21]), history_len=10)
    assert lengths.tolist() == [0, 0, 0, 1, 2] and ends[3:].tolist() == [1, 2]

    empty = FeedbackHistory.from_events(
        np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    )
    assert empty.slices(np.array([0, 0]), np.array([5, 6]), history_len=3)[1].tolist() == [0, 0]


def test_unsorted_events_are_rejected():
    # Out of order, a user's run would not be contiguous and a slice would mix users or times.
    with pytest.raises(ValueError, match="not sorted"):
        FeedbackHistory.from_events(np.array([2, 1]), np.array([0, 0]), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="not sorted"):
        FeedbackHistory.from_events(np.array([1, 1]), np.array([5, 4]), np.zeros(2), np.zeros(2))
