"""``recrl ingest PATH... --format FMT --data DIR``: ingest files, folders or globs; print the reconciliation."""

from __future__ import annotations

import argparse
import typing

from recrl.cli import add_config_options, layout_of, pipeline_config
from recrl.config import SourceFormat

FORMAT_NAMES = typing.get_args(SourceFormat)
"""``recrl.ingest.formats.FORMATS`` (kept equal by a test), without importing the readers."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` sub-command."""
    parser = subparsers.add_parser(
        "ingest",
        help="validate log files into the Parquet lake",
        description="Validate log files into the Parquet lake (DATA/lake/{events,quarantine,items,"
        "reconciliation}); rejected rows go to the quarantine.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="input log files, folders (every file under them, sorted) or quoted glob patterns "
        "(default: the config's source)",
    )
    parser.add_argument("--format", dest="fmt", default=None,
                        help=f"input format: {', '.join(FORMAT_NAMES)} (default: the config's source_format)")
    add_config_options(parser, own="ingest", data_aliases=("--lake",))
    parser.add_argument("--shards", dest="n_shards", default=None, help="= --n-shards")
    parser.add_argument("--batch-id", default=None, help="ingest batch id (default: digest of the input)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from recrl.ingest import run_stage

    config = pipeline_config(args, own="ingest")
    layout = layout_of(config)
    if layout.root.exists() and not layout.root.is_dir():
        raise ValueError(f"--data is not a directory: {layout.root}")
    paths = args.paths or ([config.source] if config.source not in ("simulator", "lake") else [])
    if not paths:
        raise ValueError("no input: give PATH... (or a config whose source is a file, folder or glob)")
    fmt = args.fmt or config.source_format
    if fmt not in FORMAT_NAMES:
        raise ValueError(f"--format must be one of {', '.join(FORMAT_NAMES)}, got {fmt!r}")
    summary = run_stage(layout, config, paths=[str(p) for p in paths], fmt=fmt, batch_id=args.batch_id)
    print(summary.table)
    print(summary.line)
    return 0
