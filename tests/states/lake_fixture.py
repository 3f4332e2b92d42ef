"""Write canonical events into a lake laid out as ingest writes it (date= / shard= folders, batch files)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recrl.lake import DataLayout, user_shard
from recrl.schema import EVENT_SCHEMA, LAKE_EXTRA_SCHEMA

LAKE_SCHEMA = pa.schema(list(EVENT_SCHEMA) + list(LAKE_EXTRA_SCHEMA))


def ts(text: str) -> datetime:
    """'2026-11-01 10:00:05' (or with .ffffff) as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    when: str,
    user_id: str,
    item_id: str,
    event_type: str,
    *,
    session_id: str | None = None,
    position: int | None = None,
    request_id: str | None = None,
    propensity: float | None = None,
    policy_id: str | None = None,
) -> dict:
    return {
        "ts": ts(when),
        "user_id": user_id,
        "session_id": session_id,
        "item_id": item_id,
        "event_type": event_type,
        "position": position,
        "request_id": request_id,
        "propensity": propensity,
        "policy_id": policy_id,
    }


def write_lake(root: Path, events: pa.Table | list[dict], batch_id: str = "batch-1", n_shards: int = 2) -> DataLayout:
    """Append ``events`` to the lake under ``root`` as one ingest batch; returns the layout."""
    layout = DataLayout(root)
    table = events if isinstance(events, pa.Table) else pa.Table.from_pylist(events, schema=EVENT_SCHEMA)
    table = table.cast(EVENT_SCHEMA).append_column(
        "ingest_batch_id", pa.array([batch_id] * len(table), pa.string())
    )
    dates = pc.strftime(table.column("ts"), format="%Y-%m-%d").to_pylist()
    shards = [user_shard(u, n_shards) for u in table.column("user_id").to_pylist()]
    keys = pa.array([f"{d}/{s:02d}" for d, s in zip(dates, shards, strict=True)])
    for key in pc.unique(keys).to_pylist():
        day, shard = key.split("/")
        folder = layout.events / f"date={day}" / f"shard={shard}"
        folder.mkdir(parents=True, exist_ok=True)
        part = table.filter(pc.equal(keys, key)).cast(LAKE_SCHEMA)
        pq.write_table(part, folder / f"part-{batch_id}.parquet")
    return layout
