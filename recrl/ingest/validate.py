"""Check candidate events against the canonical schema; split them into accepted and rejected rows.

All checks are polars expressions over a whole block. A row's reason is the first check it fails, in
this order: a reason the format reader already found, ``missing_field`` (a required field null or
empty), ``bad_timestamp``, ``timestamp_out_of_range``, ``unknown_event_type``, ``wrong_type``
(position not an int16, propensity not a number), ``negative_position``, ``propensity_out_of_range``
(outside (0, 1]).

Timestamps: ``"iso"`` is ISO 8601 with a UTC offset (``2026-11-01T10:00:00.5Z``, ``+00:00``,
``+0000``; a space may replace the ``T``); a timestamp without an offset is rejected because its
zone is unknown. ``"ms"`` / ``"s"`` are integer Unix epochs in milliseconds / seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from recrl.config import IngestConfig
from recrl.schema import EVENT_TYPES, REQUIRED_COLUMNS

TS_FORMATS = ("iso", "ms", "s")
ISO_T = "%Y-%m-%dT%H:%M:%S%.f%#z"
ISO_SPACE = "%Y-%m-%d %H:%M:%S%.f%#z"
INT16_MAX = 32767


def parse_timestamp(raw: pl.Series, ts_format: str) -> pl.Series:
    """Parse ``raw`` (String) to Datetime(us, UTC); null where it cannot be parsed.

    ISO text is parsed with the ``T`` form first; only the rows it fails (few, usually none) are
    retried with the space form, so the common case pays for one parse, not two.
    """
    if ts_format == "iso":
        parsed = raw.str.to_datetime(ISO_T, strict=False, time_zone="UTC", time_unit="us")
        retry = parsed.is_null() & raw.is_not_null()  # (rows,)
        if retry.any():
            with_space = raw.filter(retry).str.to_datetime(ISO_SPACE, strict=False, time_zone="UTC", time_unit="us")
            parsed = parsed.scatter(retry.arg_true(), with_space)
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
    """``_position`` and ``_propensity`` parsed from their text (null where absent or unparsable)."""
    accepted: pl.Expr
    """True where no check fails (needs ``typed``). Booleans only: the cheap way to split the rows."""
    reason_code: pl.Expr
    """The first failing check's code, null for an accepted row (needs ``typed``). A chain of string
    columns, one per check: evaluate it only on rejected rows."""
    reason: pl.Expr
    """Its human text (string formatting: evaluate it only on rejected rows)."""


def validation_columns(ts_format: str, config: IngestConfig, now: dt.datetime) -> Validation:
    """The expressions of validation (see ``Validation``).

    Input columns: ``_reason``/``_detail`` (a reader's own rejection), the canonical columns as read,
    and ``_ts`` (the parsed timestamp, see ``parse_timestamp``).
    """
    min_ts = dt.datetime.fromisoformat(config.min_timestamp).replace(tzinfo=dt.UTC)
    max_ts = now + dt.timedelta(seconds=config.max_future_seconds)
    position_text = _as_string("position").str.strip_chars()
    propensity_text = _as_string("propensity").str.strip_chars()
    typed = [
        position_text.str.to_integer(strict=False).alias("_position"),
        propensity_text.cast(pl.Float64, strict=False).alias("_propensity"),
    ]

    codes: list[tuple[pl.Expr, str, pl.Expr]] = []
    for name in REQUIRED_COLUMNS:
        column = _as_string(name)
        codes.append(
            (column.is_null() | (column.str.strip_chars() == ""), "missing_field", pl.lit(f"required field '{name}' is missing or empty"))
        )
    codes += [
        (pl.col("_ts").is_null(), "bad_timestamp", pl.format("timestamp '{}' cannot be parsed as {}", _as_string("ts"), pl.lit(ts_format))),
        (
            (pl.col("_ts") < min_ts) | (pl.col("_ts") > max_ts),
            "timestamp_out_of_range",
            pl.format("timestamp {} is outside [{}, ingest time + {} s]", pl.col("_ts"), pl.lit(config.min_timestamp), pl.lit(config.max_future_seconds)),
        ),
        (
            ~pl.col("event_type").is_in(EVENT_TYPES),
            "unknown_event_type",
            pl.format("event type '{}' is not one of {}", pl.col("event_type"), pl.lit(", ".join(EVENT_TYPES))),
        ),
        (
            position_text.is_not_null() & (position_text != "") & (pl.col("_position").is_null() | (pl.col("_position") > INT16_MAX)),
            "wrong_type",
            pl.format("position '{}' is not an integer in int16 range", position_text),
        ),
        (
            propensity_text.is_not_null() & (propensity_text != "") & pl.col("_propensity").is_null(),
            "wrong_type",
            pl.format("propensity '{}' is not a number", propensity_text),
        ),
        (pl.col("_position") < 0, "negative_position", pl.format("position {} is negative", pl.col("_position"))),
        (
            pl.col("_propensity").is_not_null() & ~((pl.col("_propensity") > 0) & (pl.col("_propensity") <= 1)),
            "propensity_out_of_range",
            pl.format("propensity {} is not in (0, 1]", pl.col("_propensity")),
        ),
    ]
    # A failing check whose inputs are null yields null, not False: fill so it counts as passed.
    failures = [failed.fill_null(False) for failed, _, _ in codes]
    code_expr = pl.when(pl.col("_reason").is_not_null()).then(pl.col("_reason"))
    text_expr = pl.when(pl.col("_reason").is_not_null()).then(pl.col("_detail"))
    for failed, (_, code, text) in zip(failures, codes, strict=True):
        code_expr = code_expr.when(failed).then(pl.lit(code))
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
    candidates: pl.DataFrame, ts_format: str, config: IngestConfig, now: dt.datetime
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
    ts_dtype = candidates.schema["ts"]
    if isinstance(ts_dtype, pl.Datetime):
        ts_expr = pl.col("ts").dt.cast_time_unit("us")
        ts_expr = ts_expr.dt.convert_time_zone("UTC") if ts_dtype.time_zone else ts_expr.dt.replace_time_zone("UTC")
        ts = candidates.select(ts_expr).to_series()
    else:
        ts = parse_timestamp(candidates["ts"].cast(pl.String), ts_format)
    checks = validation_columns(ts_format, config, now)
    # The split needs booleans only; codes and texts (strings) are computed for the rejected few.
    frame = candidates.with_columns(ts.alias("_ts"), *checks.typed).with_columns(checks.accepted)
    accepted = frame.filter(pl.col("_accepted")).select("_line", "_sub", *ACCEPTED_COLUMNS)
    rejected = frame.filter(~pl.col("_accepted")).select(
        "_line", "_sub", "_raw", checks.reason_code, checks.reason, QUARANTINE_DATE
    )
    return accepted, rejected
