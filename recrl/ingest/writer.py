"""Write one ingest batch into the lake: stage aside, drop duplicates, publish by rename.

Stage 1 (streaming): every path stages the same kind of file into a private staging folder
``{lake}/_staging/{run_id}/``: Parquet with the published columns (batch id included), one file per
chunk and partition, named ``{file index:06d}-{chunk:08d}.parquet``::

    events/date=D/shard=S/*.parquet      canonical columns + ingest_batch_id
    quarantine/date=D/*.parquet          QUARANTINE_COLUMNS + ingest_batch_id
    items/format=F/*.parquet             the item attributes seen in the input

Rows in a file keep input order, and chunks are numbered in the order they were staged, so sorting
by name (file index, then chunk) and then by row gives input order without line-order columns. The
block path writes one uncompressed chunk per block and partition (``stage_events`` and friends); the
fast CSV path (``recrl.ingest.fast_csv``) sinks a whole file (zstd, as the lake) into a scratch folder
and, once its checks pass, moves each partition's file into place as one chunk (``adopt``). Nothing
there is visible to readers, who glob ``{lake}/events/**/*.parquet``.

Stage 2 (one partition at a time, so memory holds one ``(date, shard)`` partition, not the input):
rows equal in every canonical column to an earlier row of the batch, or to a row already in the lake
partition, are duplicates and are dropped (and counted against the file they came from). Rows keep
input order, so the same input always gives the same file. A partition staged as one zstd file, with
no duplicate inside, that the lake does not have yet is published as it is (already in final form);
every other partition is rewritten to staging.

Publish is one atomic step with its reconciliation record: every partition file is first written
under ``ready/`` in the staging folder, the run's reconciliation record too; then a manifest of the
moves (``COMMIT.json``, written aside and renamed) commits the batch; then every file is moved into place
with ``os.replace`` (atomic on one filesystem), the record last, and the staging folder is removed. A
run killed before the manifest exists leaves the lake untouched, and the next run removes its staging
folder (roll back); a run killed after it leaves whole files only, and the next run first finishes
its moves (roll forward, ``recover_staging``), so the records always add up to the lake's rows. A
batch refused by the quarantine gate publishes nothing: its rejected rows are kept under
``{lake}/refused/{batch_id}/``. The lake has one writer at a time (the nightly flow).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recrl.ingest.keys import user_shards
from recrl.lake import DataLayout
from recrl.schema import CANONICAL_COLUMNS

STAGING_DIR = "_staging"
QUARANTINE_KEY = ("source_name", "line_number", "record_index", "raw", "reason_code")
"""Columns that identify a quarantined record: the same rejected record from the same file name."""
QUARANTINE_COLUMNS = ("raw", "source_file", "line_number", "record_index", "reason_code", "reason")
DUPLICATE_PROBE = ("ts", "user_id")
"""Canonical columns read first when looking for duplicate rows: rows that differ here differ."""
COMMIT_MARKER = "COMMIT.json"
"""The manifest of a batch's moves; once it exists (renamed into place) the batch is committed."""
REFUSED_DIR = "refused"
"""``{lake}/refused/{batch_id}/``: the rejected rows of a batch refused by the quarantine gate."""
SCRATCH_DIR = "scratch"
"""Staging sub-folder where the fast CSV path sinks a file before its checks pass (never read by ``prepare``)."""
STAGED = "*.parquet"
"""The one glob of staged files inside a partition folder."""
PUBLISHED_COMPRESSION = "zstd"
"""Compression of every Parquet file in the lake."""


@dataclass
class PublishResult:
    """What stage 2 did: duplicates per file index and the lake files it published."""

    duplicate_events: Counter = field(default_factory=Counter)
    duplicate_quarantine: Counter = field(default_factory=Counter)
    partitions: list[str] = field(default_factory=list)


class BatchWriter:
    """Stages one run's rows, then publishes them under ``batch_id`` (see the module docstring)."""

    def __init__(self, layout: DataLayout, run_id: str, n_shards: int, batch_id: str) -> None:
        self.layout = layout
        self.n_shards = n_shards
        self.batch_id = batch_id
        self.staging = layout.lake / STAGING_DIR / run_id
        self._chunk = 0
        self._moves: list[tuple[Path, Path]] = []
        self._committed = False

    def _next_name(self, file_index: int) -> str:
        self._chunk += 1
        return f"{file_index:06d}-{self._chunk:08d}.parquet"

    def _stage(self, rows: pl.DataFrame, folder: Path, file_index: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # Uncompressed: a block's chunk is read once more and rewritten; zstd would triple its write cost.
        rows.write_parquet(folder / self._next_name(file_index), compression="uncompressed", statistics=False)

    def stage_events(self, accepted: pl.DataFrame, file_index: int) -> None:
        """Stage accepted rows (``_line, _sub`` + canonical columns) split by date and user shard."""
        if accepted.height == 0:
            return
        accepted = accepted.sort("_line", "_sub")  # input order: the order a staged file keeps
        frame = accepted.select(
            *CANONICAL_COLUMNS,
            ingest_batch_id=pl.lit(self.batch_id),
            _date=pl.col("ts").dt.date().cast(pl.String),
            _shard=user_shards(accepted["user_id"], self.n_shards),
        )
        for (date, shard), part in frame.partition_by("_date", "_shard", as_dict=True).items():
            folder = self.staging / "events" / f"date={date}" / f"shard={shard:02d}"
            self._stage(part.drop("_date", "_shard"), folder, file_index)

    def stage_quarantine(self, rejected: pl.DataFrame, file_index: int, source_file: str) -> None:
        """Stage rejected rows (``_line, _sub, _raw, reason_code, reason, _date``) by event date."""
        if rejected.height == 0:
            return
        frame = rejected.select(
            raw=pl.col("_raw"),
            source_file=pl.lit(source_file),
            line_number=pl.col("_line"),
            record_index=pl.col("_sub"),
            reason_code=pl.col("reason_code"),
            reason=pl.col("reason"),
            ingest_batch_id=pl.lit(self.batch_id),
            _date=pl.col("_date"),
        )
        for (date,), part in frame.partition_by("_date", as_dict=True).items():
            self._stage(part.drop("_date"), self.staging / "quarantine" / f"date={date}", file_index)

    def stage_items(self, items: pl.DataFrame, fmt: str, file_index: int) -> None:
        """Stage item attributes seen in the input (``ITEM_SCHEMA`` columns first)."""
        if items.height == 0:
            return
        self._stage(items, self.staging / "items" / f"format={fmt}", file_index)

    def scratch(self, file_index: int) -> Path:
        """An empty folder where the fast CSV path (``recrl.ingest.fast_csv``) sinks file ``file_index``."""
        folder = self.staging / SCRATCH_DIR / f"{file_index:06d}"
        shutil.rmtree(folder, ignore_errors=True)
        return folder

    def adopt(self, scratch: Path, file_index: int) -> None:
        """Move what the fast path sank into ``scratch`` (staged files, one per partition) into place."""
        for kind, pattern in (("events", "date=*/shard=*"), ("quarantine", "date=*")):
            for partition in sorted((scratch / kind).glob(pattern)):
                folder = self.staging / kind / partition.relative_to(scratch / kind)
                for path in sorted(partition.glob(STAGED)):
                    folder.mkdir(parents=True, exist_ok=True)
                    path.rename(folder / self._next_name(file_index))  # inside staging: not a publish move
        shutil.rmtree(scratch, ignore_errors=True)

    def _partitions(self, kind: str, pattern: str) -> list[Path]:
        """Staged partition folders of ``kind`` (events, quarantine, items), relative to it."""
        return sorted(folder.relative_to(self.staging / kind) for folder in (self.staging / kind).glob(pattern))

    def _publishable_as_is(self, staged: list[Path], final_dir: Path) -> bool:
        """True when a partition's one staged file needs no rewrite: compressed as the lake's files are,
        no duplicate inside, none in the lake."""
        if len(staged) != 1 or _has_parquet(final_dir) or not _compressed_as_published(staged[0]):
            return False
        # Rows distinct in (ts, user_id) are distinct rows: two narrow columns usually settle it.
        probe = pl.read_parquet(staged[0], columns=list(DUPLICATE_PROBE))
        if _first_distinct(probe, list(DUPLICATE_PROBE)).all():
            return True
        rows = pl.read_parquet(staged[0], columns=list(CANONICAL_COLUMNS))
        return bool(_first_distinct(rows, list(CANONICAL_COLUMNS)).all())

    def prepare(self) -> PublishResult:
        """Deduplicate each staged partition against the batch and the lake; write the lake files aside.

        Nothing is visible until ``commit``.
        """
        result = PublishResult()
        moves: list[tuple[Path, Path]] = []
        ready = self.staging / "ready"
        name = f"part-{self.batch_id}.parquet"
        for relative in self._partitions("events", "date=*/shard=*"):
            final_dir = self.layout.events / relative
            staged = sorted((self.staging / "events" / relative).glob(STAGED))
            if self._publishable_as_is(staged, final_dir):
                # Already in final form (batch id included): publishing it is a rename.
                moves.append((staged[0], final_dir / name))
                result.partitions.append(str(relative))
                continue
            rows = _read_staged(staged, CANONICAL_COLUMNS)
            fresh, duplicates = _new_rows(rows, final_dir, list(CANONICAL_COLUMNS), order=["_order"])
            result.duplicate_events.update(duplicates)
            if fresh.height:
                moves.append(_prepare(fresh.drop("_file", "_order"), self.batch_id, final_dir, ready / "events" / relative))
                result.partitions.append(str(relative))
        for relative in self._partitions("quarantine", "date=*"):
            final_dir = self.layout.quarantine / relative
            staged = sorted((self.staging / "quarantine" / relative).glob(STAGED))
            rows = _read_staged(staged, QUARANTINE_COLUMNS).with_columns(
                source_name=pl.col("source_file").str.split("/").list.last()
            )
            fresh, duplicates = _new_rows(rows, final_dir, list(QUARANTINE_KEY), order=["_file", "line_number", "record_index"])
            result.duplicate_quarantine.update(duplicates)
            if fresh.height:
                moves.append(_prepare(fresh.select(*QUARANTINE_COLUMNS), self.batch_id, final_dir, ready / "quarantine" / relative))
        for relative in self._partitions("items", "format=*"):
            final_dir = self.layout.items / relative
            staged = sorted((self.staging / "items" / relative).glob(STAGED))
            rows = _read_staged(staged, None).drop("_file")
            key = [name for name in rows.columns if name != "_order"]
            fresh, _ = _new_rows(rows.with_columns(_file=pl.lit(0, dtype=pl.Int32)), final_dir, key, order=["_order"])
            if fresh.height:
                moves.append(_prepare(fresh.drop("_order", "_file"), self.batch_id, final_dir, ready / "items" / relative))
        self._moves = moves
        return result

    def commit(self, record: pl.DataFrame, record_name: str) -> None:
        """Publish what ``prepare`` wrote and the run's reconciliation ``record``, as one atomic step."""
        aside = self.staging / "ready" / "reconciliation" / record_name
        aside.parent.mkdir(parents=True, exist_ok=True)
        record.write_parquet(aside)
        moves = [*self._moves, (aside, self.layout.reconciliation / record_name)]
        manifest = [[str(source.relative_to(self.staging)), str(target.relative_to(self.layout.lake))] for source, target in moves]
        marker = self.staging / f".{COMMIT_MARKER}.tmp"
        marker.write_text(json.dumps({"moves": manifest}))
        os.replace(marker, self.staging / COMMIT_MARKER)  # the commit point
        self._committed = True
        _finish(self.staging, self.layout.lake)

    def discard(self) -> None:
        """Remove this run's staging folder (a failed or refused run: nothing was published).

        A committed batch is kept: the next run's ``recover_staging`` finishes its moves.
        """
        if self._committed:
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        _remove_if_empty(self.staging.parent)

    def refuse(self, files: pl.DataFrame) -> tuple[Path, pl.DataFrame]:
        """Keep a refused batch's staged rejected rows and per-file counts aside, publish nothing.

        Writes ``{lake}/refused/{batch_id}/quarantine.parquet`` (the quarantine columns, with the batch
        id) and ``files.parquet`` (``files``: what each input file held); returns the folder and the
        reason codes by rows, most frequent first (``reason_code, rows, example``).
        """
        staged = sorted(self.staging.glob(f"quarantine/date=*/{STAGED}"), key=lambda path: path.name)
        if staged:
            rows = _read_staged(staged, QUARANTINE_COLUMNS).sort("_file", "line_number", "record_index")
        else:
            rows = pl.DataFrame(schema=dict.fromkeys(QUARANTINE_COLUMNS, pl.String))
        rows = rows.select(*QUARANTINE_COLUMNS).with_columns(ingest_batch_id=pl.lit(self.batch_id))
        folder = self.layout.lake / REFUSED_DIR / self.batch_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in (("quarantine.parquet", rows), ("files.parquet", files)):
            aside = folder / f".{name}.tmp"
            frame.write_parquet(aside)
            os.replace(aside, folder / name)
        self.discard()
        reasons = (
            rows.group_by("reason_code")
            .agg(rows=pl.len(), example=pl.col("reason").first())
            .sort(["rows", "reason_code"], descending=[True, False])
        )
        return folder, reasons


def recover_staging(layout: DataLayout) -> int:
    """Finish or undo what killed runs left under ``{lake}/_staging``; returns how many batches rolled forward.

    A staging folder with a commit manifest is rolled forward (its remaining moves are made); any other
    is removed (nothing of it was published).
    """
    root = layout.lake / STAGING_DIR
    rolled_forward = 0
    if not root.is_dir():
        return rolled_forward
    for stale in sorted(root.iterdir()):
        if (stale / COMMIT_MARKER).is_file():
            _finish(stale, layout.lake)
            rolled_forward += 1
        else:
            shutil.rmtree(stale, ignore_errors=True)
    _remove_if_empty(root)
    return rolled_forward


def _finish(staging: Path, lake: Path) -> None:
    """Make the moves of a committed staging folder that are not made yet, then remove the folder."""
    manifest = json.loads((staging / COMMIT_MARKER).read_text())
    for source, target in manifest["moves"]:
        if (staging / source).exists():  # else moved before a kill
            (lake / target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / source, lake / target)
    shutil.rmtree(staging, ignore_errors=True)
    _remove_if_empty(staging.parent)


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _has_parquet(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.parquet"))


def _write_final(rows: pl.DataFrame, path: Path) -> None:
    """Write ``rows`` as a lake file (what the fast CSV path's sink also writes: ``PUBLISHED_COMPRESSION``)."""
    rows.lazy().sink_parquet(path, compression=PUBLISHED_COMPRESSION, statistics=True)


def _compressed_as_published(path: Path) -> bool:
    """True when every column chunk of the Parquet file ``path`` is compressed as lake files are."""
    metadata = pq.read_metadata(path)
    return all(
        metadata.row_group(group).column(column).compression == PUBLISHED_COMPRESSION.upper()
        for group in range(metadata.num_row_groups)
        for column in range(metadata.num_columns)
    )


def _read_staged(paths: list[Path], columns: Sequence[str] | None) -> pl.DataFrame:
    """Staged files (sorted by name: input order) as one frame with ``_file`` (from the name) and ``_order``."""
    frames = [
        pl.read_parquet(path, columns=list(columns) if columns is not None else None).with_columns(
            _file=pl.lit(int(path.name.split("-")[0]), dtype=pl.Int32)
        )
        for path in paths
    ]
    return pl.concat(frames, how="vertical_relaxed").with_row_index("_order")


def _read_published(folder: Path, columns: list[str]) -> pl.DataFrame | None:
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    return pl.concat([pl.read_parquet(path, columns=columns) for path in files], how="vertical_relaxed")


def _first_distinct(rows: pl.DataFrame, key: list[str]) -> pl.Series:
    """(rows,) True where a row's ``key`` did not occur in an earlier row (nulls equal).

    Rows are compared by a 64-bit hash of their key first; only rows whose hash repeats (the real
    duplicates, plus rare collisions) are compared exactly.
    """
    keys = rows.select(key)
    maybe_repeated = keys.hash_rows().is_duplicated()  # (rows,)
    if not maybe_repeated.any():
        return pl.repeat(True, rows.height, dtype=pl.Boolean, eager=True)
    candidates = maybe_repeated.arg_true()
    exact = keys[candidates].select(pl.struct(key).is_first_distinct()).to_series()
    return maybe_repeated.not_().scatter(candidates, exact)


def _count_by_file(rows: pl.DataFrame) -> Counter:
    counts = rows.group_by("_file").len()
    return Counter(dict(zip(counts["_file"].to_list(), counts["len"].to_list(), strict=True)))


def _new_rows(
    rows: pl.DataFrame, final_dir: Path, key: list[str], order: list[str]
) -> tuple[pl.DataFrame, Counter]:
    """Rows whose ``key`` is new to the batch (first in ``order`` wins) and to ``final_dir``.

    Returns the fresh rows and the number of duplicates per ``_file``.
    """
    rows = rows.sort(order)
    first = rows.filter(_first_distinct(rows, key))
    published_key = [name for name in key if name != "source_name"]
    if "source_name" in key:
        published_key.append("source_file")
    published = _read_published(final_dir, published_key)
    if published is not None:
        if "source_name" in key:
            published = published.with_columns(source_name=pl.col("source_file").str.split("/").list.last())
        fresh = first.join(published.select(key).unique(), on=key, how="anti", nulls_equal=True)
    else:
        fresh = first
    if fresh.height == rows.height:
        return fresh, Counter()
    counts = _count_by_file(rows)
    counts.subtract(_count_by_file(fresh))
    return fresh, +counts


def _prepare(rows: pl.DataFrame, batch_id: str, final_dir: Path, ready_dir: Path) -> tuple[Path, Path]:
    """Write ``rows`` (merged with this batch's published file, if any) aside; return (aside, final)."""
    name = f"part-{batch_id}.parquet"
    rows = rows.with_columns(ingest_batch_id=pl.lit(batch_id))
    existing = final_dir / name
    if existing.is_file():
        # Same batch id, new rows (a rerun that finished part of the work): the file grows, atomically.
        rows = pl.concat([pl.read_parquet(existing), rows], how="vertical_relaxed")
    ready_dir.mkdir(parents=True, exist_ok=True)
    aside = ready_dir / name
    _write_final(rows, aside)
    return aside, existing
