"""Benchmark: one run's write to the warehouse, published (staging copy + os.replace) vs written in place.

Seeds a warehouse with ``--runs`` runs shaped like the nightly flow's (8 policies, 7 estimators each,
HR/NDCG at 3 cutoffs on clicks and purchases, behaviour-model rows, the resolved config per run), then
times ``--repeats`` writes of a new run each way:

- ``publish``: ``warehouse.replace_run`` as the flow calls it (byte copy of the published file, one
  transaction on the copy, checkpoint, fsync, ``os.replace``);
- ``in_place``: what ``replace_run`` did before: a read-write connection on the file itself, one
  transaction (the same SQL files), close. It fails while any reader holds the file open;
- ``migrate``: the first publish on a file DuckDB 2 wrote in its own storage format (tables copied
  through DuckDB into a new file in ``warehouse.STORAGE_VERSION``'s format); once per warehouse.

    .venv/bin/python bench/warehouse.py --runs 365 3650

Prints JSON and writes it to ``bench/results/warehouse.json``. Wall time depends on the machine's load
(the 1-minute load average is recorded before and after); CPU seconds less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from recrl.config import PipelineConfig
from recrl.sql import run_sql
from recrl.store import warehouse

POLICIES = (
    "actor-critic",
    "sasrec",
    "popularity",
    "item-knn",
    "session-knn",
    "pure-svd",
    "logging",
    "oracle",
)
ESTIMATORS = PipelineConfig().eval.estimators
CONFIG_JSON = PipelineConfig().to_json()


def run_frames(run_ids: list[str]) -> dict[str, pl.DataFrame]:
    """The rows the nightly flow writes for each of ``run_ids``, with its column set and sizes."""
    now = datetime.now(UTC)
    judged = [p for p in POLICIES if p not in ("logging", "oracle")]
    return {
        "runs": pl.DataFrame(
            [
                {
                    "run_id": r,
                    "started_at": now,
                    "finished_at": now,
                    "status": "succeeded",
                    "source": "simulator",
                    "data_root": "/data",
                    "n_train": 40_000,
                    "n_valid": 5_000,
                    "n_test": 5_000,
                    "config_json": CONFIG_JSON,
                }
                for r in run_ids
            ]
        ),
        "policies": pl.DataFrame(
            [
                {
                    "run_id": r,
                    "policy": p,
                    "kind": "baseline",
                    "temperature": 1.0,
                    "true_value": 0.1,
                    "checkpoint": f"/data/models/{r}/{p}.safetensors",
                    "config_json": CONFIG_JSON[:400],
                }
                for r in run_ids
                for p in POLICIES
            ]
        ),
        "ope_estimates": pl.DataFrame(
            [
                {
                    "run_id": r,
                    "policy": p,
                    "split": "test",
                    "estimator": e,
                    "value": 0.1,
                    "ci_low": 0.09,
                    "ci_high": 0.11,
                    "ci_method": "bootstrap",
                    "normal_ci_low": 0.09,
                    "normal_ci_high": 0.11,
                    "std_err": 0.005,
                    "n": 5_000,
                    "ess": 1_200.0,
                    "max_weight": 40.0,
                    "share_clipped": 0.0,
                    "lambda_": 100.0,
                    "true_value": 0.1,
                    "created_at": now,
                    "propensity_source": "logged",
                }
                for r in run_ids
                for p in judged
                for e in ESTIMATORS
            ]
        ),
        "ranking_metrics": pl.DataFrame(
            [
                {
                    "run_id": r,
                    "policy": p,
                    "split": "test",
                    "target": t,
                    "metric": m,
                    "k": k,
                    "value": 0.3,
                    "n": 800,
                }
                for r in run_ids
                for p in judged
                for t in ("click", "purchase")
                for m in ("hr", "ndcg")
                for k in (5, 10, 20)
            ]
        ),
        "behaviour_model": pl.DataFrame(
            [
                {
                    "run_id": r,
                    "decision_kind": "bandit",
                    "model": m,
                    "split": "valid",
                    "n_fit": 40_000,
                    "n": 5_000,
                    "log_loss": 2.1,
                    "ece": 0.01,
                    "used": m == "logged",
                    "reliability_json": "[]" * 200,
                }
                for r in run_ids
                for m in ("estimated", "popularity", "logged")
            ]
        ),
    }


def write_in_place(db: Path, run_id: str, frames: dict[str, pl.DataFrame]) -> None:
    """``replace_run`` as it was before publishing: the file itself, opened read-write."""
    with duckdb.connect(str(db)) as con:
        for table in warehouse.TABLES:
            run_sql(con, f"warehouse/create_{table}")
        con.execute("BEGIN TRANSACTION")
        for table in reversed(warehouse.TABLES):
            run_sql(con, f"warehouse/delete_run_{table}", run_id=run_id)
        for table in warehouse.TABLES:
            con.register("incoming", frames[table].to_arrow())
            run_sql(con, f"warehouse/insert_{table}")
            con.unregister("incoming")
        con.execute("COMMIT")


def timed(write, repeats: int) -> dict:
    walls, cpus = [], []
    for i in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        write(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "wall_s_median": round(statistics.median(walls), 4),
        "wall_s_max": round(max(walls), 4),
        "cpu_s_median": round(statistics.median(cpus), 4),
    }


def measure(n_runs: int, repeats: int, folder: Path) -> dict:
    seeded = folder / f"seeded-{n_runs}.duckdb"
    warehouse.replace_run(seeded, "seed", run_frames([f"night-{i:05d}" for i in range(n_runs)]))
    published, in_place = folder / "published.duckdb", folder / "in-place.duckdb"
    shutil.copyfile(seeded, published)
    shutil.copyfile(seeded, in_place)
    new_runs = [run_frames([f"new-{i}"]) for i in range(repeats)]
    result = {
        "runs": n_runs,
        "rows": sum(len(f) for f in run_frames(["x"]).values()) * n_runs,
        "file_mb": round(seeded.stat().st_size / 1e6, 2),
        "repeats": repeats,
    }
    result["publish"] = timed(lambda i: warehouse.replace_run(published, f"new-{i}", new_runs[i]), repeats)
    result["in_place"] = timed(lambda i: write_in_place(in_place, f"new-{i}", new_runs[i]), repeats)

    def migrate(i: int) -> None:
        old_format = folder / f"old-format-{i}.duckdb"
        with duckdb.connect(":memory:") as con:  # the seeded tables in DuckDB 2's own storage format
            con.execute("ATTACH ? AS seeded (READ_ONLY)", [str(seeded)])
            con.execute("ATTACH ? AS old_format", [str(old_format)])
            con.execute("COPY FROM DATABASE seeded TO old_format")
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        warehouse.replace_run(old_format, f"new-{i}", new_runs[i])
        migrate_times.append((time.perf_counter() - start_wall, time.process_time() - start_cpu))

    migrate_times: list[tuple[float, float]] = []
    for i in range(repeats):
        migrate(i)
    result["migrate"] = {
        "wall_s_median": round(statistics.median(t[0] for t in migrate_times), 4),
        "wall_s_max": round(max(t[0] for t in migrate_times), 4),
        "cpu_s_median": round(statistics.median(t[1] for t in migrate_times), 4),
    }
    result["publish_over_in_place_wall"] = round(
        result["publish"]["wall_s_median"] / result["in_place"]["wall_s_median"], 2
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, nargs="+", default=[365, 3650], help="runs already in the warehouse"
    )
    parser.add_argument("--repeats", type=int, default=5, help="writes timed per size and way")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "warehouse.json"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    sizes = []
    for n_runs in args.runs:
        with tempfile.TemporaryDirectory() as folder:
            sizes.append(measure(n_runs, args.repeats, Path(folder)))
        print(json.dumps(sizes[-1]), flush=True)
    report = {
        "benchmark": "warehouse write: publish vs in place",
        "duckdb": duckdb.__version__,
        "storage_version": warehouse.STORAGE_VERSION,
        "cpus": os.cpu_count(),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sizes": sizes,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
