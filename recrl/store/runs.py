"""The ``runs`` row of one run: what ran (code, input data, config), when, how long each stage took,
and how it ended. Every run leaves one row, succeeded or failed (columns in sql/warehouse/create_runs.sql).

    code_version()            '0.1.0+g3142a94' (package version + git commit, '.dirty' with local edits)
    data_version(layout)      SHA-256 of the lake's reconciliation records: which file contents it holds
    content_digest(paths)     SHA-256 of files' and folders' contents (what the flow's cache keys hash)

A failed run keeps no result rows of its own: ``record_failed`` replaces the run's rows with its
``runs`` row alone, so a half-written evaluation never sits beside a ``failed`` status. A succeeded row
is appended after the evaluation's ``warehouse.replace_run``, which removed every earlier row of the
run (an earlier ``failed`` row included).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from recrl.config import PipelineConfig
from recrl.ingest.run import ingested_files
from recrl.lake import DataLayout
from recrl.store import warehouse

CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of one file's bytes, read a MiB at a time."""
    hasher = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def content_digest(paths: Iterable[str | Path]) -> str:
    """SHA-256 over every file under ``paths`` (a file, or a folder's files recursively, sorted): each
    file's name relative to its root and its own SHA-256. A missing path hashes as absent, so a digest
    changes when a path appears or goes."""
    hasher = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        hasher.update(f"root {root.name}\n".encode())
        if root.is_file():
            hasher.update(f"{file_sha256(root)}\n".encode())
        elif root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                hasher.update(f"{path.relative_to(root).as_posix()} {file_sha256(path)}\n".encode())
        else:
            hasher.update(b"absent\n")
    return hasher.hexdigest()


def data_version(layout: DataLayout) -> str | None:
    """SHA-256 of the lake's reconciliation records (source file digest and batch of every ingested
    file, sorted): equal for two lakes that ingested the same file contents. None with no record."""
    records = ingested_files(layout)
    if records.height == 0:
        return None
    lines = sorted(
        f"{sha} {batch}"
        for sha, batch in zip(records["source_sha256"], records["ingest_batch_id"], strict=True)
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def code_version() -> str:
    """recrl's package version, plus ``+g<commit>`` (``.dirty`` with uncommitted changes to tracked files)
    when the code runs from a git checkout with git installed."""
    version = importlib.metadata.version("recrl")
    here = Path(__file__).resolve().parent
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if changes else ''}"


def error_line(error: BaseException | str) -> str:
    """The first line of an error: ``Type: message`` for an exception, the text's first line otherwise."""
    if isinstance(error, BaseException):
        message = str(error).strip().splitlines()
        return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def run_row(
    config: PipelineConfig,
    run_id: str,
    status: str,
    started_at: datetime,
    stage_seconds: Mapping[str, float],
    counts: Mapping[str, int] | None = None,
    failed_stage: str | None = None,
    error: str | None = None,
) -> pl.DataFrame:
    """The ``runs`` row of one run as a one-row frame; ``finished_at`` is now."""
    if status not in ("succeeded", "failed"):
        raise ValueError(f"status must be 'succeeded' or 'failed', got {status!r}")
    if (status == "failed") != (failed_stage is not None):
        raise ValueError("a failed run names its failed stage, a succeeded one none")
    layout = DataLayout(Path(config.data_root))
    counts = counts or {}
    return pl.DataFrame(
        [
            {
                "run_id": run_id,
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "status": status,
                "source": config.source,
                "data_root": str(layout.root),
                "config_json": config.to_json(),
                "n_train": counts.get("train"),
                "n_valid": counts.get("valid"),
                "n_test": counts.get("test"),
                "failed_stage": failed_stage,
                "error": error,
                "stage_seconds": json.dumps(
                    {stage: round(seconds, 3) for stage, seconds in stage_seconds.items()}
                ),
                "code_version": code_version(),
                "data_version": data_version(layout),
            }
        ],
        schema_overrides={
            "started_at": pl.Datetime("us", "UTC"),
            "finished_at": pl.Datetime("us", "UTC"),
            "n_train": pl.Int64,
            "n_valid": pl.Int64,
            "n_test": pl.Int64,
            "failed_stage": pl.String,
            "error": pl.String,
            "data_version": pl.String,
        },
    )


def record_failed(
    config: PipelineConfig,
    run_id: str,
    started_at: datetime,
    stage_seconds: Mapping[str, float],
    failed_stage: str,
    error: BaseException | str,
) -> None:
    """Replace the run's rows with its ``failed`` row: the stage that failed and the error's first line."""
    row = run_row(
        config,
        run_id,
        "failed",
        started_at,
        stage_seconds,
        failed_stage=failed_stage,
        error=error_line(error),
    )
    warehouse.replace_run(DataLayout(Path(config.data_root)).warehouse, run_id, {"runs": row})
