"""``recrl recommend``: a run's policy served outside the flow, as each item's probability per decision."""

from __future__ import annotations

import argparse
from pathlib import Path

from recrl.lake import DataLayout


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="a run's policy -> each item's probability at each decision's slot (Parquet)",
        description=__doc__ + " Probabilities are exactly those the evaluation used (its temperature, "
        "the logged slot); see recrl.evaluate.recommend.",
    )
    parser.add_argument("--data", required=True, type=Path, help="data root (states, models, warehouse)")
    parser.add_argument("--run", required=True, help="run id (warehouse `runs` table)")
    parser.add_argument("--policy", required=True, help="policy name, e.g. actor-critic, item-knn, sasrec")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--split", help="serve the decisions the evaluation judged on this split: valid or test"
    )
    source.add_argument(
        "--histories",
        type=Path,
        help="Parquet/CSV with request_id, history (item ids, most recent last; list or "
        "space-separated), optional position (default 0) and history_types (default click)",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--top-k", type=int, help="keep the K likeliest items per decision (probabilities unchanged)"
    )
    size.add_argument("--all-items", action="store_true", help="every non-reserved item (the default)")
    parser.add_argument("--out", required=True, type=Path, help="output Parquet file (written atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the models (torch, transformers) would slow every other `recrl` command's start.
    from recrl.evaluate.recommend import check_out_path, recommend, write_parquet_atomic

    if not args.data.is_dir():
        raise FileNotFoundError(f"--data directory not found: {args.data}")
    out = check_out_path(args.out)  # before the work, not after it
    frame = recommend(
        DataLayout(args.data),
        args.run,
        args.policy,
        split=args.split,
        histories=args.histories,
        top_k=args.top_k,
    )
    write_parquet_atomic(frame, out)
    print(f"{frame.height} rows ({args.policy}, run {args.run}) -> {out}")
    return 0
