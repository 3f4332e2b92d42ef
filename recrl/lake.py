"""Layout of the files that stages hand to each other.

Every stage reads what the previous one wrote under one data root and holds nothing in memory
between stages, so each can later fan out over partitions on another engine. Partitions are
hive-style folders: by event date, then by a shard of the user id.

    {root}/raw/...                                  input logs (simulator output or user files)
    {root}/lake/events/date=YYYY-MM-DD/shard=SS/    accepted canonical events (Parquet)
    {root}/lake/quarantine/date=YYYY-MM-DD/         rejected rows with their reason
    {root}/lake/items/                              item attributes
    {root}/lake/reconciliation/                     one record per ingested file and batch
    {root}/states/                                  vocabulary and transitions (DuckDB-built Parquet)
    {root}/embeddings/                              item title embeddings cached by text hash (Parquet)
    {root}/models/{run_id}/                         checkpoints (safetensors) + config JSON
    {root}/reports/{run_id}/                        Markdown/HTML/PNG report
    {root}/warehouse.duckdb                         result tables people query
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def user_shard(user_id: str, n_shards: int) -> int:
    """Shard of a user: the first 8 hex digits of md5(user_id) modulo ``n_shards``.

    md5 is fixed by its standard, so any engine (polars, DuckDB's ``md5``, Spark) reproduces the
    same partitioning; vectorised implementations must agree with this reference.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    return int(hashlib.md5(user_id.encode("utf-8")).hexdigest()[:8], 16) % n_shards


@dataclass(frozen=True)
class DataLayout:
    """Paths under one data root. Pure: creates nothing."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def events(self) -> Path:
        return self.lake / "events"

    @property
    def quarantine(self) -> Path:
        return self.lake / "quarantine"

    @property
    def items(self) -> Path:
        return self.lake / "items"

    @property
    def reconciliation(self) -> Path:
        return self.lake / "reconciliation"

    @property
    def states(self) -> Path:
        return self.root / "states"

    @property
    def embeddings(self) -> Path:
        """Pretrained text embeddings of item titles, one Parquet file per model (``recrl.agents.text``)."""
        return self.root / "embeddings"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def truth(self) -> Path:
        """Simulator ground truth (hidden user state per request); absent for real logs."""
        return self.root / "truth"


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(temporary)`` beside ``path``, then rename it into place: readers never see half a file,
    and a failed write leaves neither a half file nor its temporary."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
