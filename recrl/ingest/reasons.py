"""Why a row was quarantined: a short snake_case code (stable, for queries) and a line of text (for people).

Every rejected row carries exactly one code: the first check it fails, in the order of
``recrl.ingest.validate.validate``. Format readers may reject a record before validation (a line that
is not valid CSV/JSON, bytes that are not UTF-8, an event type the canonical schema has no name for).
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "malformed_line": "the line is not a valid record of this format (wrong field count, bad JSON, bad quoting)",
    "encoding_error": "the line is not valid UTF-8",
    "missing_field": "a required field is missing or empty",
    "bad_timestamp": "the timestamp cannot be parsed",
    "timestamp_out_of_range": "the timestamp is before the configured minimum or too far in the future",
    "unknown_event_type": "the event type is not one of the canonical event types",
    "unmapped_event_type": "the format's event type has no canonical event type",
    "wrong_type": "a field does not hold a value of its type",
    "negative_position": "the slate position is negative",
    "propensity_out_of_range": "the propensity is not in (0, 1]",
}
"""Reason code -> what it means (the generic text; each row's ``reason`` text names the field and value)."""
