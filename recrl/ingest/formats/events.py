"""Canonical events: CSV (with header), JSONL (one object a line) or Parquet, chosen by file extension.

Columns are ``recrl.schema.CANONICAL_COLUMNS`` by name, in any order; the required ones
(``ts, user_id, item_id, event_type``) must be present in a CSV header or Parquet schema (else the file
is refused with a ValueError before anything is written); optional ones may be absent (null); other
columns are ignored. ``ts`` is ISO 8601 with a UTC offset (a Parquet timestamp column is taken as is).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recrl.ingest.formats.common import Candidates, finish_candidates, split_csv_lines, split_plain_csv_block
from recrl.ingest.lines import LineReader, block_to_frame
from recrl.schema import CANONICAL_COLUMNS, REQUIRED_COLUMNS

TS_FORMAT = "iso"
EXTENSIONS = (".csv", ".jsonl", ".ndjson", ".parquet")
PARQUET_BATCH_ROWS = 500_000


def read(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """Candidates of a canonical events file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, block_bytes)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, block_bytes)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise ValueError(f"events file {path} must end in one of {', '.join(EXTENSIONS)}")


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValueError(f"events file {path} lacks required column(s) {missing}; found {columns}")


def _read_csv(path: Path, block_bytes: int) -> Iterator[Candidates]:
    header: list[str] | None = None
    for block, first_line in LineReader(path, block_bytes).blocks():
        split = None
        if header is None:
            header, block, first_line = _take_header(block, first_line)
            if header is not None:
                _check_columns(path, header)
        if header is not None:
            split = split_plain_csv_block(block, first_line, header) if block else None
        if split is None:
            lines = block_to_frame(block, first_line, first=first_line == 1)
            if header is None:
                if not lines.height:
                    continue
                header = [name.strip() for name in lines["_raw"][0].split(",")]
                _check_columns(path, header)
                lines = lines.slice(1)
            if not lines.height:
                continue
            split = split_csv_lines(lines, header)
        yield Candidates(finish_candidates(split.select("_line", "_raw", "_reason", "_detail", *(c for c in CANONICAL_COLUMNS if c in header))))


def _take_header(block: bytes, first_line: int) -> tuple[list[str] | None, bytes, int]:
    """(header names, rest of the block, its first line) when the block opens with a plain header line.

    Otherwise (a blank first line, bad UTF-8, a line longer than the block) no header is taken and
    the line path finds it as the first non-blank line, as it always did.
    """
    cut = block.find(b"\n")
    if first_line != 1 or cut < 0:
        return None, block, first_line
    try:
        text = block[:cut].decode("utf-8")
    except UnicodeDecodeError:
        return None, block, first_line
    text = text.removeprefix("\ufeff").removesuffix("\r")
    if not text.strip():
        return None, block, first_line
    return [name.strip() for name in text.split(",")], block[cut + 1 :], first_line + 1


def json_value_text(value: object) -> str | None:
    """A JSON value as the text validation parses: strings as is, scalars as JSON, null as null."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _read_jsonl(path: Path, block_bytes: int) -> Iterator[Candidates]:
    for lines in LineReader(path, block_bytes):
        columns: dict[str, list[str | None]] = {name: [] for name in CANONICAL_COLUMNS}
        reasons: list[str | None] = []
        details: list[str | None] = []
        for raw, bad_encoding in zip(lines["_raw"], lines["_bad_encoding"], strict=True):
            record, reason, detail = _parse_json_object(raw, bad_encoding)
            reasons.append(reason)
            details.append(detail)
            for name in CANONICAL_COLUMNS:
                columns[name].append(json_value_text(record.get(name)))
        frame = lines.select("_line", "_raw").with_columns(
            pl.Series("_reason", reasons, dtype=pl.String),
            pl.Series("_detail", details, dtype=pl.String),
            *(pl.Series(name, values, dtype=pl.String) for name, values in columns.items()),
        )
        yield Candidates(finish_candidates(frame))


def _parse_json_object(raw: str, bad_encoding: bool) -> tuple[dict, str | None, str | None]:
    """(object, reason code, reason text) of one JSON line; an empty object when it is rejected."""
    if bad_encoding:
        return {}, "encoding_error", "line is not valid UTF-8"
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        return {}, "malformed_line", f"invalid JSON: {error.msg} at column {error.colno}"
    if not isinstance(record, dict):
        return {}, "malformed_line", f"expected a JSON object, got {type(record).__name__}"
    return record, None, None


def _read_parquet(path: Path) -> Iterator[Candidates]:
    parquet = pq.ParquetFile(path)
    _check_columns(path, parquet.schema_arrow.names)
    present = [name for name in CANONICAL_COLUMNS if name in parquet.schema_arrow.names]
    first_row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=present):
        frame = pl.DataFrame(batch)
        keep_ts = isinstance(frame.schema["ts"], pl.Datetime)
        frame = frame.with_columns(
            *(pl.col(name).cast(pl.String) for name in present if not (name == "ts" and keep_ts)),
            _line=pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64),
            # A Parquet row has no line: its original content is the row as JSON.
            _raw=pl.struct(present).struct.json_encode(),
            _reason=pl.lit(None, dtype=pl.String),
            _detail=pl.lit(None, dtype=pl.String),
        )
        first_row += frame.height
        yield Candidates(finish_candidates(frame))
