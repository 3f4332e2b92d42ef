"""Benchmark: wall time of ``recrl --help`` and of each ``recrl <command> --help``, this tree against an
older one (default: the ``main`` branch, extracted with ``git archive`` into a temporary folder).

Each timing is a fresh ``python -m recrl.cli ... --help`` process with ``PYTHONPATH`` set to the tree
measured (so its own ``recrl`` is imported), the median of ``--repeats`` runs; a command the old tree
does not have is null. The heavy modules each tree's parser imports are listed beside the timings.

    .venv/bin/python bench/cli.py [--old-ref main] [--repeats 5]

Prints JSON and writes it to ``bench/results/cli.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "cli.json"
COMMANDS = ("simulate", "ingest", "states", "train", "evaluate", "recommend", "ope", "run", "status")
HEAVY = ("torch", "prefect", "transformers", "polars", "duckdb", "pyarrow", "sklearn", "numpy")


def extract(ref: str, into: Path) -> Path:
    """``recrl/`` and ``sql/`` of git ``ref`` under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "recrl", "sql"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def environment(tree: Path) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}


def python_output(tree: Path, code: str) -> str:
    """stdout of ``python -c code`` run against the recrl in ``tree``."""
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=environment(tree), capture_output=True,
                          text=True, check=True).stdout


def commands_of(tree: Path) -> set[str]:
    code = (
        "import recrl.cli; p = recrl.cli.build_parser(); "
        "print(' '.join(next(a for a in p._actions if a.dest == 'command').choices))"
    )
    return set(python_output(tree, code).split())


def heavy_imports(tree: Path) -> list[str]:
    code = f"import sys, recrl.cli; recrl.cli.build_parser(); print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    return python_output(tree, code).split()


def help_seconds(tree: Path, argv: list[str], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``python -m recrl.cli *argv --help`` from ``tree``.

    CPU seconds are what the command costs on an idle machine; wall seconds grow with the load of a
    shared one (``load_average_1m`` in the result)."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "recrl.cli", *argv, "--help"],
            cwd=tree,
            env=environment(tree),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--old-ref", default="main", help="git ref of the tree compared against (default main)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing; the median is kept")
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"new": REPO, "old": extract(args.old_ref, Path(tmp))}
        available = {name: commands_of(tree) for name, tree in trees.items()}
        rows = []
        for command in ("", *COMMANDS):
            argv = [command] if command else []
            row = {"command": f"recrl {command} --help".replace("  ", " ")}
            for name, tree in trees.items():
                has = not command or command in available[name]
                wall, cpu = help_seconds(tree, argv, args.repeats) if has else (None, None)
                row |= {f"{name}_wall_s": wall, f"{name}_cpu_s": cpu}
            rows.append(row)
            print(json.dumps(row), flush=True)
        result = {
            "benchmark": "cli --help wall and CPU seconds (median of repeats, a fresh process each)",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_1m_at_start": load_at_start,
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            },
            "old_ref": args.old_ref,
            "repeats": args.repeats,
            "heavy_modules_imported_by_the_parser": {
                name: heavy_imports(tree) for name, tree in trees.items()
            },
            "rows": rows,
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
