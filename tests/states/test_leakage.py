"""No state sees its future: every state equals a brute-force "strictly before" reference."""

from __future__ import annotations

from collections import Counter

from recrl.states import build_states, load_transitions, load_vocab

from .lake_fixture import write_lake
from .random_log import random_events, reference_history


def test_no_state_sees_an_event_at_or_after_its_decision_time(tmp_path, small_config):
    events = random_events(seed=7)
    layout = write_lake(tmp_path, events)
    summary = build_states(layout, small_config)
    vocab = load_vocab(layout)
    n = small_config.history_len

    feedback_ts = Counter((e["user_id"], e["ts"]) for e in events if e["event_type"] != "impression")
    checked = ties = 0
    for split in ("train", "valid", "test"):
        table = load_transitions(layout, split)
        assert len(table) == sum(summary.counts[split].values())
        for row in table.select(["user_id", "ts", "history_items", "history_types", "kind"]).to_pylist():
            expected = reference_history(events, vocab.index_of, row["user_id"], row["ts"], n)
            assert (row["history_items"], row["history_types"]) == expected, row
            ties += feedback_ts[(row["user_id"], row["ts"])] > 0
            checked += 1
    # The log must exercise the hard case: feedback stamped exactly at a decision's time.
    assert checked == summary.total and summary.counts["test"]["bandit"] > 20
    assert ties > 50


def test_test_split_states_hold_only_earlier_events(tmp_path, small_config):
    """Direct check on the test split with every feedback event its own item: each history is as long
    as the user's earlier feedback allows, and holds exactly as many unknown items as those earlier
    events that fall after the train dates (an event at or after the decision would add one)."""
    events = random_events(seed=11)
    for number, event in enumerate(events):
        if event["event_type"] != "impression":
            event["item_id"] = f"once{number}"  # every feedback event its own item
    layout = write_lake(tmp_path, events)
    train_dates = set(build_states(layout, small_config).dates["train"])
    table = load_transitions(layout, "test")
    # Items first seen after the train dates are unknown (1) in the vocabulary: count them.
    for row in table.select(["user_id", "ts", "history_items"]).to_pylist():
        earlier = [e for e in events if e["user_id"] == row["user_id"] and e["event_type"] != "impression"
                   and e["ts"] < row["ts"]]
        assert len(row["history_items"]) == min(len(earlier), small_config.history_len)
        recent = sorted(earlier, key=lambda e: e["ts"])[-small_config.history_len:]
        assert row["history_items"].count(1) == sum(e["ts"].date() not in train_dates for e in recent)
