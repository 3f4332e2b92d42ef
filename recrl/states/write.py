"""Transition rows with state cuts -> the transitions Parquet dataset (``split=S/date=D/`` folders).

``sql/states/transitions.sql`` gives every decision its user and the times its state and next state
are cut at; ``recrl.states.history`` turns each cut into a slice of the user's feedback (positions
``[end - length, end)``). Carrying lists through DuckDB's joins and its Parquet writer was most of
the build's time, so the lists are made here, in Arrow, and written with pyarrow batch by batch
(memory stays bounded by one batch, whatever the log's size).

Gathering without per-row Python: for B rows with slice ends ``e`` and lengths ``n``, the list
offsets are ``o = [0, cumsum(n)]`` and flat slot ``j`` of row ``i`` (``o_i <= j < o_{i+1}``) takes
``values[j - o_i + e_i - n_i]``, i.e. ``source = arange(o_B) + repeat(e - n - o[:-1], n)``.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recrl.states.export import TRANSITION_SCHEMA
from recrl.states.history import FeedbackHistory

PART_FILE = "part-0.parquet"
"""Name of the one file in each ``split=S/date=D`` folder."""

_LIST_COLUMNS = ("history_items", "history_types", "next_history_items", "next_history_types")
# Dictionary pages pay off for the repetitive strings only; list values and ids are mostly distinct.
_DICTIONARY_COLUMNS = ["kind", "split", "user_id", "session_id", "action_item_id", "policy_id"]
_STATISTICS_COLUMNS = [name for name in TRANSITION_SCHEMA.names if name not in _LIST_COLUMNS]


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
    list_offsets = pa.array(offsets.astype(np.int32))
    return (
        pa.ListArray.from_arrays(list_offsets, pa.array(items[source], pa.int32())),
        pa.ListArray.from_arrays(list_offsets, pa.array(types[source], pa.int8())),
    )


def _with_lists(batch: pa.RecordBatch, history: FeedbackHistory, history_len: int) -> pa.Table:
    """A transitions.sql batch -> rows of TRANSITION_SCHEMA (state cuts replaced by their lists)."""
    columns = {name: batch.column(name) for name in batch.schema.names}
    user_key = columns.pop("user_key").to_numpy()  # (B,)
    for prefix, cut in (("", "state_cut_us"), ("next_", "next_cut_us")):
        ends, lengths = history.slices(user_key, columns.pop(cut).to_numpy(), history_len)
        columns[f"{prefix}history_items"], columns[f"{prefix}history_types"] = slice_lists(
            history.items, history.types, ends, lengths
        )
    return pa.table([columns[name] for name in TRANSITION_SCHEMA.names], schema=TRANSITION_SCHEMA)


def _partitions(batch: pa.RecordBatch) -> list[tuple[str, pa.RecordBatch]]:
    """(folder ``split=S/date=D``, its rows) for every date in ``batch`` (a date has one split).

    Cut before the lists are built, so filtering copies only fixed-width and string columns.
    """
    parts = []
    for day in pc.unique(batch.column("date")).to_pylist():
        rows = batch.filter(pc.equal(batch.column("date"), pa.scalar(day, pa.date32())))
        parts.append((f"split={rows.column('split')[0].as_py()}/date={day.isoformat()}", rows))
    return parts


def write_transitions(
    batches: pa.RecordBatchReader,
    history: FeedbackHistory,
    history_len: int,
    out_dir: Path,
    threads: int = 1,
) -> Counter[tuple[str, str]]:
    """Write the rows of ``batches`` (transitions.sql) under ``out_dir``; returns rows per (split, kind).

    States hold the last ``history_len`` events of ``history`` before their cut. Each date's
    rows go to ``out_dir/split=S/date=D/part-0.parquet``; up to ``threads`` files are written at once.
    Nothing is created when ``batches`` holds no rows.
    """
    writers: dict[str, pq.ParquetWriter] = {}
    counts: Counter[tuple[str, str]] = Counter()

    def write(folder: str, rows: pa.RecordBatch) -> pa.Table:
        table = _with_lists(rows, history, history_len)
        writers[folder].write_table(table)
        return table.group_by(["split", "kind"]).aggregate([([], "count_all")])

    def tally(parts_written: list[Future[pa.Table]]) -> None:
        for done in parts_written:
            grouped = done.result()
            columns = (grouped.column(name).to_pylist() for name in ("split", "kind", "count_all"))
            for split, kind, n in zip(*columns, strict=True):
                counts[(split, kind)] += n

    # The pool writes one batch's parts (one per folder, so in parallel) while DuckDB makes the next
    # batch; a folder's writer takes one part at a time, so a batch's parts wait for the previous ones.
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        in_flight: list[Future[pa.Table]] = []
        try:
            for batch in batches:
                parts = _partitions(batch)
                tally(in_flight)
                for folder, _ in parts:
                    if folder not in writers:
                        (out_dir / folder).mkdir(parents=True, exist_ok=True)
                        writers[folder] = pq.ParquetWriter(
                            out_dir / folder / PART_FILE,
                            TRANSITION_SCHEMA,
                            use_dictionary=_DICTIONARY_COLUMNS,
                            write_statistics=_STATISTICS_COLUMNS,
                        )
                in_flight = [pool.submit(write, folder, rows) for folder, rows in parts]
            tally(in_flight)
        finally:
            wait(in_flight)
            for writer in writers.values():
                writer.close()
    return counts
