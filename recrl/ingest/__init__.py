"""Ingest: raw logs in several formats -> validated, partitioned Parquet lake (see ``docs/ingest.md``)."""

from recrl.ingest.formats import FORMATS
from recrl.ingest.reasons import REASONS
from recrl.ingest.run import (
    FileReconciliation,
    IngestError,
    IngestReport,
    QuarantineShareError,
    SkippedFile,
    ingest,
    resolve_sources,
)

__all__ = [
    "FORMATS",
    "REASONS",
    "FileReconciliation",
    "IngestError",
    "IngestReport",
    "QuarantineShareError",
    "SkippedFile",
    "ingest",
    "resolve_sources",
]
