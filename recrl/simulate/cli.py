"""``recrl simulate``: write the built-in simulator's logs and ground truth under a data root."""

from __future__ import annotations

import argparse
import dataclasses

from recrl.cli import add_config_options, layout_of, pipeline_config
from recrl.simulate.scenarios import SCENARIOS, scenario


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated e-commerce logs (raw/sim) and their ground truth (truth/)",
        description="Write simulated logs to DATA/raw/sim (events-YYYY-MM-DD.csv, items.csv) and the hidden "
        "ground truth to DATA/truth (decisions.parquet, requests.parquet). Same seed, same bytes.",
    )
    add_config_options(parser, own="sim", others=("states",), data_aliases=("--out",))
    # Short names kept from the first CLI (the same options as --n-days, --n-users).
    parser.add_argument("--days", dest="n_days", default=None, help="= --n-days")
    parser.add_argument("--users", dest="n_users", default=None, help="= --n-users")
    parser.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default=None,
        help="named world (docs/scenarios.md): its SimConfig structure and reward weights, under the options given",
    )
    parser.set_defaults(func=run)


def with_scenario(name: str | None):
    """``base`` of ``pipeline_config``: the named world's structure and reward weights, or nothing."""
    if name is None:
        return None
    world = scenario(name)

    def apply(config):
        return dataclasses.replace(
            config,
            sim=dataclasses.replace(config.sim, **world.sim),
            states=dataclasses.replace(config.states, reward_click=world.reward_click,
                                       reward_purchase=world.reward_purchase),
        )

    return apply


def run(args: argparse.Namespace) -> int:
    from recrl.simulate import run_stage

    config = pipeline_config(args, own="sim", others=("states",), base=with_scenario(args.scenario))
    summary = run_stage(layout_of(config), config)
    print(f"wrote {len(summary.event_files)} day files to {summary.raw_dir} and ground truth to {summary.truth_dir}")
    return 0
