"""The named worlds side by side: reference values and sequential signal per scenario x seed.

Writes each world's logs to a temporary folder, then measures with ``recrl.simulate.diagnostics``:
uniform / logging / oracle true reward per impression over all logged decisions, and the oracle-free
sequential statistics. Markdown table to stdout (it is the table of ``docs/scenarios.md``), JSON to
``bench/results/scenarios.json``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scenarios.py [--users 800] [--days 3] [--seeds 21,22,23] [--scenarios a,b]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from recrl.simulate.diagnostics import reference_values, sequential_signal
from recrl.simulate.logs import write_logs
from recrl.simulate.scenarios import REPORT_SEEDS, SCENARIOS

COLUMNS = ("uniform", "logging", "oracle", "history_logit_share", "same_category_ctr_ratio", "heuristic_lift")


def measure(name: str, seed: int, users: int, days: int) -> dict:
    sc = SCENARIOS[name]
    config = sc.sim_config(seed, n_users=users, n_days=days)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        raw, truth = Path(root) / "raw", Path(root) / "truth"
        write_logs(config, raw, truth, sc.reward_click, sc.reward_purchase)
        values = reference_values(config, truth, sc.reward_click, sc.reward_purchase)
        values |= sequential_signal(
            config, raw, truth, sc.reward_click, sc.reward_purchase, max_requests=5000
        )
    return {"scenario": name, "seed": seed, **values, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=800)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seeds", default=",".join(map(str, REPORT_SEEDS)))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scenarios.json")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.scenarios.split(","):
        for seed in seeds:
            rows.append(measure(name, seed, args.users, args.days))
            print(f"{name} {seed}: {rows[-1]['seconds']:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"users": args.users, "days": args.days, "rows": rows}, indent=2) + "\n")
    print(f"\n| scenario | {' | '.join(COLUMNS)} |\n| --- |" + " ---: |" * len(COLUMNS))
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == name]
        cells = []
        for column in COLUMNS:
            values = np.array([r[column] for r in mine])
            digits = 4 if column in ("uniform", "logging", "oracle") else 2
            cells.append(
                f"{values.mean():.{digits}f} ± {values.std(ddof=1) if len(values) > 1 else 0:.{digits}f}"
            )
        print(f"| {name} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
