"""The canonical event schema: the one shape every log is mapped to at ingest.

One row is one event. Slate impressions and the feedback they earned share a ``request_id``:
a click, cart or purchase that a shown slate caused carries that slate's ``request_id`` and the
``position`` of the item, so rewards can be attributed to the impression that earned them. Organic
events (no slate) leave ``request_id``, ``position`` and ``propensity`` null.

| column      | type                     | null | meaning                                                       |
|-------------|--------------------------|------|---------------------------------------------------------------|
| ts          | timestamp[us, UTC]       | no   | when the event happened                                       |
| user_id     | string                   | no   | who (hashed at ingest when a salt is configured)              |
| session_id  | string                   | yes  | the log's own session id; sessionized from gaps when null     |
| item_id     | string                   | no   | which item                                                    |
| event_type  | string                   | no   | one of EVENT_TYPES                                            |
| position    | int16                    | yes  | 0-based slot in the slate (0 = top)                           |
| request_id  | string                   | yes  | groups one slate and the feedback it earned                   |
| propensity  | float64                  | yes  | logging policy's probability of this item at this position    |
| policy_id   | string                   | yes  | which logging policy served the slate                         |
"""

from __future__ import annotations

import pyarrow as pa

EVENT_TYPES: tuple[str, ...] = ("impression", "click", "cart", "purchase")
"""Allowed values of ``event_type``."""

FEEDBACK_EVENT_TYPES: tuple[str, ...] = ("click", "cart", "purchase")
"""Event types that enter a user's history (impressions do not)."""

HISTORY_TYPE_CODE: dict[str, int] = {"click": 1, "cart": 2, "purchase": 3}
"""Integer code of an event type inside a state's history; 0 is padding."""

EVENT_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=True),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("position", pa.int16(), nullable=True),
        pa.field("request_id", pa.string(), nullable=True),
        pa.field("propensity", pa.float64(), nullable=True),
        pa.field("policy_id", pa.string(), nullable=True),
    ]
)
"""Arrow schema of canonical events, in column order."""

CANONICAL_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in EVENT_SCHEMA if not f.nullable)

LAKE_EXTRA_SCHEMA = pa.schema(
    [
        pa.field("ingest_batch_id", pa.string(), nullable=False),
    ]
)
"""Columns the lake adds to every accepted row: the ingest batch that wrote it."""

ITEM_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("category", pa.string(), nullable=True),
    ]
)
"""Item attributes table (``{lake}/items``); formats may add attribute columns after these."""
