"""OTTO session JSONL (otto-de/recsys-dataset): ``{"session": int, "events": [{"aid", "ts", "type"}]}``.

Mapping: ``session`` -> ``session_id`` and ``user_id`` (OTTO has no user ids: a session is the only
identity it logs), ``aid`` -> ``item_id``, ``ts`` (Unix ms) -> ``ts``, ``type`` clicks / carts / orders
-> click / cart / purchase. No position, request or propensity. Each event is one candidate; its
original content is ``{"session": ..., "event": {...}}``. A line that is not JSON, or a session without
events, is one rejected candidate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from recrl.ingest.formats.common import Candidates, finish_candidates
from recrl.ingest.formats.events import json_value_text, non_scalar_field, parse_json_object
from recrl.ingest.lines import LineReader
from recrl.ingest.reasons import MALFORMED_LINE, MISSING_FIELD, UNKNOWN_EVENT_TYPE

TS_FORMAT = "ms"
EVENT_TYPE_MAP = {"clicks": "click", "carts": "cart", "orders": "purchase"}

_COLUMNS = ("_line", "_sub", "_raw", "_reason", "_detail", "ts", "user_id", "session_id", "item_id", "event_type")


def read(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """Candidates of an OTTO sessions file, one per event."""
    for lines in LineReader(path, block_bytes):
        rows: dict[str, list] = {name: [] for name in _COLUMNS}
        for line, raw, bad_encoding in zip(lines["_line"], lines["_raw"], lines["_bad_encoding"], strict=True):
            for candidate in _session_candidates(line, raw, bad_encoding):
                for name, value in zip(_COLUMNS, candidate, strict=True):
                    rows[name].append(value)
        frame = pl.DataFrame(
            rows,
            schema={name: (pl.Int64 if name == "_line" else pl.Int32 if name == "_sub" else pl.String) for name in _COLUMNS},
        )
        yield Candidates(finish_candidates(frame))


def _session_candidates(line: int, raw: str, bad_encoding: bool) -> Iterator[tuple]:
    record, reason, detail = parse_json_object(raw, bad_encoding)
    events = record.get("events")
    if reason is None and not (isinstance(events, list) and events):
        reason, detail = MISSING_FIELD, "session has no 'events' list (or it is empty)"
    if reason is None and (found := non_scalar_field(record, ("session",))) is not None:
        reason, detail = found
    if reason is not None:
        yield (line, 0, raw, reason, detail, None, None, None, None, None)
        return
    session = json_value_text(record.get("session"))
    for index, event in enumerate(events):
        event_raw = json.dumps({"session": record.get("session"), "event": event}, separators=(",", ":"))
        if not isinstance(event, dict):
            yield (line, index, event_raw, MALFORMED_LINE, "event is not a JSON object", None, None, None, None, None)
            continue
        if (found := non_scalar_field(event, ("aid", "ts", "type"))) is not None:
            yield (line, index, event_raw, *found, None, None, None, None, None)
            continue
        otto_type = event.get("type")
        event_type = EVENT_TYPE_MAP.get(otto_type) if isinstance(otto_type, str) else None
        reason = detail = None
        if otto_type is not None and event_type is None:
            reason, detail = UNKNOWN_EVENT_TYPE, f"OTTO event type {otto_type!r} is not clicks, carts or orders"
        yield (
            line, index, event_raw, reason, detail,
            json_value_text(event.get("ts")), session, session, json_value_text(event.get("aid")), event_type,
        )
