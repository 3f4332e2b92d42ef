"""Every user's feedback in one sorted run, and the slice of it that is a state.

``sql/states/history.sql`` gives every click / cart / purchase as (user_key, ts_us, item, type)
ordered by user, then ts (ties by type and item, which fixes every list). A state of user ``u`` cut
at time ``c`` is the last N events of ``u``'s run with ``ts < c``: the slice ``[end - length, end)``.

Finding ``end`` for millions of cuts is one binary search each, on a single int64 key per event:
with the distinct feedback times ``moments`` (M of them, ascending),

    key(u, ts) = u * (M + 1) + rank(ts),    rank(ts) = index of ts in moments,
    end(u, c)  = searchsorted(keys, u * (M + 1) + #{moments < c}),
    first(u)   = searchsorted(keys, u * (M + 1)),
    length     = min(end - first, N).

An event of ``u`` precedes the cut exactly when ``rank(ts) < #{moments < c}``, so ``end`` is one past
``u``'s last event strictly before ``c``; ranks stay below ``M + 1``, so no user's keys reach the next
user's. This replaces an ASOF join in SQL with a few vectorised searches (the slices then become
Arrow lists in ``recrl.states.write``). Cuts arrive in no useful order, so each search runs on them
sorted (numpy narrows every search from the previous one, which halves its time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeedbackHistory:
    """Feedback events (H of them) in the order of ``sql/states/history.sql``.

    keys: (H,) int64 ``user_key * (M + 1) + rank(ts)``, ascending.
    moments: (M,) int64 distinct event times in epoch microseconds, ascending.
    user_firsts: (U + 1,) int64 position of each user's first event (``first(u)`` above; 0 for u = 0).
    items: (H,) int32 vocabulary index of each event's item.
    types: (H,) int8 event type code (click 1, cart 2, purchase 3).
    """

    keys: np.ndarray
    moments: np.ndarray
    user_firsts: np.ndarray
    items: np.ndarray
    types: np.ndarray

    @classmethod
    def from_events(
        cls, user_key: np.ndarray, ts_us: np.ndarray, items: np.ndarray, types: np.ndarray
    ) -> FeedbackHistory:
        """From (H,) columns already sorted by (user_key, ts_us); user keys are >= 1."""
        moments = np.unique(ts_us)  # (M,)
        stride = len(moments) + 1
        if len(user_key) and int(user_key.max()) >= np.iinfo(np.int64).max // stride:
            raise ValueError(f"{user_key.max()} users x {stride} moments overflow the int64 state keys")
        keys = user_key.astype(np.int64) * stride + np.searchsorted(moments, ts_us)  # (H,)
        if np.any(keys[1:] < keys[:-1]):
            raise ValueError("feedback history is not sorted by user, then ts")
        n_users = int(user_key.max()) if len(user_key) else 0
        user_firsts = np.searchsorted(keys, np.arange(n_users + 1, dtype=np.int64) * stride)  # (U + 1,)
        return cls(
            keys=keys,
            moments=moments,
            user_firsts=user_firsts,
            items=items.astype(np.int32),
            types=types.astype(np.int8),
        )

    def slices(
        self, user_key: np.ndarray, cut_us: np.ndarray, history_len: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ends, lengths), both (B,) int64: each state's slice ``[end - length, end)`` of the events.

        user_key: (B,) the user of each state (0 = a user without feedback: empty slice).
        cut_us: (B,) the state holds the user's last ``history_len`` events strictly before this time.
        """
        user_start = user_key.astype(np.int64) * (len(self.moments) + 1)  # (B,)
        ends = _search(self.keys, user_start + _search(self.moments, cut_us))  # (B,)
        return ends, np.minimum(ends - self.user_firsts[user_key], history_len)


def _search(values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``np.searchsorted(values, queries)`` (left side), searching the queries in ascending order."""
    order = np.argsort(queries)
    found = np.empty(len(queries), dtype=np.int64)
    found[order] = np.searchsorted(values, queries[order])
    return found
