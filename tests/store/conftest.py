"""Warehouse fixtures: a run's rows, readers in other processes, the DuckDB CLI, and one nightly run
written while readers hold the warehouse open and poll it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from warehouse_readers import read_counts  # tests/store is on sys.path while pytest loads this file

from recrl.lake import DataLayout
from recrl.store import warehouse

READERS = Path(__file__).with_name("warehouse_readers.py")


def run_frames(run_id: str, value: float, n_policies: int = 1) -> dict[str, pl.DataFrame]:
    """One run's rows: ``n_policies`` policies with two estimates each; the runs row's n_valid and n_test
    hold those row counts, so a reader can check that it saw the run whole."""
    now = datetime.now(UTC)
    policies = [f"p{i}" for i in range(n_policies)]
    return {
        "runs": pl.DataFrame(
            [
                {
                    "run_id": run_id,
                    "started_at": now,
                    "status": "succeeded",
                    "source": "simulator",
                    "data_root": "d",
                    "config_json": "{}",
                    "n_valid": n_policies,
                    "n_test": 2 * n_policies,
                }
            ]
        ),
        "policies": pl.DataFrame(
            [{"run_id": run_id, "policy": p, "kind": "baseline", "true_value": 0.5} for p in policies]
        ),
        "ope_estimates": pl.DataFrame(
            [
                {
                    "run_id": run_id,
                    "policy": p,
                    "split": "test",
                    "estimator": est,
                    "value": value,
                    "n": 10,
                    "created_at": now,
                }
                for p in policies
                for est in ("ips", "dr")
            ]
        ),
    }


@pytest.fixture(scope="session")
def make_run_frames():
    """``run_frames`` for tests that write runs of their own."""
    return run_frames


@dataclasses.dataclass
class Poller:
    """A process that opens, reads and closes the warehouse in a loop until ``stop_and_read``."""

    process: subprocess.Popen
    stop: Path
    out: Path

    def tries(self) -> int:
        progress = self.out.with_name(self.out.name + ".tries")
        return int(progress.read_text()) if progress.exists() else 0

    def wait_for_more_tries(self, more: int, timeout_s: float = 120) -> None:
        """Return once the poller has finished ``more`` reads beyond those finished now."""
        target = self.tries() + more
        deadline = time.monotonic() + timeout_s
        while self.tries() < target:
            assert self.process.poll() is None, "the poller exited"
            assert time.monotonic() < deadline, "the poller stopped reading"
            time.sleep(0.01)

    def stop_and_read(self) -> dict:
        """``{"tries": int, "failures": [str], "states": [json of {run_id: [n_valid, n_test, policies, ope]}]}``."""
        self.stop.touch()
        assert self.process.wait(timeout=120) == 0
        summary = json.loads(self.out.read_text())
        summary["states"] = [json.loads(state) for state in summary["states"]]
        return summary


def start_poller(db: Path, folder: Path) -> Poller:
    """A poller of ``db`` that has read it once; its stop and summary files go under ``folder``."""
    own = Path(tempfile.mkdtemp(prefix="poller-", dir=folder))
    stop, out = own / "stop", own / "summary.json"
    process = subprocess.Popen([sys.executable, str(READERS), "poll", str(db), str(stop), str(out)])
    poller = Poller(process, stop, out)
    poller.wait_for_more_tries(1)
    return poller


@dataclasses.dataclass
class Holder:
    """A process holding one read-only connection open; ``read()`` queries through it again."""

    process: subprocess.Popen
    first: dict

    def read(self) -> dict:
        self.process.stdin.write("read\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0


def start_holder(db: Path) -> Holder:
    """A process holding a read-only connection to ``db``, after its first read."""
    process = subprocess.Popen(
        [sys.executable, str(READERS), "hold", str(db)],
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    first = process.stdout.readline()
    assert first, "the holder exited before its first read"
    return Holder(process, json.loads(first))


@pytest.fixture
def readers(tmp_path):
    """Start pollers and holders (``readers.poller(db)``, ``readers.holder(db)``); killed if a test fails."""
    started: list[Poller | Holder] = []

    class Readers:
        def poller(self, db: Path) -> Poller:
            started.append(start_poller(db, tmp_path))
            return started[-1]

        def holder(self, db: Path) -> Holder:
            started.append(start_holder(db))
            return started[-1]

    yield Readers()
    _kill(started)


def _kill(started: list[Poller | Holder]) -> None:
    for reader in started:
        if reader.process.poll() is None:
            reader.process.kill()
            reader.process.wait()


@pytest.fixture(scope="session")
def duckdb_cli() -> Path:
    """The DuckDB 1.5 command line from PyPI (``duckdb-cli``, in the dev extra)."""
    found = Path(sys.executable).with_name("duckdb")
    if not found.is_file():
        found = Path(shutil.which("duckdb") or "duckdb")
    assert found.is_file(), "the duckdb CLI is missing: install the dev extra (duckdb-cli)"
    return found


@dataclasses.dataclass(frozen=True)
class NightlyUnderReaders:
    """What readers saw while one nightly run wrote the warehouse."""

    layout: DataLayout
    run_id: str
    held_in_process_before: dict  # counts read through a recrl reader opened before the run
    held_in_process_after: dict  # ... read through the same connection after the run
    held_elsewhere_before: dict  # counts read by a process holding a plain DuckDB connection
    held_elsewhere_after: dict
    poll: dict  # Poller.stop_and_read() of a process polling during the run


@pytest.fixture(scope="session")
def nightly_under_readers(prefect_api, make_tiny_config, tmp_path_factory) -> NightlyUnderReaders:
    """The real nightly flow on the tiny world, run while a connection is held open in this process and in
    another, and a third process polls; the warehouse holds one earlier run before it starts."""
    from pipelines.nightly import nightly

    root = tmp_path_factory.mktemp("nightly-under-readers")
    config = make_tiny_config(root / "data")
    layout = DataLayout(root / "data")
    warehouse.replace_run(layout.warehouse, "earlier", run_frames("earlier", 0.1, n_policies=3))
    started: list[Poller | Holder] = []
    try:
        holder = start_holder(layout.warehouse)
        started.append(holder)
        poller = start_poller(layout.warehouse, root)
        started.append(poller)
        with warehouse.connect(layout.warehouse, read_only=True) as held:
            before = _counts(held)
            run_id = nightly(config=config, run_id="night-under-readers")
            after = _counts(held)
        poller.wait_for_more_tries(2)  # one read began after the publish
        result = NightlyUnderReaders(
            layout, run_id, before, after, holder.first, holder.read(), poller.stop_and_read()
        )
        holder.close()
        return result
    finally:
        _kill(started)


def _counts(con) -> dict:
    return json.loads(json.dumps(read_counts(con)))  # as the reader processes report them (lists)
