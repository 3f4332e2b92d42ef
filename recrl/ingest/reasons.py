"""Why a row was quarantined: a short snake_case code (stable, for queries) and a line of text (for people).

Every rejected row carries exactly one code: the first check it fails, in the order of
``recrl.ingest.validate.validate``. Format readers may reject a record before validation (a line that
is not valid CSV/JSON, bytes that are not UTF-8, an event type the canonical schema has no name for).
Every module names a code by its constant here, never by a string literal.
"""

from __future__ import annotations

MALFORMED_LINE = "malformed_line"
ENCODING_ERROR = "encoding_error"
MISSING_FIELD = "missing_field"
BAD_TIMESTAMP = "bad_timestamp"
TS_NO_UTC_OFFSET = "ts_no_utc_offset"
TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNMAPPED_EVENT_TYPE = "unmapped_event_type"
WRONG_TYPE = "wrong_type"
NEGATIVE_POSITION = "negative_position"
ZERO_POSITION_ONE_BASED = "zero_position_one_based"
PROPENSITY_OUT_OF_RANGE = "propensity_out_of_range"

REASONS: dict[str, str] = {
    MALFORMED_LINE: "the line is not a valid record of this format (wrong field count, bad JSON, bad quoting)",
    ENCODING_ERROR: "the line is not valid UTF-8 (or a JSON string holds a lone UTF-16 surrogate)",
    MISSING_FIELD: "a required field is missing or empty",
    BAD_TIMESTAMP: "the timestamp cannot be parsed",
    TS_NO_UTC_OFFSET: (
        "the timestamp has no UTC offset, so its zone is unknown: write it with one ('Z', '+00:00') "
        "or set ingest.naive_timestamps='utc' to read such timestamps as UTC"
    ),
    TIMESTAMP_OUT_OF_RANGE: "the timestamp is before the configured minimum or too far in the future",
    UNKNOWN_EVENT_TYPE: "the event type is not one of the canonical event types",
    UNMAPPED_EVENT_TYPE: "the format's event type has no canonical event type",
    WRONG_TYPE: "a field does not hold a value of its type (a JSON object or array where a scalar belongs)",
    NEGATIVE_POSITION: "the slate position is negative",
    ZERO_POSITION_ONE_BASED: "position 0 in a file read as 1-based (ingest.positions='one-based')",
    PROPENSITY_OUT_OF_RANGE: "the propensity is not in (0, 1]",
}
"""Reason code -> what it means (the generic text; each row's ``reason`` text names the field and value)."""

FIXES: dict[str, str] = {
    MALFORMED_LINE: "check the format (--format / source_format): the lines do not parse as this format",
    ENCODING_ERROR: "re-encode the input as UTF-8",
    MISSING_FIELD: "check the column names against the format's required columns",
    BAD_TIMESTAMP: "write timestamps as ISO 8601 with a UTC offset ('Z' or '+01:00')",
    TS_NO_UTC_OFFSET: "the timestamps have no UTC offset: if they are UTC, set ingest.naive_timestamps='utc'",
    TIMESTAMP_OUT_OF_RANGE: "check the timestamps' unit and ingest.min_timestamp / ingest.max_future_seconds",
    UNKNOWN_EVENT_TYPE: "map the event types to impression, click, cart or purchase",
    UNMAPPED_EVENT_TYPE: "this format has event types the canonical schema cannot hold; these rows stay quarantined",
    WRONG_TYPE: "check the columns' types (position an integer, propensity a number, ids scalars)",
    NEGATIVE_POSITION: "positions must be 0-based slots",
    ZERO_POSITION_ONE_BASED: "the file mixes 0-based and 1-based positions: check ingest.positions",
    PROPENSITY_OUT_OF_RANGE: "propensities must lie in (0, 1]",
}
"""Reason code -> what the user can do (printed when the quarantine gate refuses a batch)."""
