"""Ingest: raw logs in several formats -> validated, partitioned Parquet lake (see ``docs/ingest.md``).

``run_stage`` is the stage's entry point (``recrl.stages``); ``ingest`` does the work and returns the full
per-file reconciliation (``IngestReport``). Names are imported on first use (PEP 562), so
``recrl --help`` does not load polars or pyarrow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from recrl.lazy import lazy_exports
from recrl.stages import StageSummary, stage_clock

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout

_EXPORTS = {
    "FORMATS": "recrl.ingest.formats",
    "REASONS": "recrl.ingest.reasons",
    "FileReconciliation": "recrl.ingest.run",
    "IngestError": "recrl.ingest.run",
    "IngestReport": "recrl.ingest.run",
    "QuarantineShareError": "recrl.ingest.run",
    "SkippedFile": "recrl.ingest.run",
    "ingest": "recrl.ingest.run",
    "resolve_sources": "recrl.ingest.run",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


@dataclasses.dataclass(frozen=True)
class IngestSummary(StageSummary):
    """One ingest batch's reconciliation totals: input = accepted + quarantined + duplicates."""

    stage = "ingest"
    batch_id: str
    files: int
    """Input files read."""
    skipped: int
    """Input files skipped: their content was ingested before."""
    input_rows: int
    accepted_rows: int
    quarantined_rows: int
    duplicate_rows: int
    partitions_written: int
    """Lake event partitions (date=/shard=) that received rows."""
    lake: Path
    table: str
    """The per-file reconciliation as a plain-text table (``IngestReport.table``)."""
    line: str
    """The reconciliation in one line (``IngestReport.summary``), as the flow prints it."""


def run_stage(
    layout: DataLayout,
    config: PipelineConfig,
    paths: str | Path | Sequence[str | Path],
    fmt: str,
    batch_id: str | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (files, folders or globs) of format ``fmt`` into ``layout.lake`` with
    ``config.ingest``. Raises as ``ingest`` does (bad input, a batch
    refused by the quarantine gate): nothing is published then."""
    from recrl.ingest.run import ingest

    with stage_clock("ingest", f"format {fmt}") as clock:
        report = ingest(paths, fmt, layout, config.ingest, batch_id=batch_id)
    files = report.files
    return IngestSummary(
        batch_id=report.batch_id,
        files=len(files),
        skipped=len(report.skipped),
        input_rows=sum(f.input_rows for f in files),
        accepted_rows=sum(f.accepted_rows for f in files),
        quarantined_rows=sum(f.quarantined_rows for f in files),
        duplicate_rows=sum(f.duplicate_rows for f in files),
        partitions_written=len(report.partitions_written),
        lake=layout.lake,
        table=report.table(),
        line=report.summary(),
        seconds=clock.seconds,
    )


__all__ = [*sorted(_EXPORTS), "IngestSummary", "run_stage"]
