"""Check candidate events against the canonical schema; split them into accepted and rejected rows.

All checks are polars expressions over a whole block. A row's reason is the first check it fails, in
this order: a reason the format reader already found, ``missing_field`` (a required field null or
empty), ``ts_no_utc_offset`` / ``bad_timestamp``, ``timestamp_out_of_range``, ``unknown_event_type``,
``wrong_type`` (position not an int16, propensity not a number), ``zero_position_one_based``,
``negative_position``, ``propensity_out_of_range`` (outside (0, 1]). Codes are the constants of
``recrl.ingest.reasons``.

Timestamps: ``"iso"`` is ISO 8601 with a UTC offset (``2026-11-01T10:00:00.5Z``, ``+00:00``,
``+0000``; a space may replace the ``T``). One without an offset (and a Parquet timestamp without a
time zone) has an unknown zone: with ``IngestConfig.naive_timestamps='reject'`` it is quarantined as
``ts_no_utc_offset``, with ``'utc'`` it is read as UTC. ``"ms"`` / ``"s"`` are integer Unix epochs in
milliseconds / seconds (no zone to miss).

Positions: with ``positions='one-based'`` a position ``p`` is stored as ``p - 1`` and a 0 is
rejected; ``'zero-based'`` stores it as given (``recrl.ingest.run`` refuses a file that looks 1-based).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from recrl.config import IngestConfig
from recrl.ingest.reasons import (
    BAD_TIMESTAMP,
    MISSING_FIELD,
    NEGATIVE_POSITION,
    PROPENSITY_OUT_OF_RANGE,
    TIMESTAMP_OUT_OF_RANGE,
    TS_NO_UTC_OFFSET,
    UNKNOWN_EVENT_TYPE,
    WRONG_TYPE,
    ZERO_POSITION_ONE_BASED,
)
from recrl.schema import EVENT_TYPES, REQUIRED_COLUMNS

TS_FORMATS = ("iso", "ms", "s")
ISO_T = "%Y-%m-%dT%H:%M:%S%.f%#z"
ISO_SPACE = "%Y-%m-%d %H:%M:%S%.f%#z"
NAIVE_T = "%Y-%m-%dT%H:%M:%S%.f"
NAIVE_SPACE = "%Y-%m-%d %H:%M:%S%.f"
NAIVE_TIMESTAMPS = ("reject", "utc")
POSITIONS = ("zero-based", "one-based")
INT16_MAX = 32767


def naive_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO text without a UTC offset (``T`` or space form) read as UTC; null for anything else."""
    return pl.coalesce(
        text.str.to_datetime(NAIVE_T, strict=False, time_unit="us"),
        text.str.to_datetime(NAIVE_SPACE, strict=False, time_unit="us"),
    ).dt.replace_time_zone("UTC")


def parse_timestamp(raw: pl.Series, ts_format: str, naive_timestamps: str = "reject") -> pl.Series:
    """Parse ``raw`` (String) to Datetime(us, UTC); null where it cannot be parsed.

    ISO text is parsed with the ``T`` form first; only the rows it fails (few, usually none) are
    retried with the space form (and, with ``naive_timestamps='utc'``, without an offset, as UTC),
    so the common case pays for one parse, not two.
    """
    if ts_format == "iso":
        parsed = raw.str.to_datetime(ISO_T, strict=False, time_zone="UTC", time_unit="us")
        retries = [pl.col("ts").str.to_datetime(ISO_SPACE, strict=False, time_zone="UTC", time_unit="us")]
        if naive_timestamps == "utc":
            retries.append(naive_timestamp(pl.col("ts")))
        for retry_expr in retries:
            retry = parsed.is_null() & raw.is_not_null()  # (rows,)
            if not retry.any():
                break
            retried = raw.filter(retry).to_frame("ts").select(retry_expr).to_series()
            parsed = parsed.scatter(retry.arg_true(), retried)
        return parsed
    if ts_format in ("ms", "s"):
        epoch = raw.str.strip_chars().str.to_integer(strict=False)
        # Epochs past the year 9999 overflow microseconds; they are out of range anyway.
        limit = 253_402_300_799 * (1000 if ts_format == "ms" else 1)
        epoch = epoch.to_frame("epoch").select(pl.when(pl.col("epoch").abs() <= limit).then(pl.col("epoch")))
        return pl.from_epoch(epoch.to_series(), time_unit=ts_format).dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    raise ValueError(f"ts_format must be one of {TS_FORMATS}, got {ts_format!r}")


def _as_string(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _optional_string(name: str) -> pl.Expr:
    """An optional text field: empty (a CSV ``,,``) means absent, so it becomes null."""
    column = _as_string(name)
    return pl.when(column.str.strip_chars() != "").then(column).alias(name)


@dataclass(frozen=True)
class Validation:
    """The expressions of validation, for an eager frame or a lazy pipeline alike (``validation_columns``)."""

    typed: list[pl.Expr]
    """``_position`` (as stored) and ``_propensity`` parsed from their text (null where absent or
    unparsable); with 1-based positions also ``_position_in``, the position as given."""
    accepted: pl.Expr
    """True where no check fails (needs ``typed``). Booleans only: the cheap way to split the rows."""
    reason_code: pl.Expr
    """The first failing check's code, null for an accepted row (needs ``typed``). A chain of string
    columns, one per check: evaluate it only on rejected rows."""
    reason: pl.Expr
    """Its human text (string formatting: evaluate it only on rejected rows)."""


def _timestamp_reason(ts_format: str) -> tuple[pl.Expr, pl.Expr]:
    """Code and text for a row whose ``_ts`` is null: no UTC offset (with the fix), or unparsable.

    Only computed for rejected rows: the naive parse is not in the accepted/rejected split.
    """
    ts_text = _as_string("ts")
    unparsable = pl.format("timestamp '{}' cannot be parsed as {}", ts_text, pl.lit(ts_format))
    if ts_format != "iso":
        return pl.lit(BAD_TIMESTAMP), unparsable
    naive = naive_timestamp(ts_text).is_not_null()
    no_offset = pl.format(
        "timestamp '{}' has no UTC offset: write it with one ('Z' or '+00:00') "
        "or set ingest.naive_timestamps='utc' to read it as UTC",
        ts_text,
    )
    return (
        pl.when(naive).then(pl.lit(TS_NO_UTC_OFFSET)).otherwise(pl.lit(BAD_TIMESTAMP)),
        pl.when(naive).then(no_offset).otherwise(unparsable),
    )


def validation_columns(
    ts_format: str, config: IngestConfig, now: dt.datetime, positions: str | None = None
) -> Validation:
    """The expressions of validation (see ``Validation``).

    Input columns: ``_reason``/``_detail`` (a reader's own rejection), the canonical columns as read,
    and ``_ts`` (the parsed timestamp, see ``parse_timestamp``). ``positions`` (default
    ``config.positions``) says how the input counts slate positions.
    """
    positions = positions or config.positions
    if positions not in POSITIONS:
        raise ValueError(f"ingest.positions must be one of {POSITIONS}, got {positions!r}")
    if config.naive_timestamps not in NAIVE_TIMESTAMPS:
        raise ValueError(f"ingest.naive_timestamps must be one of {NAIVE_TIMESTAMPS}, got {config.naive_timestamps!r}")
    one_based = positions == "one-based"
    min_ts = dt.datetime.fromisoformat(config.min_timestamp).replace(tzinfo=dt.UTC)
    max_ts = now + dt.timedelta(seconds=config.max_future_seconds)
    position_text = _as_string("position").str.strip_chars()
    propensity_text = _as_string("propensity").str.strip_chars()
    # The checks read the position as given; ``_position`` is what is stored (p - 1 when 1-based).
    position_in = pl.col("_position_in" if one_based else "_position")
    typed = [
        position_text.str.to_integer(strict=False).alias(position_in.meta.output_name()),
        propensity_text.cast(pl.Float64, strict=False).alias("_propensity"),
    ]
    if one_based:
        typed.append((position_text.str.to_integer(strict=False) - 1).alias("_position"))

    codes: list[tuple[pl.Expr, pl.Expr, pl.Expr]] = []
    for name in REQUIRED_COLUMNS:
        column = _as_string(name)
        codes.append(
            (column.is_null() | (column.str.strip_chars() == ""), pl.lit(MISSING_FIELD), pl.lit(f"required field '{name}' is missing or empty"))
        )
    codes += [
        (pl.col("_ts").is_null(), *_timestamp_reason(ts_format)),
        (
            (pl.col("_ts") < min_ts) | (pl.col("_ts") > max_ts),
            pl.lit(TIMESTAMP_OUT_OF_RANGE),
            pl.format("timestamp {} is outside [{}, ingest time + {} s]", pl.col("_ts"), pl.lit(config.min_timestamp), pl.lit(config.max_future_seconds)),
        ),
        (
            ~pl.col("event_type").is_in(EVENT_TYPES),
            pl.lit(UNKNOWN_EVENT_TYPE),
            pl.format("event type '{}' is not one of {}", pl.col("event_type"), pl.lit(", ".join(EVENT_TYPES))),
        ),
        (
            position_text.is_not_null() & (position_text != "") & (position_in.is_null() | (position_in > INT16_MAX)),
            pl.lit(WRONG_TYPE),
            pl.format("position '{}' is not an integer in int16 range", position_text),
        ),
        (
            propensity_text.is_not_null() & (propensity_text != "") & pl.col("_propensity").is_null(),
            pl.lit(WRONG_TYPE),
            pl.format("propensity '{}' is not a number", propensity_text),
        ),
    ]
    if one_based:
        codes.append(
            (
                position_in == 0,
                pl.lit(ZERO_POSITION_ONE_BASED),
                pl.lit("position 0 in a file read as 1-based (ingest.positions='one-based')"),
            )
        )
    codes += [
        (position_in < 0, pl.lit(NEGATIVE_POSITION), pl.format("position {} is negative", position_in)),
        (
            pl.col("_propensity").is_not_null() & ~((pl.col("_propensity") > 0) & (pl.col("_propensity") <= 1)),
            pl.lit(PROPENSITY_OUT_OF_RANGE),
            pl.format("propensity {} is not in (0, 1]", pl.col("_propensity")),
        ),
    ]
    # A failing check whose inputs are null yields null, not False: fill so it counts as passed.
    failures = [failed.fill_null(False) for failed, _, _ in codes]
    code_expr = pl.when(pl.col("_reason").is_not_null()).then(pl.col("_reason"))
    text_expr = pl.when(pl.col("_reason").is_not_null()).then(pl.col("_detail"))
    for failed, (_, code, text) in zip(failures, codes, strict=True):
        code_expr = code_expr.when(failed).then(code)
        text_expr = text_expr.when(failed).then(text)
    accepted = pl.col("_reason").is_null() & ~pl.any_horizontal(failures)
    return Validation(
        typed, accepted.alias("_accepted"), code_expr.alias("reason_code"), text_expr.alias("reason")
    )


ACCEPTED_COLUMNS: tuple[pl.Expr, ...] = (
    pl.col("_ts").alias("ts"),
    _as_string("user_id"),
    _optional_string("session_id"),
    _as_string("item_id"),
    _as_string("event_type"),
    pl.col("_position").cast(pl.Int16).alias("position"),
    _optional_string("request_id"),
    pl.col("_propensity").alias("propensity"),
    _optional_string("policy_id"),
)
"""An accepted row's ``EVENT_SCHEMA`` columns, typed, from the validated frame."""

QUARANTINE_DATE = pl.col("_ts").dt.date().cast(pl.String).fill_null("unknown").alias("_date")
"""A rejected row's quarantine partition: its event's UTC date when the timestamp parsed."""


def validate(
    candidates: pl.DataFrame, ts_format: str, config: IngestConfig, now: dt.datetime, positions: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split candidates (see ``recrl.ingest.formats.common``) into accepted and rejected rows.

    Returns
    -------
    accepted
        ``_line``, ``_sub`` and the ``EVENT_SCHEMA`` columns, typed.
    rejected
        ``_line``, ``_sub``, ``_raw``, ``reason_code``, ``reason`` and ``_date`` (the event's UTC date
        when its timestamp parsed, else ``"unknown"``; the quarantine partition).
    """
    checks = validation_columns(ts_format, config, now, positions)
    ts_dtype = candidates.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime):
        ts_expr = pl.col("ts").dt.cast_time_unit("us")
        if ts_dtype.time_zone:
            ts_expr = ts_expr.dt.convert_time_zone("UTC")
        elif config.naive_timestamps == "utc":
            ts_expr = ts_expr.dt.replace_time_zone("UTC")
        else:  # a timestamp without a time zone: rejected as ts_no_utc_offset (its text has no offset)
            ts_expr = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
        ts = candidates.select(ts_expr.alias("ts")).to_series()
    else:
        ts = parse_timestamp(candidates["ts"].cast(pl.String), ts_format, config.naive_timestamps)
    # The split needs booleans only; codes and texts (strings) are computed for the rejected few.
    frame = candidates.with_columns(ts.alias("_ts"), *checks.typed).with_columns(checks.accepted)
    accepted = frame.filter(pl.col("_accepted")).select("_line", "_sub", *ACCEPTED_COLUMNS)
    rejected = frame.filter(~pl.col("_accepted")).select(
        "_line", "_sub", "_raw", checks.reason_code, checks.reason, QUARANTINE_DATE
    )
    return accepted, rejected
