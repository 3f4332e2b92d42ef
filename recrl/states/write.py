"""Transition rows with state cuts -> the transitions Parquet dataset (``split=S/date=D/`` folders).

``sql/states/transitions.sql`` gives every decision its user and the times its state and next state
are cut at; ``recrl.states.history`` turns each cut into a slice of the user's feedback (positions
``[end - length, end)``). Carrying lists through DuckDB's joins and its Parquet writer was most of
the build's time, so the lists are made here, in Arrow, and each batch's rows of a date are written
as one Parquet file by polars (memory stays bounded by one batch, whatever the log's size). Polars
encodes the list columns for less CPU than pyarrow's ``ParquetWriter`` (2.9 vs 3.9 CPU-seconds for
2.7M transitions, same file size), so a folder holds one file per batch that had rows of its date.

Gathering without per-row Python: for B rows with slice ends ``e`` and lengths ``n``, the list
offsets are ``o = [0, cumsum(n)]`` and flat slot ``j`` of row ``i`` (``o_i <= j < o_{i+1}``) takes
``values[j - o_i + e_i - n_i]``, i.e. ``source = arange(o_B) + repeat(e - n - o[:-1], n)``.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from recrl.states.export import TRANSITION_SCHEMA
from recrl.states.history import FeedbackHistory

PART_FILE = "part-{batch:05d}.parquet"
"""Name of a ``split=S/date=D`` folder's file holding the rows of batch ``batch`` (0, 1, ...)."""


def slice_lists(
    items: np.ndarray, types: np.ndarray, ends: np.ndarray, lengths: np.ndarray
) -> tuple[pa.ListArray, pa.ListArray]:
    """(items[e - n : e], types[e - n : e]) for every row, as list<int32> and list<int8> arrays.

    Parameters
    ----------
    items, types : (H,) int32 / int8, the values the slices point into.
    ends, lengths : (B,) one past each slice's last position, and its length (0 = empty list).
    """
    lengths = lengths.astype(np.int64)  # (B,)
    starts = ends - lengths  # (B,)
    if len(ends) and (starts.min() < 0 or ends.max() > len(items) or lengths.min() < 0):
        raise ValueError(f"a state slice lies outside the {len(items)} history values")
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)  # (B + 1,)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError(f"a batch holds {offsets[-1]} history values, more than list<int32> offsets allow")
    source = np.arange(offsets[-1], dtype=np.int64) + np.repeat(starts - offsets[:-1], lengths)  # (total,)
    list_offsets = _arrow(offsets.astype(np.int32), pa.int32())
    return (
        pa.ListArray.from_arrays(list_offsets, _arrow(items[source].astype(np.int32, copy=False), pa.int32())),
        pa.ListArray.from_arrays(list_offsets, _arrow(types[source].astype(np.int8, copy=False), pa.int8())),
    )


def _arrow(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A contiguous numpy array of ``dtype``'s width as an Arrow array, zero-copy.

    ``pa.array(ndarray)`` would import pandas to check for pandas objects (1.4 s on a machine
    without compiled bytecode, in every build).
    """
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(values)])


def _with_lists(rows: pl.DataFrame, history: FeedbackHistory, history_len: int) -> pl.DataFrame:
    """transitions.sql rows -> rows of TRANSITION_SCHEMA (state cuts replaced by their lists)."""
    user_key = rows["user_key"].to_numpy()  # (B,)
    lists = []
    for prefix, cut in (("", "state_cut_us"), ("next_", "next_cut_us")):
        ends, lengths = history.slices(user_key, rows[cut].to_numpy(), history_len)
        items, types = slice_lists(history.items, history.types, ends, lengths)
        lists += [pl.Series(f"{prefix}history_items", items), pl.Series(f"{prefix}history_types", types)]
    return rows.with_columns(lists).select(TRANSITION_SCHEMA.names)


def _partitions(batch: pa.RecordBatch) -> list[tuple[str, pl.DataFrame]]:
    """(folder ``split=S/date=D``, its rows) for every date in ``batch`` (a date has one split).

    Split by polars before the lists are built, so only fixed-width and string columns are gathered
    (a pyarrow filter per date, or one pyarrow take, cost 1.0 s for 2.7M transitions over 7 dates;
    polars 0.3 s with the conversion).
    """
    parts = pl.from_arrow(batch).partition_by("date", as_dict=True)
    return [
        (f"split={rows['split'][0]}/date={day.isoformat()}", rows) for (day,), rows in sorted(parts.items())
    ]


def write_transitions(
    batches: pa.RecordBatchReader,
    history: FeedbackHistory,
    history_len: int,
    out_dir: Path,
    threads: int = 1,
) -> Counter[tuple[str, str]]:
    """Write the rows of ``batches`` (transitions.sql) under ``out_dir``; returns rows per (split, kind).

    States hold the last ``history_len`` events of ``history`` before their cut. Batch ``b``'s rows
    of date D go to ``out_dir/split=S/date=D/part-{b:05d}.parquet``; up to ``threads`` files are
    written at once. Nothing is created when ``batches`` holds no rows.
    """
    counts: Counter[tuple[str, str]] = Counter()

    def write(path: Path, rows: pl.DataFrame) -> pl.DataFrame:
        table = _with_lists(rows, history, history_len)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path, compression="snappy", statistics=True)
        return table.group_by("split", "kind").len()

    def tally(parts_written: list[Future[pl.DataFrame]]) -> None:
        for done in parts_written:
            for split, kind, n in done.result().iter_rows():
                counts[(split, kind)] += n

    # The pool writes one batch's parts (one per folder, so in parallel) while DuckDB makes the next
    # batch; the next batch's parts wait for them, so memory holds at most two batches.
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        in_flight: list[Future[pl.DataFrame]] = []
        try:
            for batch_index, batch in enumerate(batches):
                parts = _partitions(batch)
                tally(in_flight)
                in_flight = [
                    pool.submit(write, out_dir / folder / PART_FILE.format(batch=batch_index), rows)
                    for folder, rows in parts
                ]
            tally(in_flight)
        finally:
            wait(in_flight)
    return counts
