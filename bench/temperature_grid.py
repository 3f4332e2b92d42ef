"""Does the serving-temperature grid fit every policy's score scale? ``bench/temperature_rule.py`` replayed
with a finer grid (0.01 and 0.02 below ``BaselineConfig.temperatures``' 0.05), on the tune seeds.

At T = 0.05 the actor-critic serves within 0.0005 of its greedy slate, but session-kNN, PureSVD and the text
agent, whose scores spread less, give up 0.004 to 0.015 per impression (``bench/results/temperature_rule.json``,
tune seeds): the grid, not their tuning, holds them back. Every rule of ``temperature_rule.RULES`` (the
anchored ones at z_a = Phi^-1(1 - 0.05 / 6) = 2.39 too) is scored on this grid. JSON to
``bench/results/temperature_grid.json``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/temperature_grid.py [--scenarios ...] [--seeds 11,12]
"""

from __future__ import annotations

import sys
from pathlib import Path

import temperature_rule

GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
"""The finer grid: the default one with 0.01 and 0.02 below it."""

_rows = temperature_rule.temperature_rows


def temperature_rows_on_grid(policy, valid, test, valid_q, test_q, temperatures, slate_size, truth):
    """``temperature_rule.temperature_rows`` on ``GRID`` instead of the configured grid."""
    return _rows(policy, valid, test, valid_q, test_q, GRID, slate_size, truth)


if __name__ == "__main__":
    temperature_rule.temperature_rows = temperature_rows_on_grid
    temperature_rule.RULES["paired-2.39"] = ("paired", 2.39)
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", str(Path(__file__).parent / "results" / "temperature_grid.json")]
    raise SystemExit(temperature_rule.main(argv))
