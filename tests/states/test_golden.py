"""Golden tests: small logs whose every transition was computed by hand (see the comments)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pyarrow.compute as pc
import pytest

from recrl.states import build_states, load_transitions, load_vocab

from .lake_fixture import event, ts, write_lake

FIELDS = ("action", "click", "cart", "purchase", "reward", "history_items", "history_types",
          "next_history_items", "next_history_types", "done")


def observed(row):
    """The row's FIELDS, reward rounded (0.2 + 1.0 is not exactly 1.2 in binary floating point)."""
    return tuple(round(row[f], 9) if f == "reward" else row[f] for f in FIELDS)


def rows_by_id(layout, split):
    return {row["decision_id"]: row for row in load_transitions(layout, split).to_pylist()}


def impressions(when, user, request, items, propensities):
    return [
        event(when, user, item, "impression", position=k, request_id=request, propensity=p, policy_id="logger")
        for k, (item, p) in enumerate(zip(items, propensities, strict=True))
    ]


@pytest.fixture
def bandit_lake(tmp_path):
    rows = [
        # 2026-11-01 (train). u1's first session starts at 10:00 (no session ids: gap-sessionized).
        *impressions("2026-11-01 10:00:00", "u1", "r1", ["A", "B"], [0.5, 0.3]),
        event("2026-11-01 10:00:05", "u1", "A", "click", position=0, request_id="r1"),
        event("2026-11-01 10:00:20", "u1", "A", "purchase", position=0, request_id="r1"),
        *impressions("2026-11-01 10:05:00", "u1", "r2", ["C", "A"], [0.4, 0.2]),
        event("2026-11-01 10:05:10", "u1", "C", "click", position=0, request_id="r2"),
        # 54 minutes after u1's last event: a new session.
        *impressions("2026-11-01 11:00:00", "u1", "r3", ["B", "C"], [0.6, 0.1]),
        *impressions("2026-11-01 12:00:00", "u2", "r6", ["E"], [0.9]),
        # 2026-11-02 (valid): D is new, so it maps to unknown (1).
        *impressions("2026-11-02 09:00:00", "u1", "r4", ["D", "A"], [0.7, 0.2]),
        event("2026-11-02 09:00:30", "u1", "D", "click", position=0, request_id="r4"),
        # 2026-11-03 (test): the click on B shares the impression's ts; it must not enter r5's state.
        *impressions("2026-11-03 09:00:00", "u1", "r5", ["A", "B"], [0.5, 0.5]),
        event("2026-11-03 09:00:00", "u1", "B", "click", position=1, request_id="r5"),
        event("2026-11-03 09:00:10", "u1", "B", "cart", position=1, request_id="r5"),
    ]
    return write_lake(tmp_path, rows)


def test_bandit_transitions_match_hand_computed(bandit_lake, small_config):
    config = dataclasses.replace(small_config, history_len=2)
    summary = build_states(bandit_lake, config)

    # Train items (all first seen 2026-11-01) numbered by id: A=2, B=3, C=4, E=5.
    vocab = load_vocab(bandit_lake)
    assert list(vocab.item_ids) == ["<pad>", "<unk>", "A", "B", "C", "E"]
    assert list(vocab.counts) == [0, 0, 4, 2, 3, 1]
    assert summary.counts == {
        "train": {"bandit": 7, "sequence": 0},
        "valid": {"bandit": 2, "sequence": 0},
        "test": {"bandit": 2, "sequence": 0},
    }
    assert summary.dates == {
        "train": (date(2026, 11, 1),), "valid": (date(2026, 11, 2),), "test": (date(2026, 11, 3),)
    }

    expected = {
        # r1: empty state; A clicked and bought (0.2 + 1.0); next state before r2 (10:05): A click, A purchase.
        "bandit:r1:0:A": (2, 1, 0, 1, 1.2, [], [], [2, 2], [1, 3], False),
        "bandit:r1:1:B": (3, 0, 0, 0, 0.0, [], [], [2, 2], [1, 3], False),
        # r2: last request of the first session -> done; next state after its click C (N = 2 keeps A purchase, C click).
        "bandit:r2:0:C": (4, 1, 0, 0, 0.2, [2, 2], [1, 3], [2, 4], [3, 1], True),
        "bandit:r2:1:A": (2, 0, 0, 0, 0.0, [2, 2], [1, 3], [2, 4], [3, 1], True),
        # r3: the user's history crosses sessions; no feedback, so the next state equals the state.
        "bandit:r3:0:B": (3, 0, 0, 0, 0.0, [2, 4], [3, 1], [2, 4], [3, 1], True),
        "bandit:r3:1:C": (4, 0, 0, 0, 0.0, [2, 4], [3, 1], [2, 4], [3, 1], True),
        "bandit:r6:0:E": (5, 0, 0, 0, 0.0, [], [], [], [], True),
    }
    train = rows_by_id(bandit_lake, "train")
    assert set(train) == set(expected)
    for decision_id, hand_computed in expected.items():
        assert observed(train[decision_id]) == hand_computed, decision_id
    assert train["bandit:r1:1:B"]["propensity"] == 0.3
    assert train["bandit:r1:1:B"]["position"] == 1
    assert train["bandit:r1:1:B"]["policy_id"] == "logger"
    assert train["bandit:r1:0:A"]["session_id"] == train["bandit:r2:0:C"]["session_id"]
    assert train["bandit:r3:0:B"]["session_id"] == "gap:u1:2026-11-01T11:00:00.000000Z"

    valid = rows_by_id(bandit_lake, "valid")
    # D is unknown (1) in the action and in the next state.
    assert observed(valid["bandit:r4:0:D"]) == (1, 1, 0, 0, 0.2, [2, 4], [3, 1], [4, 1], [1, 1], True)
    test = rows_by_id(bandit_lake, "test")
    # The click on B at the impression's own ts is not in the state; click + cart = 0.2 + 0.5.
    assert observed(test["bandit:r5:1:B"]) == (3, 1, 1, 0, 0.7, [4, 1], [1, 1], [3, 3], [1, 2], True)
    assert test["bandit:r5:0:A"]["reward"] == 0.0


@pytest.fixture
def sequence_lake(tmp_path):
    rows = [
        # 2026-11-01 (train). v1 carries its own session id s1.
        event("2026-11-01 08:00:00", "v1", "X", "click", session_id="s1"),
        event("2026-11-01 08:01:00", "v1", "Y", "click", session_id="s1"),
        event("2026-11-01 08:02:00", "v1", "Y", "cart", session_id="s1"),
        event("2026-11-01 08:03:00", "v1", "Z", "click", session_id="s1"),
        event("2026-11-01 08:03:00", "v1", "Z", "purchase", session_id="s1"),
        # v2 has no session ids: 09:00-09:10 is one session, 10:00 (50 min later) starts another.
        event("2026-11-01 09:00:00", "v2", "X", "click"),
        event("2026-11-01 09:10:00", "v2", "Y", "click"),
        event("2026-11-01 10:00:00", "v2", "X", "click"),
        event("2026-11-01 10:20:00", "v2", "Z", "click"),
        # 2026-11-02 (valid): W was never in train -> unknown (1).
        event("2026-11-02 09:00:00", "v2", "W", "click"),
        # 2026-11-03 (test): a new session of v1; its state is v1's history across sessions.
        event("2026-11-03 10:00:00", "v1", "X", "click", session_id="s2"),
    ]
    return write_lake(tmp_path, rows)


def sequence_id(user, session, when, item):
    return f"sequence:{user}:{session}:{int(ts(when).timestamp() * 1_000_000)}:{item}"


def test_sequence_transitions_and_gap_sessions_match_hand_computed(sequence_lake, small_config):
    summary = build_states(sequence_lake, small_config)
    assert list(load_vocab(sequence_lake).item_ids) == ["<pad>", "<unk>", "X", "Y", "Z"]
    assert summary.counts["train"] == {"bandit": 0, "sequence": 8}
    first, second = "gap:v2:2026-11-01T09:00:00.000000Z", "gap:v2:2026-11-01T10:00:00.000000Z"
    # N = 3; X=2, Y=3, Z=4; types click 1, cart 2, purchase 3.
    expected = {
        sequence_id("v1", "s1", "2026-11-01 08:00:00", "X"): (2, 1, 0, 0, 0.2, [], [], [2], [1], False),
        sequence_id("v1", "s1", "2026-11-01 08:01:00", "Y"): (3, 1, 0, 0, 0.2, [2], [1], [2, 3], [1, 1], False),
        sequence_id("v1", "s1", "2026-11-01 08:02:00", "Y"): (
            3, 0, 1, 0, 0.5, [2, 3], [1, 1], [2, 3, 3], [1, 1, 2], False),
        # Click and purchase of Z at one ts form one step; its reward is the strongest event's (purchase).
        sequence_id("v1", "s1", "2026-11-01 08:03:00", "Z"): (
            4, 1, 0, 1, 1.0, [2, 3, 3], [1, 1, 2], [3, 4, 4], [2, 1, 3], True),
        sequence_id("v2", first, "2026-11-01 09:00:00", "X"): (2, 1, 0, 0, 0.2, [], [], [2], [1], False),
        sequence_id("v2", first, "2026-11-01 09:10:00", "Y"): (3, 1, 0, 0, 0.2, [2], [1], [2, 3], [1, 1], True),
        sequence_id("v2", second, "2026-11-01 10:00:00", "X"): (
            2, 1, 0, 0, 0.2, [2, 3], [1, 1], [2, 3, 2], [1, 1, 1], False),
        sequence_id("v2", second, "2026-11-01 10:20:00", "Z"): (
            4, 1, 0, 0, 0.2, [2, 3, 2], [1, 1, 1], [3, 2, 4], [1, 1, 1], True),
    }
    train = rows_by_id(sequence_lake, "train")
    assert set(train) == set(expected)
    for decision_id, hand_computed in expected.items():
        assert observed(train[decision_id]) == hand_computed, decision_id
        assert train[decision_id]["propensity"] is None and train[decision_id]["position"] is None

    valid = rows_by_id(sequence_lake, "valid")
    (w_row,) = valid.values()
    assert w_row["session_id"] == "gap:v2:2026-11-02T09:00:00.000000Z"
    assert observed(w_row) == (1, 1, 0, 0, 0.2, [3, 2, 4], [1, 1, 1], [2, 4, 1], [1, 1, 1], True)
    (x_row,) = rows_by_id(sequence_lake, "test").values()
    assert x_row["session_id"] == "s2"
    assert observed(x_row) == (2, 1, 0, 0, 0.2, [3, 4, 4], [2, 1, 3], [4, 4, 2], [1, 3, 1], True)


def test_session_gap_is_configurable(sequence_lake, small_config):
    # With a 60-minute gap, v2's 09:00-10:20 clicks are one session: one done flag instead of two.
    build_states(sequence_lake, dataclasses.replace(small_config, session_gap_minutes=60))
    train = load_transitions(sequence_lake, "train", kind="sequence")
    v2 = train.filter(pc.equal(train.column("user_id"), "v2"))
    assert set(v2.column("session_id").to_pylist()) == {"gap:v2:2026-11-01T09:00:00.000000Z"}
    assert v2.column("done").to_pylist() == [False, False, False, True]


def test_rewards_follow_configured_weights(bandit_lake, small_config):
    build_states(bandit_lake, dataclasses.replace(small_config, reward_click=1.0, reward_cart=0.0, reward_purchase=5.0))
    train = rows_by_id(bandit_lake, "train")
    assert train["bandit:r1:0:A"]["reward"] == pytest.approx(6.0)
    assert rows_by_id(bandit_lake, "test")["bandit:r5:1:B"]["reward"] == pytest.approx(1.0)


def test_exact_duplicate_rows_from_another_batch_change_nothing(bandit_lake, small_config):
    build_states(bandit_lake, small_config)
    before = load_transitions(bandit_lake, "train")
    # Ingest failed to dedup: the same r1 rows again, in a second batch file.
    write_lake(bandit_lake.root, [
        *impressions("2026-11-01 10:00:00", "u1", "r1", ["A", "B"], [0.5, 0.3]),
        event("2026-11-01 10:00:05", "u1", "A", "click", position=0, request_id="r1"),
    ], batch_id="batch-2")
    build_states(bandit_lake, small_config)
    assert load_transitions(bandit_lake, "train").equals(before)
