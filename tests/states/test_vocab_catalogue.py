"""Catalogue items (the lake's items table) in the vocabulary: new items get indices, nothing else changes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recrl.policies import UNKNOWN_INDEX
from recrl.schema import ITEM_SCHEMA
from recrl.states import build_states, load_transitions, load_vocab

from .lake_fixture import event, write_lake
from .random_log import random_events


def write_items(layout, item_ids: list[str]) -> None:
    folder = layout.items / "format=events"
    folder.mkdir(parents=True, exist_ok=True)
    titles = [f"title of {i}" for i in item_ids]
    pq.write_table(pa.table([item_ids, titles, [None] * len(item_ids)], schema=ITEM_SCHEMA), folder / "part-1.parquet")


def test_catalogue_items_never_in_train_are_appended_with_count_zero(tmp_path, small_config):
    night = random_events(seed=7, n_days=4)
    plain = write_lake(tmp_path / "plain", night)
    build_states(plain, small_config)
    without = load_vocab(plain)

    layout = write_lake(tmp_path / "catalogued", night)
    last_day = max(e["ts"] for e in night)
    # Shown on the test day only: without a catalogue entry it would be unknown.
    write_lake(layout.root, [event(last_day.strftime("%Y-%m-%d %H:%M:%S"), "user0", "cold-item", "click")],
               batch_id="late")
    train_item = without.item_ids[5]
    write_items(layout, ["never-logged", "cold-item", train_item])
    summary = build_states(layout, small_config)
    vocab = load_vocab(layout)

    # Train items keep exactly the indices and counts they get without a catalogue; the new ones follow.
    assert list(vocab.item_ids[: without.size]) == list(without.item_ids)
    assert np.array_equal(vocab.counts[: without.size], without.counts)
    assert list(vocab.item_ids[without.size:]) == ["cold-item", "never-logged"]
    assert vocab.counts[without.size:].tolist() == [0, 0]
    assert summary.vocab_size == without.size + 2
    # The cold item's test-day decision now names it instead of the unknown index.
    test = load_transitions(layout, "test")
    cold = vocab.index_of(["cold-item"])[0]
    assert cold != UNKNOWN_INDEX and cold in set(test.column("action").to_pylist())


def test_a_catalogued_item_keeps_its_index_when_it_reaches_train(tmp_path, small_config):
    night = random_events(seed=8, n_days=4)
    layout = write_lake(tmp_path, night)
    write_items(layout, ["new-item"])
    build_states(layout, small_config)
    first = load_vocab(layout)
    index = first.index_of(["new-item"])[0]
    last_day = max(e["ts"] for e in night)
    later = [event((last_day + timedelta(days=d)).strftime("%Y-%m-%d 09:00:00"), "user1", "new-item", "click")
             for d in (1, 2, 3)]
    write_lake(layout.root, later, batch_id="night-2")
    summary = build_states(layout, small_config)
    second = load_vocab(layout)
    assert second.index_of(["new-item"])[0] == index and summary.new_items == 0
    assert second.counts[index] == 1  # the first of the three days is train now
