"""``recrl train``: fit the actor-critic and the supervised sequential model on the data root's states."""

from __future__ import annotations

import argparse

from recrl.cli import add_config_options, default_run_id, existing_data_root, pipeline_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="states -> actor-critic (and SASRec-style) checkpoints under DATA/models/RUN_ID",
        description=__doc__ + " Trains on the train split, stops early on the valid split; the test split "
        "is never read. Options: the agent section as --field-name, the others as --section.field-name.",
    )
    add_config_options(parser, own="agent", others=("sequential", "states"))
    parser.add_argument("--run-id", default=None, help="checkpoint folder name (default: manual-<UTC time>)")
    parser.add_argument(
        "--no-sequential", dest="sequential", action="store_false", help="train the actor-critic only"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = pipeline_config(args, own="agent", others=("sequential", "states"))
    layout = existing_data_root(config)
    from recrl.agents import run_stage

    summary = run_stage(layout, config, run_id=args.run_id or default_run_id(), sequential=args.sequential)
    print(
        f"run {summary.run_id}: actor-critic {summary.actor_critic_epochs} epoch(s), sequential "
        f"{summary.sequential_epochs} epoch(s) in {summary.seconds:.1f} s -> {summary.checkpoint}"
    )
    return 0
