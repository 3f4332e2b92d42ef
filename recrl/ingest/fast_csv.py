"""The fast path for plain canonical CSV: one polars streaming pipeline per file, no Python per block.

A *plain* CSV (``FileProfile.plain``) has a header of at least two distinct names, no double quote,
no carriage return, and ``len(header) - 1`` commas per line on average; polars refuses a line with
too many fields and bad UTF-8, so with the comma total every line has exactly the header's fields (a
blank line, having no comma, would need another line with too many). For such a file the native CSV
reader yields the same fields the line path would, every line is a record (line number = row index
+ 2), and a record's original text is its fields joined by commas. The pipeline, one streaming pass:

    scan_csv (every column String) -> validation expressions (``recrl.ingest.validate``)
      -> every row joined (64-bit hash of the user id) to a per-distinct-user table: shard, salted id
      -> accepted rows: typed columns, sunk as Parquet partitioned by date and shard, already in the
         lake's final format: the staged file of every path (``recrl.ingest.writer``)

The pipeline sinks into a scratch folder; the caller moves its files into the staging layout once
the checks below pass (``BatchWriter.adopt``). The accepted rows written are counted from the
Parquet footers. When they fall short of the file's line count, a second pass (with a row index)
sinks the rejected rows as staged quarantine rows (the same Parquet form) partitioned by date: a
clean file is read once, a file with bad rows twice. Both sinks sharing one
scan in one ``collect_all`` cost more even for a clean file, where the second pass costs nothing
(measured on 4M clean rows: 17.3 vs 12.8 CPU-seconds for the pipeline).

After the run, the rows written must add up to the file's line count, and no rejected timestamp may
be one the full parser accepts (the pipeline parses the ``T`` form only; the space form is rare and
takes the line path). Otherwise -- and whenever polars refuses the file -- the staged output is
discarded and the caller falls back to the line path (``recrl.ingest.formats.events``), which names
each bad line's reason. Both paths stage the same rows in the same order (tested).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recrl.config import IngestConfig
from recrl.ingest.keys import user_key_table
from recrl.ingest.lines import DEFAULT_BLOCK_BYTES, parse_header
from recrl.ingest.reasons import BAD_TIMESTAMP
from recrl.ingest.validate import (
    ACCEPTED_COLUMNS,
    ISO_T,
    QUARANTINE_DATE,
    Validation,
    naive_timestamp,
    parse_timestamp,
    validation_columns,
)
from recrl.ingest.writer import PUBLISHED_COMPRESSION
from recrl.schema import CANONICAL_COLUMNS, REQUIRED_COLUMNS

TS_FORMAT = "iso"
ROW_INDEX = "_row"
ONE_FILE_PER_PARTITION = {"include_key": False, "approximate_bytes_per_file": None}
"""``pl.PartitionBy`` options: the key lives in the folder name only, and no file is split by size."""
MAX_HEADER_BYTES = 1 << 20
"""A first line longer than this is no plain header (bounds what ``profile_file`` holds)."""


@dataclass(frozen=True)
class FileProfile:
    """What one pass over a file's bytes found: its digest and whether the fast CSV path applies."""

    sha256: str
    header: tuple[str, ...] | None
    """The CSV header names when the file is plain (see the module docstring), else None."""
    data_lines: int
    """Lines after the header (the last one may lack its newline)."""

    @property
    def plain(self) -> bool:
        return self.header is not None


def _header_names(first_line: bytes, path: Path) -> tuple[str, ...] | None:
    """Names of a plain header line (two or more, non-empty, no padding or BOM), else None.

    The names are those of ``recrl.ingest.lines.parse_header``, the one header reader; plain only
    adds what the native reader needs to split like the line path. A header it refuses (a name
    given twice) is not plain: the line path raises its error. Never raises: every file is profiled,
    and a headerless format's first line is data.
    """
    if not first_line.endswith(b"\n"):
        return None
    try:
        text = first_line[:-1].decode("utf-8")
        names = parse_header(text, path)
    except (UnicodeDecodeError, ValueError):
        return None
    if len(names) < 2 or text != ",".join(names) or not all(names):
        return None
    return names


def plain_header(path: Path, max_bytes: int = MAX_HEADER_BYTES) -> tuple[str, ...] | None:
    """The header names of ``path`` when its first line is a plain header (a cheap look ahead)."""
    with open(path, "rb") as handle:
        head = handle.read(max_bytes)
    return _header_names(head[: head.find(b"\n") + 1], path)


def profile_file(path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> FileProfile:
    """SHA-256 of the file and the byte checks of a plain CSV, in one read (hashlib releases the GIL)."""
    hasher = hashlib.sha256()
    suspicious = False
    lines = commas = 0
    head = b""  # the file's start, until it holds the header line
    last_byte = b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(block_bytes):
            hasher.update(chunk)
            if b"\n" not in head and len(head) < MAX_HEADER_BYTES:
                head += chunk
            if not suspicious:
                # No search for blank lines ("\n\n" costs more than the digest): see the module docstring.
                suspicious = b'"' in chunk or b"\r" in chunk
                lines += chunk.count(b"\n")
                commas += chunk.count(b",")
            last_byte = chunk[-1:]
    digest = hasher.hexdigest()
    names = None if suspicious else _header_names(head[: head.find(b"\n") + 1], path)
    lines += last_byte != b"\n"  # an unterminated last line
    if names is None or commas != lines * (len(names) - 1):
        return FileProfile(digest, None, 0)
    return FileProfile(digest, names, lines - 1)


def _scan(path: Path, header: tuple[str, ...], row_index: bool = False) -> pl.LazyFrame:
    """Every column as String; with ``row_index``, also ``ROW_INDEX`` (costly: only the rejected pass)."""
    return pl.scan_csv(
        path,
        schema=dict.fromkeys(header, pl.String),
        quote_char=None,
        row_index_name=ROW_INDEX if row_index else None,
        encoding="utf8",
    )


USER_KEY_SEED = 0x5EED
"""Seed of the 64-bit hash that joins rows to their user's keys (``user_table``); any fixed value."""


def _user_key(hashed: bool) -> pl.Expr:
    """The join key of a row's user: a 64-bit hash of the id, or the id itself (see ``user_table``)."""
    return (pl.col("user_id").hash(USER_KEY_SEED) if hashed else pl.col("user_id")).alias("_user_key")


def user_table(path: Path, header: tuple[str, ...], n_shards: int, salt: bytes | None) -> pl.DataFrame:
    """One row per distinct user id of the file: ``_user_key``, ``_shard`` and, with a salt, ``_user_out``.

    md5 (and HMAC) run once per distinct user (``recrl.ingest.keys``, ``sql/ingest/``), then the pipeline joins the
    table back: the same values the line path computes row by row. ``_user_key`` is a 64-bit hash of
    the id (UInt64): a narrow key keeps the table small (its size is the number of distinct users,
    not of rows) and the join fast. The hash is exact here because every row's id is in the table,
    so a row can only meet its own id's entry unless two distinct ids share a hash: that is checked,
    and then the key is the id itself (String). Without a salt the id is kept as is, so the table
    carries no ``_user_out``. ``_shard`` is the partition folder's name (``00``, ``01``, ...) as an
    Enum: formatted here once per user, and the sink partitions on its integer codes.
    """
    distinct_ids = _scan(path, header).select(pl.col("user_id").drop_nulls().unique())
    users = distinct_ids.collect(engine="streaming")["user_id"]  # (distinct,)
    shard_names = pl.Enum([f"{shard:02d}" for shard in range(n_shards)])
    table = user_key_table(users, n_shards, salt).with_columns(
        _user_key(hashed=True), _shard=pl.col("_shard").cast(pl.String).str.zfill(2).cast(shard_names)
    )
    if table["_user_key"].n_unique() < table.height:  # a 64-bit collision: join on the id instead
        table = table.with_columns(_user_key(hashed=False))
    return table.select("_user_key", "_shard", *(["_user_out"] if salt is not None else []))


def _validated(
    path: Path, header: tuple[str, ...], row_index: bool, config: IngestConfig, now: dt.datetime, positions: str
) -> tuple[pl.LazyFrame, Validation]:
    """The file's rows with ``_ts`` and the typed columns; and the checks to split them by."""
    checks = validation_columns(TS_FORMAT, config, now, positions)
    ts = pl.col("ts").str.to_datetime(ISO_T, strict=False, time_zone="UTC", time_unit="us")
    if config.naive_timestamps == "utc":
        ts = pl.coalesce(ts, naive_timestamp(pl.col("ts")))
    frame = _scan(path, header, row_index).with_columns(
        *(pl.lit(None, dtype=pl.String).alias(name) for name in CANONICAL_COLUMNS if name not in header),
        _reason=pl.lit(None, dtype=pl.String),
        _detail=pl.lit(None, dtype=pl.String),
        _ts=ts,
    )
    return frame.with_columns(*checks.typed), checks


def _accepted_rows(
    validated: pl.LazyFrame, checks: Validation, users: pl.DataFrame, batch_id: str
) -> pl.LazyFrame:
    """Accepted rows in the lake's final form (salted id, batch id), with their ``date``/``shard`` keys.

    One pipeline from the scan to the sink (a join on one branch of a shared scan made polars buffer
    the scan's output: peak memory grew with the file; see docs/ingest.md).
    """
    hashed = users.schema["_user_key"] == pl.UInt64
    joined = validated.with_columns(checks.accepted, _user_key(hashed)).join(
        users.lazy(), on="_user_key", how="left", maintain_order="left"
    )
    user_out = pl.col("_user_out") if "_user_out" in users.columns else pl.col("user_id")
    return joined.filter(pl.col("_accepted")).select(
        *(
            user_out.alias("user_id") if name == "user_id" else expr
            for name, expr in zip(CANONICAL_COLUMNS, ACCEPTED_COLUMNS, strict=True)
        ),
        ingest_batch_id=pl.lit(batch_id),
        # Partition keys that are not text (a Date, an Enum) spare formatting and hashing a string
        # per row: 11.3 -> 9.6 CPU-seconds for this pipeline on 4M rows. Folder names are the same.
        date=pl.col("_ts").dt.date(),
        shard=pl.col("_shard"),
    )


def _rejected_rows(
    validated: pl.LazyFrame, checks: Validation, path: Path, header: tuple[str, ...], batch_id: str
) -> pl.LazyFrame:
    """Rejected rows as staged quarantine rows (``validated`` needs the row index: line = index + 2)."""
    return validated.filter(~checks.accepted).select(
        raw=pl.concat_str([pl.col(name).fill_null("") for name in header], separator=","),
        source_file=pl.lit(str(path)),
        line_number=(pl.col(ROW_INDEX).cast(pl.Int64) + 2),
        record_index=pl.lit(0, dtype=pl.Int32),
        reason_code=checks.reason_code,
        reason=checks.reason,
        ingest_batch_id=pl.lit(batch_id),
        date=QUARANTINE_DATE,
    )


def stage_plain_csv(
    path: Path,
    profile: FileProfile,
    users: pl.DataFrame,
    batch_id: str,
    staging: Path,
    config: IngestConfig,
    now: dt.datetime,
    positions: str | None = None,
) -> tuple[int, int] | None:
    """Sink a plain CSV's staged files into the scratch folder ``staging`` (see the module docstring).

    Returns (accepted, quarantined) rows; or None, leaving nothing under ``staging``, when the file
    must take the line path.
    """
    header = profile.header
    if header is None:
        raise ValueError(f"{path} is not a plain CSV; use the line path")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(f"events file {path} lacks required column(s) {missing}; found {list(header)}")
    positions = positions or config.positions
    events_dir, quarantine_dir = staging / "events", staging / "quarantine"
    quarantined: list[pl.DataFrame] = []
    try:
        validated, checks = _validated(path, header, False, config, now, positions)
        _accepted_rows(validated, checks, users, batch_id).sink_parquet(
            pl.PartitionBy(events_dir, key=["date", "shard"], **ONE_FILE_PER_PARTITION),
            compression=PUBLISHED_COMPRESSION,
            statistics=True,
            mkdir=True,
        )
        n_accepted = sum(_parquet_rows(part) for part in events_dir.glob("*/*/*.parquet"))
        if n_accepted < profile.data_lines:
            validated, checks = _validated(path, header, True, config, now, positions)
            _rejected_rows(validated, checks, path, header, batch_id).sink_parquet(
                pl.PartitionBy(quarantine_dir, key=["date"], **ONE_FILE_PER_PARTITION),
                compression=PUBLISHED_COMPRESSION,
                statistics=True,
                mkdir=True,
            )
            quarantined = [pl.read_parquet(part) for part in quarantine_dir.glob("*/*.parquet")]
    except pl.exceptions.PolarsError:
        # Too many fields on a line, or bad UTF-8: the line path names the bad lines.
        shutil.rmtree(staging, ignore_errors=True)
        return None
    n_quarantined = sum(part.height for part in quarantined)
    ts_field = header.index("ts")
    if n_accepted + n_quarantined != profile.data_lines or _parsable_ts_rejected(quarantined, ts_field, config):
        shutil.rmtree(staging, ignore_errors=True)
        return None
    return n_accepted, n_quarantined


def _parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return pl.scan_parquet(path).select(pl.len()).collect().item()


def _parsable_ts_rejected(quarantined: list[pl.DataFrame], ts_field: int, config: IngestConfig) -> bool:
    """True when a row rejected as ``bad_timestamp`` parses with the full ISO parser (space form)."""
    for part in quarantined:
        raw_ts = part.filter(pl.col("reason_code") == BAD_TIMESTAMP)["raw"].str.split(",").list.get(ts_field)
        if raw_ts.len() and parse_timestamp(raw_ts, TS_FORMAT, config.naive_timestamps).is_not_null().any():
            return True
    return False
