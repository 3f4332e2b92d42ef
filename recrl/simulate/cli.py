"""``recrl simulate``: write the built-in simulator's logs and ground truth under a data root."""

from __future__ import annotations

import argparse
from pathlib import Path

from recrl.config import SimConfig
from recrl.lake import DataLayout
from recrl.simulate.logs import write_logs
from recrl.simulate.scenarios import SCENARIOS, scenario


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated e-commerce logs (raw/) and their ground truth (truth/)",
        description="Write simulated logs to OUT/raw (events-YYYY-MM-DD.csv, items.csv) and the hidden "
        "ground truth to OUT/truth (decisions.parquet, requests.parquet). Same seed, same bytes.",
    )
    defaults = SimConfig()
    parser.add_argument("--out", type=Path, required=True, help="data root to write raw/ and truth/ under")
    parser.add_argument(
        "--days", default=defaults.n_days, help="days of logs (default %(default)s)"
    )
    parser.add_argument(
        "--users", default=defaults.n_users, help="users (default %(default)s)"
    )
    parser.add_argument(
        "--seed", default=defaults.seed, help="world and log seed (default %(default)s)"
    )
    parser.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default="default",
        help="named world (docs/scenarios.md; default %(default)s); its reward weights are used for the truth",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out is not a directory: {args.out}")
    world = scenario(args.scenario)
    config = world.sim_config(args.seed, n_days=args.days, n_users=args.users)
    layout = DataLayout(args.out)
    written = write_logs(config, layout.raw, layout.truth, world.reward_click, world.reward_purchase)
    print(f"wrote {len(written)} day files to {layout.raw} and ground truth to {layout.truth}")
    return 0
