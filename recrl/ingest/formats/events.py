"""Canonical events: CSV (with header), JSONL (one object a line) or Parquet, chosen by file extension.

Columns are ``recrl.schema.CANONICAL_COLUMNS`` by name, in any order; the required ones
(``ts, user_id, item_id, event_type``) must be present in a CSV header or Parquet schema (else the file
is refused with a ValueError before anything is written); optional ones may be absent (null); other
columns are ignored. ``ts`` is ISO 8601 with a UTC offset (a Parquet timestamp column with a time zone is
taken as is; one without follows ``IngestConfig.naive_timestamps``, see ``recrl.ingest.validate``). A JSON
field holding an object or array is ``wrong_type``; a JSON line that cannot be parsed (bad JSON, nested
too deeply, a lone surrogate) is one quarantined record, never an error for the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recrl.ingest.formats.common import Candidates, finish_candidates, split_csv_lines, take_header
from recrl.ingest.lines import LineReader
from recrl.ingest.reasons import ENCODING_ERROR, MALFORMED_LINE, WRONG_TYPE
from recrl.schema import CANONICAL_COLUMNS, ITEM_SCHEMA, REQUIRED_COLUMNS

TS_FORMAT = "iso"
EXTENSIONS = (".csv", ".jsonl", ".ndjson", ".parquet")
PARQUET_BATCH_ROWS = 500_000
ITEMS_FILE = "items.csv"
"""The catalogue a log may carry beside it (the simulator writes one): ``recrl.schema.ITEM_SCHEMA`` columns."""


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


def read_side_items(path: Path) -> pl.DataFrame | None:
    """The catalogue ``items.csv`` beside the events file ``path`` as an items table (item_id, title,
    category, as text), or None when there is none; rows without an item id are dropped."""
    items_path = path.parent / ITEMS_FILE
    if not items_path.is_file():
        return None
    items = pl.read_csv(items_path, infer_schema=False)
    if "item_id" not in items.columns:
        raise ValueError(f"item catalogue {items_path} lacks the item_id column; found {items.columns}")
    columns = [pl.col(name) if name in items.columns else pl.lit(None, dtype=pl.String).alias(name)
               for name in ITEM_SCHEMA.names]
    return items.select(columns).filter(pl.col("item_id").is_not_null()).unique(maintain_order=True)


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValueError(f"events file {path} lacks required column(s) {missing}; found {columns}")


def _read_csv(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """The line-level CSV reader: every line split, every bad line named (``split_csv_lines``)."""
    header: tuple[str, ...] | None = None
    for lines in LineReader(path, block_bytes):
        if header is None:
            header, lines = take_header(lines, path)
            _check_columns(path, list(header))
        if not lines.height:
            continue
        split = split_csv_lines(lines, header)
        present = [name for name in CANONICAL_COLUMNS if name in header]
        yield Candidates(finish_candidates(split.select("_line", "_raw", "_reason", "_detail", *present)))


def json_value_text(value: object) -> str | None:
    """A JSON scalar as the text validation parses: strings as is, numbers and booleans as JSON, null as null."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def non_scalar_field(record: dict, names: Iterable[str]) -> tuple[str, str] | None:
    """(reason code, text) when a field of ``names`` holds a JSON object or array, else None.

    An id such as ``{"a": 1}`` is no id: taking its JSON text would invent one.
    """
    for name in names:
        value = record.get(name)
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "an array"
            return WRONG_TYPE, f"field '{name}' is {kind}, not a JSON scalar"
    return None


def _read_jsonl(path: Path, block_bytes: int) -> Iterator[Candidates]:
    for lines in LineReader(path, block_bytes):
        columns: dict[str, list[str | None]] = {name: [] for name in CANONICAL_COLUMNS}
        reasons: list[str | None] = []
        details: list[str | None] = []
        for raw, bad_encoding in zip(lines["_raw"], lines["_bad_encoding"], strict=True):
            record, reason, detail = parse_json_object(raw, bad_encoding)
            if reason is None and (found := non_scalar_field(record, CANONICAL_COLUMNS)) is not None:
                (reason, detail), record = found, {}
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


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate (``\\ud800``..``\\udfff``): valid only as half of a pair."""


def parse_json_object(raw: str, bad_encoding: bool) -> tuple[dict, str | None, str | None]:
    """(object, reason code, reason text) of one JSON line; an empty object when it is rejected.

    Never raises: bad JSON, nesting too deep for the parser and strings that hold a lone surrogate
    (valid JSON, but no Unicode text: no column can hold it) are reasons, so one bad line rejects
    one record, not the file.
    """
    if bad_encoding:
        return {}, ENCODING_ERROR, "line is not valid UTF-8"
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        return {}, MALFORMED_LINE, f"invalid JSON: {error.msg} at column {error.colno}"
    except RecursionError:
        return {}, MALFORMED_LINE, "invalid JSON: nested too deeply to parse"
    if not isinstance(record, dict):
        return {}, MALFORMED_LINE, f"expected a JSON object, got {type(record).__name__}"
    if SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return {}, ENCODING_ERROR, "a JSON string holds a lone UTF-16 surrogate (not valid Unicode)"
        except RecursionError:
            return {}, MALFORMED_LINE, "invalid JSON: nested too deeply to parse"
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
