"""A random mixed log (slates with feedback, organic sessions) with many timestamp ties, and a
pure-Python reference of the states the SQL must produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from recrl.schema import HISTORY_TYPE_CODE

START = datetime(2026, 11, 1, tzinfo=UTC)


def random_events(seed: int, n_users: int = 12, n_items: int = 25, n_days: int = 5) -> list[dict]:
    """Timestamps fall on whole minutes, so feedback often shares a decision's ts (the case leakage hides in)."""
    rng = np.random.default_rng(seed)
    events: list[dict] = []
    base = {"session_id": None, "position": None, "request_id": None, "propensity": None, "policy_id": None}
    for user in range(n_users):
        user_id = f"user{user}"
        for day in range(n_days):
            minute = int(rng.integers(0, 600))
            for request in range(int(rng.integers(1, 5))):
                when = START + timedelta(days=day, minutes=minute)
                request_id = f"{user_id}-d{day}-r{request}"
                shown = rng.choice(n_items, size=3, replace=False)
                for position, item in enumerate(shown):
                    events.append({**base, "ts": when, "user_id": user_id, "item_id": f"i{item}",
                                   "event_type": "impression", "position": position, "request_id": request_id,
                                   "propensity": float(rng.uniform(0.05, 0.5)), "policy_id": "random"})
                    if rng.random() < 0.35:
                        delay = timedelta(minutes=int(rng.integers(0, 2)))  # 0: same ts as the impression
                        events.append({**base, "ts": when + delay, "user_id": user_id, "item_id": f"i{item}",
                                       "event_type": "click", "position": position, "request_id": request_id})
                        if rng.random() < 0.3:
                            events.append({**base, "ts": when + delay + timedelta(minutes=1), "user_id": user_id,
                                           "item_id": f"i{item}", "event_type": "purchase", "position": position,
                                           "request_id": request_id})
                minute += int(rng.integers(0, 50))  # sometimes beyond the 30-minute gap
            for _ in range(int(rng.integers(0, 6))):
                minute += int(rng.integers(0, 3))
                events.append({**base, "ts": START + timedelta(days=day, minutes=minute), "user_id": user_id,
                               "item_id": f"i{int(rng.integers(n_items))}",
                               "event_type": str(rng.choice(["click", "click", "cart", "purchase"]))})
    return events


def _order_key(event: dict) -> tuple:
    # sql/states/history.sql's order within a user (ts, type, item), refined by request and position:
    # rows tied on (ts, type, item) hold the same item and type, so the refinement changes no list.
    def last(value):
        return (value is None, value if value is not None else 0)

    return (event["ts"], event["event_type"], event["item_id"], last(event["request_id"]), last(event["position"]))


def reference_history(events: list[dict], index_of, user_id: str, before: datetime, history_len: int):
    """(items, types) of the user's last ``history_len`` feedback events strictly before ``before``.

    Exact duplicate rows count once, as the lake's DISTINCT read makes them.
    """
    distinct = {tuple(sorted(e.items())): e for e in events if e["user_id"] == user_id}.values()
    past = sorted(
        (e for e in distinct if e["event_type"] != "impression" and e["ts"] < before), key=_order_key
    )[-history_len:]
    items = [int(i) for i in index_of([e["item_id"] for e in past])] if past else []
    return items, [HISTORY_TYPE_CODE[e["event_type"]] for e in past]
