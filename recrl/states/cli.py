"""``recrl states``: build the vocabulary and transitions from the lake and print the summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from recrl.config import StatesConfig, add_options, options_config
from recrl.lake import DataLayout
from recrl.states.build import build_states


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "states",
        help="lake events -> item vocabulary and transitions (DuckDB SQL)",
        description=__doc__,
    )
    parser.add_argument("--data", required=True, type=Path, help="data root (reads DIR/lake, writes DIR/states)")
    add_options(parser, StatesConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = options_config(StatesConfig, args)
    if not args.data.is_dir():
        raise FileNotFoundError(f"--data directory not found: {args.data}")
    summary = build_states(DataLayout(args.data), config)
    print(summary.format())
    return 0
