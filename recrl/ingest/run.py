"""``ingest``: log files -> validated, partitioned, deduplicated Parquet lake, with reconciliation.

For each file: a plain canonical CSV is validated and staged by one polars streaming pipeline
(``recrl.ingest.fast_csv``); any other file (or a CSV that pipeline refuses) is read block by block
(``recrl.ingest.formats``), validated (``recrl.ingest.validate``), its user ids optionally hashed
with a salt, and its accepted and rejected rows staged (``recrl.ingest.writer``). Then publish the batch
and its reconciliation records, one per file, as one atomic step:

    input_rows = accepted_rows + quarantined_rows + duplicate_rows

counted in candidate events (a source record that cannot be expanded into events counts as one).
The batch id defaults to a digest of the format and the files' bytes, so the same input always
yields the same batch id and the same lake content.

Sources (``resolve_sources``) are files, folders (every regular file under them, recursively, sorted)
and glob patterns. Files whose SHA-256 already has a reconciliation record are skipped before they are
parsed (``IngestConfig.skip_ingested``), so a nightly run over a growing folder ingests the new files
only. A batch with more than ``IngestConfig.max_quarantine_share`` of its input rows quarantined is
refused (``QuarantineShareError``): nothing is published, its rejected rows are kept under
``{lake}/refused/{batch_id}/``.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from recrl.config import IngestConfig
from recrl.ingest.fast_csv import FileProfile, plain_header, profile_file, stage_plain_csv, user_table
from recrl.ingest.formats import get_format
from recrl.ingest.keys import hash_user_ids, salt_from_env
from recrl.ingest.lines import DEFAULT_BLOCK_BYTES
from recrl.ingest.reasons import FIXES
from recrl.ingest.validate import validate
from recrl.ingest.writer import STAGING_DIR, BatchWriter, recover_staging
from recrl.lake import DataLayout

BATCH_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
GLOB_CHARACTERS = re.compile(r"[*?\[]")
SKIPPED_FOLDERS = frozenset({"lake", STAGING_DIR})
"""Folder names never searched for input: a recrl lake under a data root and its staging area."""
SIDE_FILES: dict[str, frozenset[str]] = {"obd": frozenset({"item_context.csv"}), "events": frozenset({"items.csv"})}
"""Per format, file names read beside a log (not logs themselves): left out when a folder or glob is expanded."""
BLANK_PROBE_BYTES = 1 << 20
"""Files up to this size are checked for holding only whitespace (ingested as empty, without parsing)."""


class IngestError(ValueError):
    """An input file or lake location ingest cannot use, said in one line naming it (CLI exit 2)."""


class QuarantineShareError(IngestError):
    """The batch was refused: more of its input rows were quarantined than ``max_quarantine_share``."""


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
class SkippedFile:
    """An input file skipped because a file with the same SHA-256 has a reconciliation record."""

    source_file: str
    source_sha256: str
    ingest_batch_id: str
    """The batch that ingested that content."""


@dataclass(frozen=True)
class IngestReport:
    """What one ``ingest`` call did."""

    batch_id: str
    format: str
    started_at: dt.datetime
    files: tuple[FileReconciliation, ...]
    partitions_written: tuple[str, ...]
    """Lake event partitions (``date=.../shard=..``) that received rows."""
    skipped: tuple[SkippedFile, ...] = ()
    """Input files not read: their content was ingested before (``IngestConfig.skip_ingested``)."""

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
        widths[0] = max([widths[0], *(len(Path(s.source_file).name) for s in self.skipped)])
        lines = [
            "  ".join(
                str(cell).rjust(width) if i else str(cell).ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in [header, *rows]
        ]
        lines += [
            f"{Path(s.source_file).name.ljust(widths[0])}  skipped: already ingested (batch {s.ingest_batch_id})"
            for s in self.skipped
        ]
        if self.files:
            lines.append(f"batch {self.batch_id}: {len(self.partitions_written)} event partition(s) written")
        else:
            lines.append("nothing to ingest: every input file was ingested before")
        return "\n".join(lines)

    def summary(self) -> str:
        """The run's reconciliation in one line (printed at the end of every ingest)."""
        total = Counter()
        for r in self.files:
            total.update(input=r.input_rows, accepted=r.accepted_rows, quarantined=r.quarantined_rows, duplicates=r.duplicate_rows)
        return (
            f"ingest: {len(self.files) + len(self.skipped)} files ({len(self.skipped)} skipped), "
            f"input {total['input']:,} = accepted {total['accepted']:,} + quarantined {total['quarantined']:,} "
            f"+ duplicates {total['duplicates']:,}"
        )


def default_batch_id(fmt: str, digests: Sequence[str]) -> str:
    """First 16 hex digits of SHA-256 over the format and the files' SHA-256 digests, in order."""
    hasher = hashlib.sha256(fmt.encode("utf-8"))
    for digest in digests:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()[:16]


def resolve_sources(sources: str | Path | Sequence[str | Path], fmt: str | None = None) -> list[Path]:
    """Input files of ``sources``: each a file, a folder or a glob pattern, expanded in order.

    A folder gives every regular file under it, recursively, sorted by path; names starting with
    ``.`` or ``_`` (hidden files, ``_SUCCESS`` markers, staging) and folders named ``lake`` are left
    out, and so are the side files format ``fmt`` reads beside its logs (OBD's ``item_context.csv``).
    A glob (``*``, ``?``, ``[``; ``**`` matches folders recursively) gives its matches, sorted, with
    the same rules. A file named twice is read once. A missing path, a folder with no file and a glob
    matching nothing fail with one line naming it.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise ValueError("paths: give at least one input file")
    side_files = SIDE_FILES.get(fmt or "", frozenset())
    found: dict[Path, None] = {}
    for source in sources:
        path = Path(source)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = _folder_files(path, side_files)
            if not files:
                raise IngestError(f"no input files in folder {path}")
        elif GLOB_CHARACTERS.search(str(source)):
            files = []
            for match in sorted(Path(name) for name in glob.glob(str(source), recursive=True)):
                if _kept(match.name, side_files):
                    files += [match] if match.is_file() else _folder_files(match, side_files) if match.is_dir() else []
            if not files:
                raise FileNotFoundError(f"no input files match {source}")
        elif path.exists():
            raise IngestError(f"input path is not a file or a folder: {path}")
        else:
            raise FileNotFoundError(f"input path not found: {path}")
        found.update(dict.fromkeys(file.resolve() for file in files))
    return list(found)


def _kept(name: str, side_files: frozenset[str]) -> bool:
    return not name.startswith((".", "_")) and name not in side_files


def _folder_files(folder: Path, side_files: frozenset[str]) -> list[Path]:
    files = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = [name for name in subfolders if _kept(name, frozenset()) and name not in SKIPPED_FOLDERS]
        files += [Path(directory, name) for name in names if _kept(name, side_files) and Path(directory, name).is_file()]
    return sorted(files)


def check_lake_location(layout: DataLayout) -> None:
    """Fail in one line when the lake cannot be created where ``layout`` puts it (a file on its path)."""
    for folder in (layout.lake, *layout.lake.parents):
        if folder.exists():
            if not folder.is_dir():
                raise IngestError(f"the lake {layout.lake} cannot be created: {folder} is not a directory")
            return


def check_lake_has_events(layout: DataLayout) -> None:
    """For source 'lake': fail in one line when the lake holds no events."""
    if not any(layout.events.glob("date=*/shard=*/*.parquet")):
        raise IngestError(f"source 'lake': no events under {layout.events}; ingest logs first (recrl ingest PATH --lake {layout.root})")


def ingested_files(layout: DataLayout) -> pl.DataFrame:
    """``source_file, source_sha256, ingest_batch_id`` of every reconciliation record, oldest first."""
    columns = {"source_file": pl.String, "source_sha256": pl.String, "ingest_batch_id": pl.String}
    if not any(layout.reconciliation.glob("*.parquet")):
        return pl.DataFrame(schema=columns)
    records = pl.read_parquet(layout.reconciliation / "*.parquet", columns=[*columns, "started_at"])
    return records.sort("started_at").select(*columns)


class _NamedReadErrors:
    """A format reader whose read errors name the file (a corrupt Parquet file, an unreadable one);
    files known to be blank yield no candidates, unparsed. Everything else is the reader's."""

    def __init__(self, reader, blank: set[Path]) -> None:
        self._reader = reader
        self._blank = blank

    def __getattr__(self, name: str):
        return getattr(self._reader, name)

    def read(self, path: Path, *args, **kwargs) -> Iterator:
        if path in self._blank:
            return
        try:
            yield from self._reader.read(path, *args, **kwargs)
        except (OSError, pl.exceptions.PolarsError, pa.ArrowException) as error:
            raise IngestError(f"cannot read {path}: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return (text.strip().splitlines() or [type(error).__name__])[0]


def _profile(path: Path, block_bytes: int) -> FileProfile:
    try:
        return profile_file(path, block_bytes)
    except OSError as error:
        raise IngestError(f"cannot read {path}: {_first_line(error)}") from error


def _is_blank(path: Path) -> bool:
    """True for a file of only whitespace (0 bytes included), checked when it is small."""
    try:
        size = path.stat().st_size
        if size > BLANK_PROBE_BYTES:
            return False
        with open(path, "rb") as handle:
            return size == 0 or not handle.read().strip()
    except OSError as error:
        raise IngestError(f"cannot read {path}: {_first_line(error)}") from error


def ingest(
    paths: str | Path | Sequence[str | Path],
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
        Input files, folders or glob patterns (``resolve_sources``); all are resolved and checked
        before anything is read.
    fmt
        One of ``recrl.ingest.formats.FORMATS``.
    layout
        Data root; rows go under ``layout.events``, ``quarantine``, ``items``, ``reconciliation``.
    config
        Shards, salt variable, timestamp bounds, digest skipping and the quarantine gate.
    batch_id
        Id stamped on every row of this run (``ingest_batch_id``); default: digest of the input read.
    block_bytes
        Bytes read per block; bounds memory.
    now
        Ingest time for the future-timestamp bound (default: the current UTC time).
    Raises
    ------
    QuarantineShareError
        When more than ``config.max_quarantine_share`` of the input rows are quarantined.
    IngestError, FileNotFoundError, ValueError
        For inputs or a lake location that cannot be used; nothing is published.
    """
    format_reader = get_format(fmt)
    files = resolve_sources(paths, fmt)
    if batch_id is not None and not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise ValueError(f"batch_id must match {BATCH_ID_PATTERN.pattern}, got {batch_id!r}")
    check_lake_location(layout)
    started_at = dt.datetime.now(dt.UTC)
    now = now or started_at
    salt = salt_from_env(config.salt_env_var)
    recover_staging(layout)  # finish or undo a killed run first: its records decide what is skipped
    known: dict[str, str] = {}  # SHA-256 of an ingested file -> the (latest) batch that ingested it
    known_paths: set[str] = set()
    if config.skip_ingested:
        ingested = ingested_files(layout)
        known = dict(zip(ingested["source_sha256"], ingested["ingest_batch_id"], strict=True))
        known_paths = set(ingested["source_file"])

    # hashlib and polars release the GIL: profile (digest) the files on a side thread while the
    # user tables of CSV files that may take the fast path are built. A file whose path has a
    # record (likely to be skipped) waits for its digest instead; a new path rarely holds known bytes.
    profiling = ThreadPoolExecutor(max_workers=1)
    profile_futures = [profiling.submit(_profile, path, block_bytes) for path in files]
    profiling.shutdown(wait=False)
    blank = {path for path in files if _is_blank(path)}
    fast_candidates = [fmt == "events" and path.suffix.lower() == ".csv" and path not in blank for path in files]
    users = []
    for path, candidate, future in zip(files, fast_candidates, profile_futures, strict=True):
        skip = candidate and str(path) in known_paths and future.result().sha256 in known
        users.append(_user_table_or_none(path, config.n_shards, salt) if candidate and not skip else None)
    profiles = [future.result() for future in profile_futures]
    skipped = tuple(
        SkippedFile(str(path), profile.sha256, known[profile.sha256])
        for path, profile in zip(files, profiles, strict=True)
        if profile.sha256 in known
    )
    kept = [index for index, profile in enumerate(profiles) if profile.sha256 not in known]
    files, profiles, users = [files[i] for i in kept], [profiles[i] for i in kept], [users[i] for i in kept]
    batch_id = batch_id or default_batch_id(fmt, [profile.sha256 for profile in profiles])
    if not files:
        return IngestReport(batch_id, fmt, started_at, (), (), skipped)

    writer = BatchWriter(layout, run_id=uuid.uuid4().hex, n_shards=config.n_shards, batch_id=batch_id)
    reader = _NamedReadErrors(format_reader, blank)
    try:
        counts = _stage_files(files, profiles, users, reader, writer, fmt, batch_id, config, now, salt, block_bytes)
        _check_quarantine_share(files, profiles, counts, writer, config)
        published = writer.prepare()
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
        report = IngestReport(batch_id, fmt, started_at, tuple(records), tuple(published.partitions), skipped)
        writer.commit(report.to_frame(), f"part-{report.started_at:%Y%m%dT%H%M%S%f}-{report.batch_id}.parquet")
    except BaseException:
        writer.discard()  # before the commit nothing was published; after it, the next run rolls forward
        raise
    return report


def _check_quarantine_share(
    files: list[Path], profiles: list[FileProfile], counts: list[Counter], writer: BatchWriter, config: IngestConfig
) -> None:
    """Refuse the batch (keep its rejected rows aside, publish nothing) when too much of it is quarantined."""
    input_rows = sum(count["input"] for count in counts)
    quarantined = sum(count["quarantined"] for count in counts)
    if not input_rows or quarantined <= config.max_quarantine_share * input_rows:
        return
    files_frame = pl.DataFrame(
        [
            {"source_file": str(path), "source_sha256": profile.sha256, "input_rows": count["input"],
             "valid_rows": count["accepted"], "quarantined_rows": count["quarantined"]}
            for path, profile, count in zip(files, profiles, counts, strict=True)
        ],
        schema={"source_file": pl.String, "source_sha256": pl.String, "input_rows": pl.Int64, "valid_rows": pl.Int64, "quarantined_rows": pl.Int64},
    )
    folder, top_reasons = writer.refuse(files_frame)
    batch_id = writer.batch_id
    lines = [
        f"batch {batch_id} refused: {quarantined:,} of {input_rows:,} input rows ({quarantined / input_rows:.1%}) "
        f"quarantined, more than ingest.max_quarantine_share = {config.max_quarantine_share}; nothing was published",
        "top reasons:",
    ]
    lines += [f"  {row['reason_code']}: {row['rows']:,} rows, e.g. {row['example']}" for row in top_reasons.head(5).iter_rows(named=True)]
    top = top_reasons.row(0, named=True) if top_reasons.height else {"reason_code": "", "example": ""}
    hint = FIXES.get(top["reason_code"], "")
    lines.append(f"rejected rows: {folder / 'quarantine.parquet'}")
    lines.append(
        f"what to do: {hint + '; then rerun' if hint else 'fix the input and rerun'} "
        f"(or raise ingest.max_quarantine_share to accept such a batch)"
    )
    raise QuarantineShareError("\n".join(lines))


def _stage_files(
    files: list[Path],
    profiles: list[FileProfile],
    users: list[pl.DataFrame | None],
    reader: _NamedReadErrors,
    writer: BatchWriter,
    fmt: str,
    batch_id: str,
    config: IngestConfig,
    now: dt.datetime,
    salt: bytes | None,
    block_bytes: int,
) -> list[Counter]:
    """Stage every file's rows (fast CSV path or block path); the counts of each file."""
    counts: list[Counter] = []
    # A format whose reader maps positions itself (OBD) says so; others follow the config.
    positions = getattr(reader, "POSITIONS", config.positions)
    for file_index, (path, profile, file_users) in enumerate(zip(files, profiles, users, strict=True)):
        count: Counter = Counter()
        seen_positions: set[int] = set()  # distinct accepted positions: is the file 1-based?
        staged = None
        if profile.plain and file_users is not None:
            scratch = writer.scratch(file_index)
            staged = stage_plain_csv(path, profile, file_users, batch_id, scratch, config, now, positions)
        if staged is not None:
            count.update(input=profile.data_lines, accepted=staged[0], quarantined=staged[1])
            seen_positions = _staged_positions(scratch)
            writer.adopt(scratch, file_index)
        else:
            for candidates in reader.read(path, block_bytes):
                accepted, rejected = validate(candidates.events, reader.TS_FORMAT, config, now, positions)
                seen_positions.update(accepted["position"].drop_nulls().unique().to_list())
                if salt is not None:
                    accepted = accepted.with_columns(user_id=hash_user_ids(accepted["user_id"], salt))
                writer.stage_events(accepted, file_index)
                writer.stage_quarantine(rejected, file_index, str(path))
                if candidates.items is not None:
                    writer.stage_items(candidates.items, fmt, file_index)
                count.update(input=candidates.events.height, accepted=accepted.height, quarantined=rejected.height)
        side_items = getattr(reader, "read_side_items", None)  # a catalogue beside the log (events: items.csv)
        if side_items is not None and (items := side_items(path)) is not None:
            writer.stage_items(items, fmt, file_index)
        if positions == "zero-based" and _looks_one_based(seen_positions):
            shutil.rmtree(writer.staging, ignore_errors=True)  # nothing of the batch is published
            raise ValueError(
                f"{path}: positions look 1-based (1..{max(seen_positions)}, no 0): set ingest.positions='one-based'"
            )
        counts.append(count)
    return counts


def _looks_one_based(seen_positions: set[int]) -> bool:
    """True when a file's accepted positions are exactly 1..K, K >= 2: every slot but slot 0.

    A zero-based slate always has a slot 0; a file with one position only (a single slot-1 row) is
    too little evidence to refuse.
    """
    return len(seen_positions) >= 2 and seen_positions == set(range(1, len(seen_positions) + 1))


def _staged_positions(scratch: Path) -> set[int]:
    """Distinct positions of the rows the fast path sank (one narrow column of its Parquet files)."""
    parts = sorted((scratch / "events").glob("*/*/*.parquet"))
    if not parts:
        return set()
    distinct = pl.scan_parquet(parts).select(pl.col("position").drop_nulls().unique()).collect()
    return set(distinct["position"].to_list())


def _user_table_or_none(path: Path, n_shards: int, salt: bytes | None) -> pl.DataFrame | None:
    """The fast path's user table when the file's first line is a plain header, else None."""
    try:
        header = plain_header(path)
    except OSError as error:
        raise IngestError(f"cannot read {path}: {_first_line(error)}") from error
    if header is None or "user_id" not in header:
        return None
    try:
        return user_table(path, header, n_shards, salt)
    except pl.exceptions.PolarsError:
        return None  # not parsable as plain CSV (e.g. too many fields): the block path handles it
