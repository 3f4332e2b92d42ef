"""Shared small simulated logs: written once per test session (about a second on one core)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from recrl.config import SimConfig
from recrl.simulate.logs import write_logs

SMALL = dataclasses.replace(SimConfig(), n_users=1000, n_days=4, seed=7)
"""Default world and policy constants, fewer users and days."""


@dataclasses.dataclass(frozen=True)
class SimLogs:
    config: SimConfig
    raw_dir: Path
    truth_dir: Path
    files: list[Path]

    def events(self) -> pl.DataFrame:
        """All events with ts parsed to UTC datetimes."""
        frames = [pl.read_csv(path, schema_overrides={"position": pl.Int16}) for path in self.files]
        return pl.concat(frames).with_columns(
            pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
        )


@pytest.fixture(scope="session")
def sim_logs(tmp_path_factory: pytest.TempPathFactory) -> SimLogs:
    root = tmp_path_factory.mktemp("sim")
    files = write_logs(SMALL, root / "raw", root / "truth")
    return SimLogs(SMALL, root / "raw", root / "truth", files)
