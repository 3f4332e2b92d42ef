"""Transitions on disk -> fixed-length arrays for training and evaluation, without per-row Python.

``load_transitions`` reads one split's Parquet files into an Arrow table in a fixed order (ts, then
decision id); ``to_arrays`` turns Arrow list columns into left-padded ``(B, N)`` numpy arrays using
only the lists' offsets: for output slot j of row i (N slots, newest last), the source element is
``offsets[i + 1] - N + j``, valid where ``j >= N - min(len_i, N)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recrl.lake import DataLayout
from recrl.policies import PAD_INDEX, StateBatch

SPLITS: tuple[str, ...] = ("train", "valid", "test")
KINDS: tuple[str, ...] = ("bandit", "sequence")
TRANSITIONS_DIR = "transitions"

TRANSITION_SCHEMA = pa.schema(
    [
        pa.field("decision_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("date", pa.date32()),
        pa.field("split", pa.string()),
        pa.field("history_items", pa.list_(pa.int32())),
        pa.field("history_types", pa.list_(pa.int8())),
        pa.field("action", pa.int32()),
        pa.field("action_item_id", pa.string()),
        pa.field("position", pa.int16()),
        pa.field("click", pa.int8()),
        pa.field("cart", pa.int8()),
        pa.field("purchase", pa.int8()),
        pa.field("reward", pa.float64()),
        pa.field("propensity", pa.float64()),
        pa.field("policy_id", pa.string()),
        pa.field("next_history_items", pa.list_(pa.int32())),
        pa.field("next_history_types", pa.list_(pa.int8())),
        pa.field("done", pa.bool_()),
    ]
)
"""Columns of a transitions table, in order (see docs/states.md for their meaning)."""


def _check_choice(value: str | None, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def load_transitions(layout: DataLayout, split: str, kind: str | None = None) -> pa.Table:
    """All transitions of ``split`` (optionally one ``kind``), ordered by ts then decision id.

    A split with no transitions (e.g. ``valid_days = 0``) gives an empty table of the same schema.
    """
    _check_choice(split, SPLITS, "split")
    if kind is not None:
        _check_choice(kind, KINDS, "kind")
    root = layout.states / TRANSITIONS_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"transitions not found: {root} (run `recrl states` first)")
    files = sorted((root / f"split={split}").glob("date=*/*.parquet"))
    if not files:
        return pa.Table.from_batches([], schema=TRANSITION_SCHEMA)
    table = pa.concat_tables([pq.read_table(f, schema=TRANSITION_SCHEMA) for f in files])
    if kind is not None:
        table = table.filter(pc.equal(table.column("kind"), kind))
    return table.sort_by([("ts", "ascending"), ("decision_id", "ascending")])


def pad_lists(column: pa.ChunkedArray | pa.Array, width: int, pad_value: int = PAD_INDEX) -> np.ndarray:
    """(B, width) int64: each list's last ``width`` values, right-aligned, left-padded with ``pad_value``."""
    if width < 1:
        raise ValueError(f"history_len must be >= 1, got {width}")
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if lists.null_count:
        raise ValueError("history lists must not be null (an empty history is an empty list)")
    offsets = lists.offsets.to_numpy().astype(np.int64)  # (B + 1,)
    values = lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64)  # (total,) of this slice
    # flatten() starts at offsets[0], which is not 0 for a sliced array.
    ends = offsets[1:] - offsets[0]  # (B,)
    lengths = np.minimum(np.diff(offsets), width)  # (B,)
    slot = np.arange(width)[None, :]  # (1, N)
    source = ends[:, None] - width + slot  # (B, N)
    valid = slot >= (width - lengths)[:, None]  # (B, N)
    out = np.full(source.shape, pad_value, dtype=np.int64)
    out[valid] = values[source[valid]]
    return out


@dataclass(frozen=True)
class TransitionArrays:
    """A batch of transitions as numpy arrays (B rows); see ``StateBatch`` for the state layout."""

    states: StateBatch
    next_states: StateBatch
    action: np.ndarray  # (B,) int64 vocabulary index of the shown / next item
    position: np.ndarray  # (B,) int64 slot, -1 for sequence decisions
    click: np.ndarray  # (B,) int8
    cart: np.ndarray  # (B,) int8
    purchase: np.ndarray  # (B,) int8
    reward: np.ndarray  # (B,) float64
    propensity: np.ndarray  # (B,) float64, NaN where the log has none
    done: np.ndarray  # (B,) bool
    request_id: np.ndarray  # (B,) object, None for sequence decisions
    decision_id: np.ndarray  # (B,) object
    ts: np.ndarray  # (B,) datetime64[us] (UTC)
    kind: np.ndarray  # (B,) object

    def __len__(self) -> int:
        return int(self.action.shape[0])

    def take(self, index: np.ndarray | slice) -> TransitionArrays:
        """The rows at ``index`` (integer array, boolean mask or slice)."""
        return TransitionArrays(
            states=self.states.take(index),
            next_states=self.next_states.take(index),
            **{
                name: getattr(self, name)[index]
                for name in (
                    "action", "position", "click", "cart", "purchase", "reward", "propensity",
                    "done", "request_id", "decision_id", "ts", "kind",
                )
            },
        )


def _numbers(table: pa.Table, name: str, dtype: type, null_value: float | int) -> np.ndarray:
    column = pc.fill_null(table.column(name), null_value) if table.column(name).null_count else table.column(name)
    return column.to_numpy().astype(dtype)


def to_arrays(table: pa.Table, history_len: int) -> TransitionArrays:
    """Arrow transitions (as ``load_transitions`` returns) -> ``TransitionArrays`` with N = ``history_len``."""
    missing = [name for name in TRANSITION_SCHEMA.names if name not in table.column_names]
    if missing:
        raise ValueError(f"table is not a transitions table: missing column(s) {missing}")
    user_ids = table.column("user_id").to_numpy(zero_copy_only=False).astype(object)
    states = StateBatch(
        pad_lists(table.column("history_items"), history_len),
        pad_lists(table.column("history_types"), history_len),
        user_ids,
    )
    next_states = StateBatch(
        pad_lists(table.column("next_history_items"), history_len),
        pad_lists(table.column("next_history_types"), history_len),
        user_ids,
    )
    ts = pc.cast(table.column("ts"), pa.timestamp("us")).to_numpy().astype("datetime64[us]")
    return TransitionArrays(
        states=states,
        next_states=next_states,
        action=_numbers(table, "action", np.int64, 1),
        position=_numbers(table, "position", np.int64, -1),
        click=_numbers(table, "click", np.int8, 0),
        cart=_numbers(table, "cart", np.int8, 0),
        purchase=_numbers(table, "purchase", np.int8, 0),
        reward=_numbers(table, "reward", np.float64, 0.0),
        propensity=table.column("propensity").to_numpy().astype(np.float64),
        done=table.column("done").to_numpy().astype(bool),
        request_id=table.column("request_id").to_numpy(zero_copy_only=False).astype(object),
        decision_id=table.column("decision_id").to_numpy(zero_copy_only=False).astype(object),
        ts=ts,
        kind=table.column("kind").to_numpy(zero_copy_only=False).astype(object),
    )
