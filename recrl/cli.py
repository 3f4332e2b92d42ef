"""``recrl`` command line: one sub-command per stage, each registered by its stage's ``cli`` module."""

from __future__ import annotations

import argparse
import importlib
import sys

from recrl.config import ConfigError

STAGE_CLI_MODULES: tuple[str, ...] = (
    "recrl.simulate.cli",
    "recrl.ingest.cli",
    "recrl.states.cli",
    "recrl.ope.cli",
    "recrl.evaluate.cli",
    "recrl.loop.cli",
)
"""Modules exposing ``register(subparsers)``; each adds its sub-command(s) with ``func`` set."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recrl", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in STAGE_CLI_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:  # options are validated by the config models: one line per bad field
        for problem in error.problems:
            print(f"recrl {args.command}: error: {problem}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        # Bad input gets one clear line, not a traceback.
        print(f"recrl {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
