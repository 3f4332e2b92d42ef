"""Arrow transitions -> padded numpy arrays, the vocabulary lookup, and bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from recrl.lake import DataLayout
from recrl.states import build_states, load_transitions, load_vocab, to_arrays
from recrl.states.export import pad_lists

from .lake_fixture import write_lake
from .random_log import random_events


def test_pad_lists_keeps_the_newest_values_right_aligned():
    lists = pa.array([[], [5], [1, 2, 3, 4], [7, 8]], type=pa.list_(pa.int32()))
    assert pad_lists(lists, 3).tolist() == [[0, 0, 0], [0, 0, 5], [2, 3, 4], [0, 7, 8]]
    # A slice starts at a non-zero offset; a chunked column pads each chunk the same way.
    assert pad_lists(lists.slice(2, 2), 2).tolist() == [[3, 4], [7, 8]]
    chunked = pa.chunked_array([lists.slice(0, 2), lists.slice(2, 2)])
    assert pad_lists(chunked, 3).tolist() == pad_lists(lists, 3).tolist()


def test_pad_lists_rejects_null_lists_and_zero_width():
    with pytest.raises(ValueError, match="must not be null"):
        pad_lists(pa.array([[1], None], type=pa.list_(pa.int32())), 2)
    with pytest.raises(ValueError, match="history_len"):
        pad_lists(pa.array([[1]], type=pa.list_(pa.int32())), 0)


@pytest.fixture
def built(tmp_path, small_config):
    layout = write_lake(tmp_path, random_events(seed=2))
    build_states(layout, small_config)
    return layout


def test_to_arrays_matches_the_table_row_for_row(built):
    table = load_transitions(built, "train")
    arrays = to_arrays(table, history_len=5)
    rows = table.to_pylist()
    assert len(arrays) == len(rows) > 0
    assert arrays.states.history_items.shape == (len(rows), 5) and arrays.states.history_items.dtype == np.int64
    for i in (0, len(rows) // 2, len(rows) - 1):
        row = rows[i]
        items = row["history_items"]
        assert arrays.states.history_items[i].tolist() == [0] * (5 - len(items)) + items
        assert arrays.next_states.history_types[i].tolist()[5 - len(row["next_history_types"]):] == row[
            "next_history_types"]
        assert arrays.action[i] == row["action"] and arrays.decision_id[i] == row["decision_id"]
        assert arrays.states.user_ids[i] == row["user_id"]
    is_bandit = arrays.kind == "bandit"
    assert is_bandit.any() and (~is_bandit).any()
    assert np.all(np.isnan(arrays.propensity[~is_bandit])) and np.all(arrays.propensity[is_bandit] > 0)
    assert np.all(arrays.position[~is_bandit] == -1) and np.all(arrays.position[is_bandit] >= 0)
    assert arrays.ts.dtype == np.dtype("datetime64[us]") and np.all(np.diff(arrays.ts) >= np.timedelta64(0))
    expected_reward = 0.2 * arrays.click + 0.5 * arrays.cart + 1.0 * arrays.purchase
    assert np.allclose(arrays.reward[is_bandit], expected_reward[is_bandit])


def test_take_selects_the_same_rows_in_every_field(built):
    arrays = to_arrays(load_transitions(built, "test"), history_len=3)
    picked = arrays.take(np.array([2, 0]))
    assert len(picked) == 2
    assert picked.decision_id.tolist() == [arrays.decision_id[2], arrays.decision_id[0]]
    assert np.array_equal(picked.next_states.history_items, arrays.next_states.history_items[[2, 0]])
    assert np.array_equal(picked.propensity, arrays.propensity[[2, 0]], equal_nan=True)


def test_load_transitions_filters_by_kind_and_checks_its_arguments(built, tmp_path):
    bandit = load_transitions(built, "valid", kind="bandit")
    assert len(bandit) > 0 and set(bandit.column("kind").to_pylist()) == {"bandit"}
    assert set(bandit.column("split").to_pylist()) == {"valid"}
    with pytest.raises(ValueError, match="split"):
        load_transitions(built, "training")
    with pytest.raises(ValueError, match="kind"):
        load_transitions(built, "train", kind="slate")
    with pytest.raises(FileNotFoundError, match="transitions not found"):
        load_transitions(DataLayout(tmp_path / "nowhere"), "train")
    with pytest.raises(ValueError, match="missing column"):
        to_arrays(bandit.drop_columns(["done"]), history_len=3)


def test_vocabulary_lookup(built, tmp_path):
    vocab = load_vocab(built)
    assert vocab.size == len(vocab.item_ids) and list(vocab.item_ids[:2]) == ["<pad>", "<unk>"]
    known = vocab.item_ids[[2, vocab.size - 1]]
    assert vocab.index_of(np.array([known[1], "never-seen", known[0]])).tolist() == [vocab.size - 1, 1, 2]
    assert vocab.index_of(pa.array([known[0]])).tolist() == [2]
    with pytest.raises(FileNotFoundError, match="item vocabulary not found"):
        load_vocab(DataLayout(tmp_path / "nowhere"))
