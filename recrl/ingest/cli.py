"""``recrl ingest PATH... --format FMT --lake DIR``: ingest files, folders or globs; print the reconciliation."""

from __future__ import annotations

import argparse
from pathlib import Path

from recrl.config import IngestConfig, add_options, options_config
from recrl.ingest.formats import FORMATS
from recrl.ingest.run import ingest
from recrl.lake import DataLayout


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` sub-command."""
    parser = subparsers.add_parser(
        "ingest",
        help="validate log files into the Parquet lake",
        description="Validate log files into the Parquet lake; rejected rows go to the quarantine.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="input log files, folders (every file under them, sorted) or quoted glob patterns",
    )
    parser.add_argument("--format", required=True, dest="fmt", help=f"input format: {', '.join(FORMATS)}")
    parser.add_argument(
        "--lake",
        required=True,
        metavar="DIR",
        help="data root: the lake is written to DIR/lake/{events,quarantine,items,reconciliation}",
    )
    parser.add_argument("--batch-id", default=None, help="ingest batch id (default: digest of the input)")
    parser.add_argument("--shards", dest="n_shards", default=None, help="user shards per date partition (= --n-shards)")
    add_options(parser, IngestConfig, [name for name in IngestConfig.__pydantic_fields__ if name != "n_shards"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.lake)
    if root.exists() and not root.is_dir():
        raise ValueError(f"--lake is not a directory: {root}")
    config = options_config(IngestConfig, args)
    report = ingest(args.paths, args.fmt, DataLayout(root), config, batch_id=args.batch_id)
    print(report.table())
    print(report.summary())
    return 0
