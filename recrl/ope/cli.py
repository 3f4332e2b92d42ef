"""``recrl ope``: evaluate an outside policy (a table of action probabilities) on a logged dataset.

    recrl ope --events data/lake --policy-probs bts_policy_action_dist_all.csv \\
        --policy-id obd-random [--estimators ips snips dr] [--warehouse data/warehouse.duckdb] [--run-id ID]

Prints one line per estimator and, with ``--warehouse``, appends the rows to ``ope_estimates``.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recrl.config import EvalConfig, PipelineConfig

if TYPE_CHECKING:  # imported in the functions: `recrl --help` must not load numpy, polars or duckdb
    import polars as pl

    from recrl.ope.api import Estimate

LAMBDA_ESTIMATORS = ("ips", "switch-dr", "dr-os")
"""Estimators that get ``--lambda`` (EvalConfig.clip_lambda); plain DR stays unclipped. A clipped IPS is
stored as ``ips-clip<lambda>`` (``recrl.ope.rows``)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = EvalConfig()
    parser = subparsers.add_parser("ope", help="evaluate a policy given as action probabilities on logged data")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="PipelineConfig JSON whose eval section the options below override")
    parser.add_argument("--events", type=Path, required=True, help="lake folder (or its events/ folder)")
    parser.add_argument("--policy-probs", type=Path, required=True, help="CSV: item_id,pos0,... or request_id,item_id,position,prob")
    parser.add_argument("--policy-id", default=None, help="use only impressions logged by this policy_id")
    parser.add_argument("--policy-name", default=None, help="name stored with the estimates (default: the file's stem)")
    # Read as text and validated by EvalConfig (``eval_config``): a bad value is one line naming the field.
    parser.add_argument("--estimators", nargs="+", help=f"default: {' '.join(defaults.estimators)}")
    parser.add_argument("--lambda", dest="lambda_", help=f"lambda of {', '.join(LAMBDA_ESTIMATORS)} "
                        f"(default: {defaults.clip_lambda})")
    parser.add_argument("--alpha", help=f"1 - confidence level (default: {defaults.alpha})")
    parser.add_argument("--n-bootstrap", help=f"bootstrap resamples (default: {defaults.n_bootstrap})")
    parser.add_argument("--folds", help=f"reward model cross-fitting folds (default: {defaults.reward_model_folds})")
    parser.add_argument("--seed", help=f"default: {defaults.seed}")
    parser.add_argument("--warehouse", type=Path, default=None, help="DuckDB file to append ope_estimates rows to")
    parser.add_argument("--run-id", default=None, help="run id of the rows (default: ope-<UTC time>)")
    parser.add_argument("--split", default="logged", help="split label stored with the rows")
    parser.set_defaults(func=run)


def estimates_frame(estimates: list[Estimate], run_id: str, policy: str, split: str) -> pl.DataFrame:
    """Rows of the warehouse table ``ope_estimates`` (true_value null: outside logs have no truth)."""
    import polars as pl

    from recrl.ope.rows import estimate_rows

    created_at = datetime.now(UTC)
    rows = estimate_rows(estimates, policy=policy, split=split, propensity_source="logged")
    return pl.DataFrame(
        [{"run_id": run_id} | row | {"created_at": created_at} for row in rows],
        schema_overrides={"lambda_": pl.Float64, "true_value": pl.Float64, "n": pl.Int64},
    )


def format_table(estimates: list[Estimate]) -> str:
    header = f"{'estimator':<10} {'value':>10} {'ci_low':>10} {'ci_high':>10} {'std_err':>10} {'ess':>10} {'max_w':>8} {'clipped':>8}"
    lines = [header]
    for e in estimates:
        lines.append(
            f"{e.estimator:<10} {e.value:>10.6f} {e.ci_low:>10.6f} {e.ci_high:>10.6f} {e.std_err:>10.6f} "
            f"{e.ess:>10.1f} {e.max_weight:>8.2f} {e.share_clipped:>8.4f}"
        )
    return "\n".join(lines)


def eval_config(args: argparse.Namespace) -> EvalConfig:
    """``EvalConfig`` with the options given (``ConfigError`` naming the field when one is bad)."""
    given = {"estimators": args.estimators, "clip_lambda": args.lambda_, "alpha": args.alpha,
             "n_bootstrap": args.n_bootstrap, "reward_model_folds": args.folds, "seed": args.seed}
    base = PipelineConfig.from_file(args.config).eval if getattr(args, "config", None) else EvalConfig()
    return dataclasses.replace(base, **{name: v for name, v in given.items() if v is not None})


def evaluate_outside_policy(args: argparse.Namespace) -> list[Estimate]:
    """The estimates ``recrl ope`` prints, from parsed arguments."""
    from recrl.ope.api import estimate_all
    from recrl.ope.outside import load_impressions, policy_rows, read_policy_table

    config = eval_config(args)
    kind, table = read_policy_table(args.policy_probs)
    impressions = load_impressions(args.events, args.policy_id)
    rows = policy_rows(impressions, kind, table, n_folds=config.reward_model_folds, seed=config.seed)
    return estimate_all(
        config.estimators,
        reward=rows.reward,
        pscore=rows.pscore,
        action_prob=rows.action_prob,
        q_logged=rows.q_logged,
        q_policy=rows.q_policy,
        lambda_={name: config.clip_lambda for name in LAMBDA_ESTIMATORS},
        alpha=config.alpha,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
    )


def run(args: argparse.Namespace) -> int:
    estimates = evaluate_outside_policy(args)
    print(format_table(estimates))
    if args.warehouse is not None:
        from recrl.store.warehouse import append_rows

        run_id = args.run_id or f"ope-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        policy = args.policy_name or Path(args.policy_probs).stem
        append_rows(args.warehouse, "ope_estimates", estimates_frame(estimates, run_id, policy, args.split))
        print(f"wrote {len(estimates)} rows to {args.warehouse} (table ope_estimates, run_id {run_id})")
    return 0
