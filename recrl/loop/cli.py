"""``recrl demo``: the closed loop on the simulator for N nights (``recrl.loop.run``), then its summary."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from recrl.config import PipelineConfig
from recrl.lake import DataLayout

DEFAULT_CONFIG = Path("data/configs/loop.json")
"""The loop's settings in the repository (a world and epochs sized so 3 nights fit the demo's budget)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the closed loop on the simulator: serve, ingest, retrain, evaluate, gate, deploy, N nights",
        description=__doc__ + " Each night the deployed policy serves one simulated day; a candidate "
        "replaces it only past the deployment gate. Results: the warehouse tables deployments and "
        "nightly_summary.",
    )
    parser.add_argument("--nights", type=int, default=3, help="nights to run (default %(default)s)")
    parser.add_argument("--data", type=Path, help="data root, fresh (default: the config's data_root)")
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="PipelineConfig JSON (default %(default)s; run from the repository root)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the models (torch, transformers) would slow every other `recrl` command's start.
    import polars as pl

    from recrl.loop.run import loop_config, run_nights

    progress = logging.StreamHandler()  # a line per stage of each night: the loop runs for minutes
    progress.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("recrl.loop").addHandler(progress)
    logging.getLogger("recrl.loop").setLevel(logging.INFO)
    if args.nights < 1:
        raise ValueError(f"--nights must be >= 1, got {args.nights}")
    config = loop_config(PipelineConfig.from_file(args.config), args.data)
    summary = run_nights(config, args.nights)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4, tbl_width_chars=200, fmt_str_lengths=40):
        print(
            summary.select(
                "night",
                "served_policy",
                "served_true_value",
                "served_estimate",
                "candidate",
                "candidate_true_value",
                "candidate_estimate",
                "candidate_lower_bound",
                "decision",
                "seconds",
            )
        )
    print(f"warehouse: {DataLayout(Path(config.data_root)).warehouse} (tables nightly_summary, deployments)")
    return 0
