"""Ingest throughput and peak memory: recrl ingest vs raw polars scan_csv -> sink_parquet vs pandas.

Generates one canonical CSV of ``--rows`` rows (default 20M) in a temp dir, then runs each contender
in its own subprocess (so peak RSS is each one's own, read from ``resource`` ru_maxrss), and prints
JSON with rows/s, CPU seconds (user + system, all threads), peak RSS and recrl's ratio to raw polars.
On a shared machine wall time depends on the load (recorded before and after as the 1-minute load
average); CPU seconds much less. Also writes ``bench/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

CONTENDERS = {
    "recrl": (
        "from pathlib import Path; from recrl.ingest import ingest; from recrl.lake import DataLayout; from recrl.config import IngestConfig;"
        "import datetime as dt;"
        "r = ingest([SRC], 'events', DataLayout(Path(OUT)), IngestConfig(), now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC));"
        "assert r.files[0].accepted_rows == ROWS, r.files"
    ),
    "polars_raw": "import polars as pl; pl.scan_csv(SRC).sink_parquet(OUT + '.parquet')",
    "pandas": "import pandas as pd; pd.read_csv(SRC).to_parquet(OUT + '.parquet')",
}


def generate(path: Path, n_rows: int, seed: int = 0, chunk: int = 2_000_000) -> None:
    """Canonical CSV over 7 days, 1M users, 50k items, written in chunks (bounded memory)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-11-01T00:00:00", "us").astype(np.int64)
    with open(path, "wb") as handle:
        for offset in range(0, n_rows, chunk):
            size = min(chunk, n_rows - offset)
            frame = pl.DataFrame(
                {
                    "ts": pl.Series(start + rng.integers(0, 7 * 86_400_000_000, size)).cast(pl.Datetime("us", "UTC")),
                    "user_id": pl.Series(rng.integers(0, 1_000_000, size)).cast(pl.String),
                    "session_id": pl.Series(rng.integers(0, 3_000_000, size)).cast(pl.String),
                    "item_id": pl.Series(rng.integers(0, 50_000, size)).cast(pl.String),
                    "event_type": pl.Series(rng.choice(["impression", "click", "cart", "purchase"], size)),
                    "position": pl.Series(rng.integers(0, 3, size)).cast(pl.Int16),
                    "request_id": pl.Series(np.arange(offset, offset + size)).cast(pl.String),
                    "propensity": pl.Series(rng.uniform(0.01, 1.0, size)).round(6),
                    "policy_id": pl.Series(["logging"] * size),
                }
            )
            frame.write_csv(handle, include_header=offset == 0)


def measure(name: str, source: Path, out: Path, n_rows: int) -> dict:
    code = CONTENDERS[name].replace("SRC", repr(str(source))).replace("OUT", repr(str(out))).replace("ROWS", str(n_rows))
    wrapper = (
        "import resource, time, json\nt = time.perf_counter()\n"
        f"{code}\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t,"
        " 'cpu_seconds': usage.ru_utime + usage.ru_stime, 'peak_rss_mb': usage.ru_maxrss / 1024}))"
    )
    result = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True)
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return {**stats, "rows_per_s": n_rows / stats["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.csv"
        t = time.perf_counter()
        generate(source, args.rows)
        results = {"rows": args.rows, "csv_mb": source.stat().st_size / 2**20, "generate_s": time.perf_counter() - t}
        results["load_avg_1m_before"] = os.getloadavg()[0]
        for name in CONTENDERS:
            results[name] = measure(name, source, Path(tmp) / name, args.rows)
        results["load_avg_1m_after"] = os.getloadavg()[0]
    recrl, raw = results["recrl"], results["polars_raw"]
    results["recrl_vs_polars_raw_throughput"] = recrl["rows_per_s"] / raw["rows_per_s"]
    results["recrl_vs_polars_raw_cpu"] = raw["cpu_seconds"] / recrl["cpu_seconds"]
    text = json.dumps(results, indent=2)
    print(text)
    out = Path(__file__).resolve().parent / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
