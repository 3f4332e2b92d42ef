"""``ingest``: log files -> validated, partitioned, deduplicated Parquet lake, with reconciliation.

For each file: a plain canonical CSV is validated and staged by one polars streaming pipeline
(``recrl.ingest.fast_csv``); any other file (or a CSV that pipeline refuses) is read block by block
(``recrl.ingest.formats``), validated (``recrl.ingest.validate``), its user ids optionally hashed
with a salt, and its accepted and rejected rows staged (``recrl.ingest.writer``). Then publish the batch and write one reconciliation record per file:

    input_rows = accepted_rows + quarantined_rows + duplicate_rows

counted in candidate events (a source record that cannot be expanded into events counts as one).
The batch id defaults to a digest of the format and the files' bytes, so the same input always
yields the same batch id and the same lake content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recrl.config import IngestConfig
from recrl.ingest.fast_csv import plain_header, profile_file, stage_plain_csv, user_table
from recrl.ingest.formats import get_format
from recrl.ingest.keys import hash_user_ids, salt_from_env
from recrl.ingest.lines import DEFAULT_BLOCK_BYTES
from recrl.ingest.validate import validate
from recrl.ingest.writer import BatchWriter
from recrl.lake import DataLayout

BATCH_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class FileReconciliation:
    """One input file of one run: where every candidate row went."""

    source_file: str
    source_sha256: str
    input_rows: int
    accepted_rows: int
    quarantined_rows: int
    duplicate_rows: int

    @property
    def balanced(self) -> bool:
        return self.input_rows == self.accepted_rows + self.quarantined_rows + self.duplicate_rows


@dataclass(frozen=True)
class IngestReport:
    """What one ``ingest`` call did."""

    batch_id: str
    format: str
    started_at: dt.datetime
    files: tuple[FileReconciliation, ...]
    partitions_written: tuple[str, ...]
    """Lake event partitions (``date=.../shard=..``) that received rows."""

    def to_frame(self) -> pl.DataFrame:
        """One row per file: the reconciliation record as stored under ``{lake}/reconciliation``."""
        return pl.DataFrame(
            [
                {
                    "ingest_batch_id": self.batch_id,
                    "started_at": self.started_at,
                    "format": self.format,
                    **vars(record),
                    "partitions_written": len(self.partitions_written),
                }
                for record in self.files
            ],
            schema_overrides={"started_at": pl.Datetime("us", "UTC")},
        )

    def table(self) -> str:
        """The reconciliation as a plain-text table (what the CLI prints)."""
        header = ("file", "input", "accepted", "quarantined", "duplicates")
        rows = [
            (Path(r.source_file).name, r.input_rows, r.accepted_rows, r.quarantined_rows, r.duplicate_rows)
            for r in self.files
        ]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(cell).rjust(width) if i else str(cell).ljust(width) for i, (cell, width) in enumerate(zip(row, widths, strict=True))) for row in [header, *rows]]
        lines.append(f"batch {self.batch_id}: {len(self.partitions_written)} event partition(s) written")
        return "\n".join(lines)


def default_batch_id(fmt: str, digests: Sequence[str]) -> str:
    """First 16 hex digits of SHA-256 over the format and the files' SHA-256 digests, in order."""
    hasher = hashlib.sha256(fmt.encode("utf-8"))
    for digest in digests:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()[:16]


def _check_paths(paths: Sequence[str | Path]) -> list[Path]:
    if not paths:
        raise ValueError("paths: give at least one input file")
    checked = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise FileNotFoundError(f"input path not found: {path}")
        if not path.is_file():
            raise ValueError(f"input path is not a file: {path}")
        checked.append(path.resolve())
    return checked


def ingest(
    paths: Sequence[str | Path],
    fmt: str,
    layout: DataLayout,
    config: IngestConfig,
    batch_id: str | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Ingest ``paths`` of format ``fmt`` into the lake of ``layout``; see the module docstring.

    Parameters
    ----------
    paths
        Input files; all are checked to exist before anything is read.
    fmt
        One of ``recrl.ingest.formats.FORMATS``.
    layout
        Data root; rows go under ``layout.events``, ``quarantine``, ``items``, ``reconciliation``.
    config
        Shards, salt variable and timestamp bounds.
    batch_id
        Id stamped on every row of this run (``ingest_batch_id``); default: digest of the input.
    block_bytes
        Bytes read per block; bounds memory.
    now
        Ingest time for the future-timestamp bound (default: the current UTC time).
    """
    reader = get_format(fmt)
    files = _check_paths(paths)
    if batch_id is not None and not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise ValueError(f"batch_id must match {BATCH_ID_PATTERN.pattern}, got {batch_id!r}")
    if config.n_shards < 1:
        raise ValueError(f"IngestConfig.n_shards must be >= 1, got {config.n_shards}")
    started_at = dt.datetime.now(dt.UTC)
    now = now or started_at
    salt = salt_from_env(config.salt_env_var)

    # hashlib and polars release the GIL: profile (digest) the files on a side thread while the
    # user tables of CSV files that may take the fast path are built.
    profiling = ThreadPoolExecutor(max_workers=1)
    profile_futures = [profiling.submit(profile_file, path, block_bytes) for path in files]
    profiling.shutdown(wait=False)
    fast_candidates = [fmt == "events" and path.suffix.lower() == ".csv" for path in files]
    users = [
        _user_table_or_none(path, config.n_shards, salt) if candidate else None
        for path, candidate in zip(files, fast_candidates, strict=True)
    ]
    profiles = [future.result() for future in profile_futures]
    batch_id = batch_id or default_batch_id(fmt, [profile.sha256 for profile in profiles])

    writer = BatchWriter(layout, run_id=uuid.uuid4().hex, n_shards=config.n_shards)
    writer.clear_stale_staging()
    counts: list[Counter] = []
    # A format whose reader maps positions itself (OBD) says so; others follow the config.
    positions = getattr(reader, "POSITIONS", config.positions)
    for file_index, (path, profile, file_users) in enumerate(zip(files, profiles, users, strict=True)):
        count: Counter = Counter()
        seen_positions: set[int] = set()  # distinct accepted positions: is the file 1-based?
        staged = None
        if profile.plain and file_users is not None:
            staging = writer.fast_staging(file_index)
            staged = stage_plain_csv(path, profile, file_index, file_users, batch_id, staging, config, now, positions)
        if staged is not None:
            count.update(input=profile.data_lines, accepted=staged[0], quarantined=staged[1])
            seen_positions = _staged_positions(staging)
        else:
            for candidates in reader.read(path, block_bytes):
                accepted, rejected = validate(candidates.events, reader.TS_FORMAT, config, now, positions)
                seen_positions.update(accepted["position"].drop_nulls().unique().to_list())
                if salt is not None:
                    accepted = accepted.with_columns(user_id=hash_user_ids(accepted["user_id"], salt))
                writer.stage_events(accepted, file_index)
                writer.stage_quarantine(rejected, file_index, str(path))
                if candidates.items is not None:
                    writer.stage_items(candidates.items, fmt)
                count.update(input=candidates.events.height, accepted=accepted.height, quarantined=rejected.height)
        if positions == "zero-based" and _looks_one_based(seen_positions):
            shutil.rmtree(writer.staging, ignore_errors=True)  # nothing of the batch is published
            raise ValueError(
                f"{path}: positions look 1-based (1..{max(seen_positions)}, no 0): set ingest.positions='one-based'"
            )
        counts.append(count)

    published = writer.publish(batch_id)
    records = []
    for file_index, (path, profile, count) in enumerate(zip(files, profiles, counts, strict=True)):
        duplicate_events = published.duplicate_events[file_index]
        duplicate_quarantine = published.duplicate_quarantine[file_index]
        records.append(
            FileReconciliation(
                source_file=str(path),
                source_sha256=profile.sha256,
                input_rows=count["input"],
                accepted_rows=count["accepted"] - duplicate_events,
                quarantined_rows=count["quarantined"] - duplicate_quarantine,
                duplicate_rows=duplicate_events + duplicate_quarantine,
            )
        )
    report = IngestReport(batch_id, fmt, started_at, tuple(records), tuple(published.partitions))
    _write_reconciliation(report, layout)
    return report


def _looks_one_based(seen_positions: set[int]) -> bool:
    """True when a file's accepted positions are exactly 1..K, K >= 2: every slot but slot 0.

    A zero-based slate always has a slot 0; a file with one position only (a single slot-1 row) is
    too little evidence to refuse.
    """
    return len(seen_positions) >= 2 and seen_positions == set(range(1, len(seen_positions) + 1))


def _staged_positions(staging: Path) -> set[int]:
    """Distinct positions of the rows the fast path staged (one narrow column of its Parquet files)."""
    parts = sorted((staging / "events").glob("*/*/*.parquet"))
    if not parts:
        return set()
    distinct = pl.scan_parquet(parts).select(pl.col("position").drop_nulls().unique()).collect()
    return set(distinct["position"].to_list())


def _user_table_or_none(path: Path, n_shards: int, salt: bytes | None) -> pl.DataFrame | None:
    """The fast path's user table when the file's first line is a plain header, else None."""
    header = plain_header(path)
    if header is None or "user_id" not in header:
        return None
    try:
        return user_table(path, header, n_shards, salt)
    except pl.exceptions.PolarsError:
        return None  # not parsable as plain CSV (e.g. too many fields): the block path handles it


def _write_reconciliation(report: IngestReport, layout: DataLayout) -> None:
    """Append this run's records (one file per run, written aside then renamed into place)."""
    layout.reconciliation.mkdir(parents=True, exist_ok=True)
    name = f"part-{report.started_at:%Y%m%dT%H%M%S%f}-{report.batch_id}.parquet"
    aside = layout.reconciliation / f".{name}.tmp"
    report.to_frame().write_parquet(aside)
    aside.replace(layout.reconciliation / name)
