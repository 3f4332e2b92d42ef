"""RetailRocket ``events.csv``: header ``timestamp,visitorid,event,itemid,transactionid``.

Mapping: ``visitorid`` -> ``user_id``, ``itemid`` -> ``item_id``, ``timestamp`` (Unix ms) -> ``ts``,
``event`` view / addtocart / transaction -> click / cart / purchase (any other value is
``unknown_event_type``). ``transactionid`` is not a canonical field and is dropped. No session,
position, request or propensity: sessions are cut from inactivity gaps downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from recrl.ingest.formats.common import (
    Candidates,
    finish_candidates,
    map_event_type,
    split_csv_lines,
    take_header,
)
from recrl.ingest.lines import LineReader

TS_FORMAT = "ms"
HEADER = ("timestamp", "visitorid", "event", "itemid", "transactionid")
EVENT_TYPE_MAP = {"view": "click", "addtocart": "cart", "transaction": "purchase"}


def read(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """Candidates of a RetailRocket events file, one per line."""
    header_seen = False
    for lines in LineReader(path, block_bytes):
        if not header_seen:
            header, lines = take_header(lines, path)
            if header != HEADER:
                raise ValueError(f"retailrocket file {path} must start with header {','.join(HEADER)}; found {','.join(header)}")
            header_seen = True
        split = split_csv_lines(lines, HEADER)
        frame = map_event_type(split, "event", EVENT_TYPE_MAP, unmapped=(), source="RetailRocket")
        yield Candidates(
            finish_candidates(
                frame.select(
                    "_line", "_raw", "_reason", "_detail", "event_type",
                    ts="timestamp", user_id="visitorid", item_id="itemid",
                )
            )
        )
