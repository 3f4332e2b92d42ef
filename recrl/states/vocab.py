"""The item vocabulary: item id <-> the integer index every model and array uses.

Stored as ``{states}/item_vocab.parquet`` with columns ``item_index`` (int32), ``item_id``,
``count`` (events of the item in this night's train split) and ``first_seen_date`` (first train
date it occurred on). Index 0 is padding and 1 the unknown item; the file holds only real items,
numbered from 2 without gaps.

Stable across nights: an item keeps its index forever; items that a later night's train split
holds for the first time (at least ``min_item_count`` times) are appended. It is built from the
train split only, so an item first seen in valid or test maps to 1 (unknown) until a later
night's train split contains it: the evaluation never sees an embedding trained on its own days.
The one exception is the catalogue: items of the lake's items table (``{lake}/items``) that never
occur in train are appended after them with ``count`` 0, so a new item with a title but no history yet
has an index and can be recommended (each policy scores it as it scores any unseen item; the text
agent, ``recrl.agents.text``, from its title). Nothing about its events enters the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recrl.lake import DataLayout
from recrl.policies import N_RESERVED, UNKNOWN_INDEX

VOCAB_FILE = "item_vocab.parquet"
RESERVED_ITEM_IDS: tuple[str, ...] = ("<pad>", "<unk>")
"""Names of the reserved indices 0 and 1 in ``Vocabulary.item_ids``."""

VOCAB_SCHEMA = pa.schema(
    [
        pa.field("item_index", pa.int32(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("first_seen_date", pa.date32(), nullable=False),
    ]
)
"""Columns of ``item_vocab.parquet``."""


def vocab_path(layout: DataLayout) -> Path:
    return layout.states / VOCAB_FILE


CATALOGUE_SCHEMA = pa.schema([pa.field("item_id", pa.string(), nullable=False)])


def read_catalogue_ids(layout: DataLayout) -> pa.Table:
    """Distinct item ids of the lake's items table (every format's files), sorted; empty without one."""
    files = sorted(layout.items.glob("**/*.parquet"))
    if not files:
        return pa.Table.from_batches([], schema=CATALOGUE_SCHEMA)
    ids = pa.chunked_array([pq.read_table(f, columns=["item_id"]).column("item_id").cast(pa.string()) for f in files])
    unique = pc.unique(ids.combine_chunks().drop_null())
    return pa.Table.from_arrays([pc.take(unique, pc.array_sort_indices(unique))], schema=CATALOGUE_SCHEMA)


def read_vocab_table(path: Path) -> pa.Table:
    """The vocabulary file at ``path`` checked for a gap-free index from 2; empty table if absent."""
    if not path.exists():
        return pa.Table.from_batches([], schema=VOCAB_SCHEMA)  # Schema.empty_table imports pandas (1.4 s)
    table = pq.read_table(path).select(VOCAB_SCHEMA.names).cast(VOCAB_SCHEMA).sort_by("item_index")
    index = table.column("item_index").to_numpy()
    if not np.array_equal(index, np.arange(N_RESERVED, N_RESERVED + len(index))):
        raise ValueError(f"item vocabulary {path} does not number its items 2, 3, ... without gaps")
    if pc.count_distinct(table.column("item_id")).as_py() != len(table):
        raise ValueError(f"item vocabulary {path} lists an item id twice")
    return table


@dataclass(frozen=True)
class Vocabulary:
    """Index <-> item id.

    item_ids: (V,) str array, ``item_ids[i]`` = id of index i; ``item_ids[:2]`` = ("<pad>", "<unk>").
    counts: (V,) int64 train events per item (0 for the reserved indices).
    """

    item_ids: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        """V: number of indices, reserved ones included (the width of a score vector)."""
        return int(self.item_ids.shape[0])

    def index_of(self, ids: np.ndarray | list[str] | pa.Array) -> np.ndarray:
        """(B,) int64 index of each id; ids outside the vocabulary map to 1 (unknown)."""
        known = pa.array(self.item_ids[N_RESERVED:], type=pa.string())
        if isinstance(ids, pa.Array | pa.ChunkedArray):
            values = ids.cast(pa.string())
        else:
            values = pa.array(np.asarray(ids, dtype=object), type=pa.string())
        found = pc.index_in(values, value_set=known)
        return pc.fill_null(pc.add(found, N_RESERVED), UNKNOWN_INDEX).to_numpy().astype(np.int64)


def load_vocab(layout: DataLayout) -> Vocabulary:
    """The vocabulary ``build_states`` wrote under ``layout.states``."""
    path = vocab_path(layout)
    if not path.is_file():
        raise FileNotFoundError(f"item vocabulary not found: {path} (run `recrl states` first)")
    table = read_vocab_table(path)
    item_ids = np.concatenate(
        [np.array(RESERVED_ITEM_IDS, dtype=object), table.column("item_id").to_numpy(zero_copy_only=False)]
    )
    counts = np.concatenate([np.zeros(N_RESERVED, dtype=np.int64), table.column("count").to_numpy()])
    return Vocabulary(item_ids=item_ids.astype(str), counts=counts)
