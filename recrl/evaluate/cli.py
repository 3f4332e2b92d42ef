"""``recrl evaluate``: judge a trained run's policies on the test days into the warehouse.
``recrl recommend``: a run's policy served outside the flow, as each item's probability per decision."""

from __future__ import annotations

import argparse
from pathlib import Path

from recrl.cli import add_config_options, existing_data_root, pipeline_config


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="a trained run's policies -> estimates, truth, ranking metrics (warehouse) and the report",
        description="Evaluate the actor-critic (and SASRec-style) checkpoint of RUN_ID against the logging "
        "policy and the tuned baselines on the test days (temperatures chosen on valid); writes the run's rows "
        "to DATA/warehouse.duckdb (replacing earlier ones) and DATA/reports/RUN_ID. With the simulator as "
        "source, the truth comes from the config's sim section: give the config the logs were simulated with.",
    )
    add_config_options(evaluate, own="eval", others=("baselines", "states", "sim"))
    evaluate.add_argument("--run-id", required=True, help="run whose checkpoint (DATA/models/RUN_ID) is judged")
    evaluate.add_argument("--source", default=None, help="'simulator' (truth known), 'lake' or the logs' path")
    evaluate.add_argument("--no-report", dest="report", action="store_false", help="skip DATA/reports/RUN_ID")
    evaluate.set_defaults(func=run_evaluate)

    parser = subparsers.add_parser(
        "recommend",
        help="a run's policy -> each item's probability at each decision's slot (Parquet)",
        description=__doc__ + " Probabilities are exactly those the evaluation used (its temperature, "
        "the logged slot); see recrl.evaluate.recommend.",
    )
    add_config_options(parser)
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


def run_evaluate(args: argparse.Namespace) -> int:
    config = pipeline_config(args, own="eval", others=("baselines", "states", "sim"), source=args.source)
    layout = existing_data_root(config)
    from recrl.evaluate import run_stage

    summary = run_stage(layout, config, run_id=args.run_id, report=args.report)
    print(f"run {summary.run_id}: {len(summary.policies)} policies ({', '.join(summary.policies)}) in "
          f"{summary.seconds:.1f} s -> {summary.warehouse}" + (f", {summary.report}" if summary.report else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    # Imported here: the models (torch, transformers) would slow every other `recrl` command's start.
    from recrl.evaluate.recommend import check_out_path, recommend, write_parquet_atomic

    layout = existing_data_root(pipeline_config(args))
    out = check_out_path(args.out)  # before the work, not after it
    frame = recommend(
        layout,
        args.run,
        args.policy,
        split=args.split,
        histories=args.histories,
        top_k=args.top_k,
    )
    write_parquet_atomic(frame, out)
    print(f"{frame.height} rows ({args.policy}, run {args.run}) -> {out}")
    return 0
