"""``recrl states``: build the vocabulary and transitions from the lake and print the summary."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from recrl.config import StatesConfig
from recrl.lake import DataLayout
from recrl.states.build import build_states


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "states",
        help="lake events -> item vocabulary and transitions (DuckDB SQL)",
        description=__doc__,
    )
    parser.add_argument("--data", required=True, type=Path, help="data root (reads DIR/lake, writes DIR/states)")
    defaults = StatesConfig()
    for field in dataclasses.fields(StatesConfig):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(getattr(defaults, field.name)),
            default=getattr(defaults, field.name),
            help=f"(default: {getattr(defaults, field.name)!r})",
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        raise FileNotFoundError(f"--data directory not found: {args.data}")
    config = StatesConfig(**{field.name: getattr(args, field.name) for field in dataclasses.fields(StatesConfig)})
    summary = build_states(DataLayout(args.data), config)
    print(summary.format())
    return 0
