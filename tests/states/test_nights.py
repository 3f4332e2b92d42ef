"""Stability across nights: a rebuild is identical; a later night keeps every item's index."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recrl.states import build_states, load_transitions, load_vocab
from recrl.states.vocab import vocab_path

from .lake_fixture import event, write_lake
from .random_log import random_events

SPLITS = ("train", "valid", "test")


def snapshot(layout):
    return pq.read_table(vocab_path(layout)), {split: load_transitions(layout, split) for split in SPLITS}


def test_rebuilding_the_same_night_gives_identical_tables(tmp_path, small_config):
    layout = write_lake(tmp_path, random_events(seed=3))
    first_summary = build_states(layout, small_config)
    first_vocab, first = snapshot(layout)
    second_summary = build_states(layout, small_config)
    second_vocab, second = snapshot(layout)
    assert (first_summary.counts, first_summary.dates) == (second_summary.counts, second_summary.dates)
    assert first_summary.vocab_size == second_summary.vocab_size and second_summary.new_items == 0
    assert first_vocab.equals(second_vocab)
    for split in SPLITS:
        assert len(first[split]) > 0
        assert first[split].equals(second[split]), split
    # Decision ids are unique across all splits.
    ids = pc.unique(pa.chunked_array([c for t in first.values() for c in t.column("decision_id").chunks]))
    assert len(ids) == sum(len(t) for t in first.values())


def test_a_second_night_keeps_every_item_index_and_appends_new_items(tmp_path, small_config):
    night_one = random_events(seed=5, n_days=4)
    layout = write_lake(tmp_path, night_one, batch_id="night-1")
    build_states(layout, small_config)
    vocab_one = load_vocab(layout)
    test_one = load_transitions(layout, "test")
    first_test_day = test_one.column("date")[0].as_py()
    # An item that only the test day of night one shows: unknown (1) then.
    late = {**night_one[0], "ts": night_one[0]["ts"].replace(day=first_test_day.day), "item_id": "late-item",
            "event_type": "click", "request_id": None, "position": None, "propensity": None, "policy_id": None}
    write_lake(layout.root, [late], batch_id="night-1-late")
    build_states(layout, small_config)
    assert vocab_one.index_of(["late-item"])[0] == 1

    last_day = max(e["ts"] for e in night_one)
    night_two = [
        event((last_day + timedelta(days=1)).strftime("%Y-%m-%d 08:00:00"), "newcomer", "brand-new", "click"),
        event((last_day + timedelta(days=2)).strftime("%Y-%m-%d 08:00:00"), "newcomer", "brand-new", "click"),
    ]
    write_lake(layout.root, night_two, batch_id="night-2")
    summary = build_states(layout, small_config)
    vocab_two = load_vocab(layout)
    # Every night-one index still names the same item; the old test day is now train, so late-item joins.
    assert list(vocab_two.item_ids[: vocab_one.size]) == list(vocab_one.item_ids)
    appended = list(vocab_two.item_ids[vocab_one.size:])
    assert "late-item" in appended and summary.new_items == len(appended)
    assert "brand-new" not in appended  # first seen in night two's valid/test days
    assert vocab_two.index_of(["late-item"])[0] >= vocab_one.size


def test_a_failed_build_leaves_the_previous_states_untouched(tmp_path, small_config):
    layout = write_lake(tmp_path, random_events(seed=4))
    build_states(layout, small_config)
    vocab, tables = snapshot(layout)
    with pytest.raises(ValueError, match="too few for test_days=30"):
        build_states(layout, dataclasses.replace(small_config, test_days=30))
    with pytest.raises(ValueError, match="history_len"):
        build_states(layout, dataclasses.replace(small_config, history_len=0))
    vocab_after, tables_after = snapshot(layout)
    assert vocab_after.equals(vocab) and all(tables_after[s].equals(tables[s]) for s in SPLITS)
    assert not list(layout.states.glob(".build-*"))
