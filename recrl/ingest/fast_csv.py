"""The fast path for plain canonical CSV: one polars streaming pipeline per file, no Python per block.

A *plain* CSV (``FileProfile.plain``) has a header of distinct names, no double quote, no carriage
return, no blank line, and ``len(header) - 1`` commas per line on average; polars refuses a line with
too many fields and bad UTF-8, so with the comma total every line has exactly the header's fields. For
such a file the native CSV reader yields the same fields the line path would, every line is a record
(line number = row index + 2), and a record's original text is its fields joined by commas. The
pipeline:

    scan_csv (every column String, row index) -> validation expressions (``recrl.ingest.validate``)
      -> every row joined (64-bit hash of the user id) to a per-distinct-user table: shard, salted id
      -> accepted: typed columns, sunk as Parquet partitioned by date and shard, already in the
         lake's final format
      -> rejected: quarantine columns, sunk as Arrow IPC partitioned by date
    (one ``collect_all``: both sinks share the scan and the join).

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
from recrl.ingest.lines import DEFAULT_BLOCK_BYTES
from recrl.ingest.validate import (
    ACCEPTED_COLUMNS,
    ISO_T,
    QUARANTINE_DATE,
    parse_timestamp,
    validation_columns,
)
from recrl.schema import CANONICAL_COLUMNS, REQUIRED_COLUMNS

TS_FORMAT = "iso"
ROW_INDEX = "_row"
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


def _header_names(first_line: bytes) -> tuple[str, ...] | None:
    """Names of a plain header line (distinct, non-empty, no padding or byte-order mark), else None."""
    if not first_line.endswith(b"\n"):
        return None
    try:
        names = first_line[:-1].decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    if not all(name and name == name.strip() and not name.startswith("\ufeff") for name in names):
        return None
    return tuple(names) if len(set(names)) == len(names) else None


def plain_header(path: Path, max_bytes: int = MAX_HEADER_BYTES) -> tuple[str, ...] | None:
    """The header names of ``path`` when its first line is a plain header (a cheap look ahead)."""
    with open(path, "rb") as handle:
        head = handle.read(max_bytes)
    return _header_names(head[: head.find(b"\n") + 1])


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
                # A blank line is two newlines in a row, also across the chunk boundary.
                suspicious = b'"' in chunk or b"\r" in chunk or b"\n\n" in chunk or (last_byte == b"\n" and chunk[:1] == b"\n")
                lines += chunk.count(b"\n")
                commas += chunk.count(b",")
            last_byte = chunk[-1:]
    digest = hasher.hexdigest()
    names = None if suspicious else _header_names(head[: head.find(b"\n") + 1])
    lines += last_byte != b"\n"  # an unterminated last line
    if names is None or commas != lines * (len(names) - 1):
        return FileProfile(digest, None, 0)
    return FileProfile(digest, names, lines - 1)


def _scan(path: Path, header: tuple[str, ...]) -> pl.LazyFrame:
    return pl.scan_csv(
        path,
        schema=dict.fromkeys(header, pl.String),
        quote_char=None,
        row_index_name=ROW_INDEX,
        encoding="utf8",
    )


USER_KEY_SEED = 0x5EED
"""Seed of the 64-bit hash that joins rows to their user's keys (``user_table``); any fixed value."""


def _user_key(hashed: bool) -> pl.Expr:
    """The join key of a row's user: a 64-bit hash of the id, or the id itself (see ``user_table``)."""
    return (pl.col("user_id").hash(USER_KEY_SEED) if hashed else pl.col("user_id")).alias("_user_key")


def user_table(path: Path, header: tuple[str, ...], n_shards: int, salt: bytes | None) -> pl.DataFrame:
    """One row per distinct user id of the file: ``_user_key``, ``_shard`` and, with a salt, ``_user_out``.

    md5 (and HMAC) run once per distinct user (``recrl.ingest.keys``), then the pipeline joins the
    table back: the same values the line path computes row by row. ``_user_key`` is a 64-bit hash of
    the id (UInt64): a narrow key keeps the table small (its size is the number of distinct users,
    not of rows) and the join fast. The hash is exact here because every row's id is in the table,
    so a row can only meet its own id's entry unless two distinct ids share a hash: that is checked,
    and then the key is the id itself (String). Without a salt the id is kept as is, so the table
    carries no ``_user_out``.
    """
    users = _scan(path, header).select(pl.col("user_id").drop_nulls().unique()).collect(engine="streaming")["user_id"]
    table = user_key_table(users, n_shards, salt).with_columns(_user_key(hashed=True))
    if table["_user_key"].n_unique() < table.height:  # a 64-bit collision: join on the id instead
        table = table.with_columns(_user_key(hashed=False))
    return table.select("_user_key", "_shard", *(["_user_out"] if salt is not None else []))


def stage_plain_csv(
    path: Path,
    profile: FileProfile,
    file_index: int,
    users: pl.DataFrame,
    batch_id: str,
    staging: Path,
    config: IngestConfig,
    now: dt.datetime,
) -> tuple[int, int] | None:
    """Stage a plain CSV under ``staging`` (see the module docstring); (accepted, quarantined) rows.

    Returns None, leaving nothing under ``staging``, when the file must take the line path.
    """
    header = profile.header
    if header is None:
        raise ValueError(f"{path} is not a plain CSV; use the line path")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(f"events file {path} lacks required column(s) {missing}; found {list(header)}")
    typed, reason_code, reason = validation_columns(TS_FORMAT, config, now)
    frame = _scan(path, header).with_columns(
        *(pl.lit(None, dtype=pl.String).alias(name) for name in CANONICAL_COLUMNS if name not in header),
        _reason=pl.lit(None, dtype=pl.String),
        _detail=pl.lit(None, dtype=pl.String),
        _ts=pl.col("ts").str.to_datetime(ISO_T, strict=False, time_zone="UTC", time_unit="us"),
    ).with_columns(*typed).with_columns(reason_code)

    # Join before the split into accepted and rejected rows: the scan then feeds one pipeline. A join
    # on one branch of a shared scan makes polars buffer the scan's output for that branch while the
    # other drains the file (peak memory grew with the file: 4.3 GB on 20M rows).
    hashed = users.schema["_user_key"] == pl.UInt64
    frame = frame.with_columns(_user_key(hashed)).join(users.lazy(), on="_user_key", how="left", maintain_order="left")
    user_out = pl.col("_user_out") if "_user_out" in users.columns else pl.col("user_id")
    accepted = frame.filter(pl.col("reason_code").is_null()).select(
        *(user_out.alias("user_id") if name == "user_id" else expr for name, expr in zip(CANONICAL_COLUMNS, ACCEPTED_COLUMNS, strict=True)),
        ingest_batch_id=pl.lit(batch_id),
        date=pl.col("_ts").dt.date().cast(pl.String),
        shard=pl.col("_shard").cast(pl.String).str.zfill(2),
    )
    raw = pl.concat_str([pl.col(name).fill_null("") for name in header], separator=",")
    rejected = frame.filter(pl.col("reason_code").is_not_null()).select(
        _file=pl.lit(file_index, dtype=pl.Int32),
        raw=raw,
        source_file=pl.lit(str(path)),
        line_number=(pl.col(ROW_INDEX).cast(pl.Int64) + 2),
        record_index=pl.lit(0, dtype=pl.Int32),
        reason_code=pl.col("reason_code"),
        reason=reason,
        date=QUARANTINE_DATE,
    )
    events_dir, quarantine_dir = staging / "events", staging / "quarantine"
    one_file_per_partition = {"include_key": False, "approximate_bytes_per_file": None}
    try:
        pl.collect_all(
            [
                accepted.sink_parquet(
                    pl.PartitionBy(events_dir, key=["date", "shard"], **one_file_per_partition),
                    compression="zstd",
                    statistics=True,
                    mkdir=True,
                    lazy=True,
                ),
                rejected.sink_ipc(pl.PartitionBy(quarantine_dir, key=["date"], **one_file_per_partition), mkdir=True, lazy=True),
            ],
            engine="streaming",
        )
    except pl.exceptions.PolarsError:
        # Too many fields on a line, or bad UTF-8: the line path names the bad lines.
        shutil.rmtree(staging, ignore_errors=True)
        return None
    n_accepted = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in events_dir.glob("*/*/*.parquet"))
    quarantined = [pl.read_ipc(p) for p in quarantine_dir.glob("*/*.ipc")]
    n_quarantined = sum(part.height for part in quarantined)
    if n_accepted + n_quarantined != profile.data_lines or _space_form_rejected(quarantined, header.index("ts")):
        shutil.rmtree(staging, ignore_errors=True)
        return None
    return n_accepted, n_quarantined


def _space_form_rejected(quarantined: list[pl.DataFrame], ts_field: int) -> bool:
    """True when a row rejected as ``bad_timestamp`` parses with the full ISO parser (space form)."""
    for part in quarantined:
        raw_ts = part.filter(pl.col("reason_code") == "bad_timestamp")["raw"].str.split(",").list.get(ts_field)
        if raw_ts.len() and parse_timestamp(raw_ts, TS_FORMAT).is_not_null().any():
            return True
    return False
