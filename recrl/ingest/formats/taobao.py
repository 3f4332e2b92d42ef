"""Taobao UserBehavior CSV without header: ``user,item,category,behavior,ts``.

Mapping: ``user`` -> ``user_id``, ``item`` -> ``item_id``, ``ts`` (Unix seconds) -> ``ts``, ``behavior``
pv / cart / buy -> click / cart / purchase. ``fav`` (add to favourites) has no canonical event type:
such rows are quarantined as ``unmapped_event_type``, so reconciliation still counts them; any other
behaviour is ``unknown_event_type``. ``category`` goes to the items table (``item_id, category``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from recrl.ingest.formats.common import Candidates, finish_candidates, map_event_type, split_csv_lines
from recrl.ingest.lines import LineReader

TS_FORMAT = "s"
COLUMNS = ("user", "item", "category", "behavior", "ts")
EVENT_TYPE_MAP = {"pv": "click", "cart": "cart", "buy": "purchase"}
UNMAPPED = ("fav",)


def read(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """Candidates of a Taobao UserBehavior file, one per line, with the (item, category) pairs seen."""
    for lines in LineReader(path, block_bytes):
        split = split_csv_lines(lines, COLUMNS)
        frame = map_event_type(split, "behavior", EVENT_TYPE_MAP, unmapped=UNMAPPED, source="Taobao")
        items = (
            frame.filter(
                pl.col("_reason").is_null()
                & (pl.col("item").str.strip_chars() != "")
                & (pl.col("category").str.strip_chars() != "")
            )
            .select(item_id=pl.col("item"), title=pl.lit(None, dtype=pl.String), category=pl.col("category"))
            .unique(maintain_order=True)  # the same input gives the same items file
        )
        events = finish_candidates(
            frame.select("_line", "_raw", "_reason", "_detail", "event_type", "ts", user_id="user", item_id="item")
        )
        yield Candidates(events, items)
