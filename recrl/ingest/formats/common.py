"""What every format reader yields, and the helpers the line-based readers share.

A format reader turns one input file into *candidate* frames: one row per canonical event the input
proposes, before validation. Columns:

- ``_line`` (Int64): the source line (row number for Parquet) the candidate came from.
- ``_sub`` (Int32): index of the candidate within its source record (OTTO events of a session, the
  click an OBD impression earned); with ``_line`` it orders candidates exactly as the input did.
- ``_raw`` (String): the original content of the source record, as quarantine keeps it.
- ``_reason`` / ``_detail`` (String, null when fine): a rejection the reader already knows
  (``malformed_line``, ``encoding_error``, ``unmapped_event_type``) and its text.
- the canonical columns ``recrl.schema.CANONICAL_COLUMNS``: strings as read (``ts``, ``position`` and
  ``propensity`` may already be typed); validation parses and checks them.

A source record that cannot be expanded into events (bad JSON, wrong field count) is exactly one
candidate, so reconciliation counts every record: input = accepted + quarantined + duplicates.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recrl.ingest.lines import parse_header
from recrl.ingest.reasons import ENCODING_ERROR, MALFORMED_LINE, UNKNOWN_EVENT_TYPE, UNMAPPED_EVENT_TYPE
from recrl.schema import CANONICAL_COLUMNS


@dataclass(frozen=True)
class Candidates:
    """One block of candidates and, where the format carries them, item attributes seen in it."""

    events: pl.DataFrame
    items: pl.DataFrame | None = None


def split_csv_lines(lines: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Split comma-separated ``_raw`` lines into String columns ``names``; wrong field count is malformed.

    Lines without a double quote (nearly all) are split vectorised; quoted lines go through Python's
    ``csv`` module so quoting rules hold exactly. Adds ``_reason``/``_detail`` (``malformed_line`` for
    a field count other than ``len(names)``, ``encoding_error`` for bad UTF-8).
    """
    n_fields = len(names)
    has_quote = lines["_raw"].str.contains('"', literal=True)
    plain = lines.filter(~has_quote)
    # n_fields splits give n_fields + 1 slots: a value in the last slot means too many fields.
    parts = plain["_raw"].str.split_exact(",", n_fields).struct.unnest()
    slots = parts.columns
    plain = pl.concat(
        [plain, parts.select(pl.col(slots[:n_fields])).rename(dict(zip(slots[:n_fields], names, strict=True)))],
        how="horizontal",
    ).with_columns(
        _ok_count=parts[slots[n_fields]].is_null() & parts[slots[n_fields - 1]].is_not_null(),
        _found=(plain["_raw"].str.count_matches(",", literal=True) + 1).cast(pl.Int64),
    )
    frames = [plain]
    if has_quote.any():
        frames.append(_split_quoted(lines.filter(has_quote), names))
    split = pl.concat(frames, how="vertical_relaxed").sort("_line")
    malformed = pl.format("expected {} comma-separated fields, found {}", pl.lit(n_fields), pl.col("_found"))
    return split.with_columns(
        _reason=pl.when(pl.col("_bad_encoding"))
        .then(pl.lit(ENCODING_ERROR))
        .when(~pl.col("_ok_count"))
        .then(pl.lit(MALFORMED_LINE)),
        _detail=pl.when(pl.col("_bad_encoding"))
        .then(pl.lit("line is not valid UTF-8"))
        .when(~pl.col("_ok_count"))
        .then(malformed),
    ).drop("_ok_count", "_found", "_bad_encoding")


def take_header(lines: pl.DataFrame, path: Path) -> tuple[tuple[str, ...], pl.DataFrame]:
    """(header names, the remaining lines) of a CSV file's first block (``recrl.ingest.lines.parse_header``)."""
    return parse_header(lines["_raw"][0], path), lines.slice(1)


def _split_quoted(lines: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Python ``csv`` parse of lines that use quoting; an unbalanced quote is a malformed line."""
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    ok_count: list[bool] = []
    found: list[int] = []
    for raw in lines["_raw"]:
        try:
            fields = next(csv.reader([raw], strict=True))
        except csv.Error:
            fields = []
        ok_count.append(len(fields) == len(names))
        found.append(len(fields))
        for index, name in enumerate(names):
            columns[name].append(fields[index] if index < len(fields) else None)
    return lines.with_columns(
        *(pl.Series(name, values, dtype=pl.String) for name, values in columns.items()),
        _ok_count=pl.Series(ok_count, dtype=pl.Boolean),
        _found=pl.Series(found, dtype=pl.Int64),
    )


def finish_candidates(frame: pl.DataFrame, **constant_columns: str | None) -> pl.DataFrame:
    """Add missing canonical columns (null or the given constant) and order the columns."""
    missing = [
        pl.lit(constant_columns.get(name), dtype=pl.String).alias(name)
        for name in CANONICAL_COLUMNS
        if name not in frame.columns
    ]
    if "_sub" not in frame.columns:
        missing.append(pl.lit(0, dtype=pl.Int32).alias("_sub"))
    frame = frame.with_columns(missing)
    return frame.select("_line", "_sub", "_raw", "_reason", "_detail", *CANONICAL_COLUMNS)


def map_event_type(
    frame: pl.DataFrame, source_column: str, mapping: dict[str, str], unmapped: Sequence[str], source: str
) -> pl.DataFrame:
    """Add ``event_type`` mapped from ``source_column``; ``unmapped`` values and unknown ones are rejected.

    Values in ``unmapped`` are real event types of the source that the canonical schema has no name
    for (``unmapped_event_type``); other values not in ``mapping`` are ``unknown_event_type``.
    """
    value = pl.col(source_column)
    # Empty values are left to validation, which names them missing_field.
    known = (value.is_in(list(mapping)) | (value.str.strip_chars() == "")).fill_null(True)
    is_unmapped = value.is_in(list(unmapped)).fill_null(False)
    reason_free = pl.col("_reason").is_null()
    return frame.with_columns(
        event_type=value.replace_strict(mapping, default=None, return_dtype=pl.String),
        _reason=pl.when(reason_free & is_unmapped)
        .then(pl.lit(UNMAPPED_EVENT_TYPE))
        .when(reason_free & ~known)
        .then(pl.lit(UNKNOWN_EVENT_TYPE))
        .otherwise(pl.col("_reason")),
        _detail=pl.when(reason_free & is_unmapped)
        .then(pl.format("{} event type '{}' has no canonical event type", pl.lit(source), value))
        .when(reason_free & ~known)
        .then(pl.format("{} event type '{}' is not one of {}", pl.lit(source), value, pl.lit(", ".join(mapping))))
        .otherwise(pl.col("_detail")),
    )
