"""Run every benchmark one after the other (each writes bench/results/<name>.json).

    python bench/run_all.py            # full sizes (tens of minutes on 2 cores)
    python bench/run_all.py --quick    # small sizes, a smoke run of every script
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FULL: list[list[str]] = [
    ["simulate.py"],
    ["ingest.py"],
    ["states.py"],
    ["ope.py"],
    ["ope_calibration.py"],
    ["cli.py"],
]
QUICK: list[list[str]] = [
    ["simulate.py"],
    ["ingest.py", "--rows", "200000"],
    ["states.py", "--events", "200000"],
    ["ope.py", "--rows", "200000", "--resamples", "200"],
    ["ope_calibration.py", "--seeds", "3"],
    ["cli.py", "--repeats", "3"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    failed = []
    for script, *options in QUICK if args.quick else FULL:
        print(f"== {script} {' '.join(options)}", flush=True)
        if subprocess.run([sys.executable, str(BENCH / script), *options]).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
