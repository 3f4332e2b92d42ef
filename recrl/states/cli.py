"""``recrl states``: build the vocabulary and transitions from the lake and print the summary."""

from __future__ import annotations

import argparse

from recrl.cli import add_config_options, existing_data_root, pipeline_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "states",
        help="lake events -> item vocabulary and transitions (DuckDB SQL)",
        description=__doc__ + " Reads DATA/lake, writes DATA/states.",
    )
    add_config_options(parser, own="states")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from recrl.states import run_stage

    config = pipeline_config(args, own="states")
    summary = run_stage(existing_data_root(config), config)
    print(summary.format())
    return 0
