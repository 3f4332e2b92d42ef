"""Calibration of the safe deployment gate (``recrl.evaluate.gate``) against the simulator's exact truth.

Per seed a fresh small world logs two days with the built-in logging policy (the incumbent). On the
second (test) day, candidates are Plackett-Luce policies over the simulator's items,

    pi_lambda = lambda softmax(R(x, ., 0) / 0.05) + (1 - lambda) uniform,

a mixture between a near-oracle (it reads the hidden user state) and uniform serving, at several
strengths lambda: weak mixtures are truly worse than the logger, strong ones truly better. Each
candidate's true value is exact (sum_a pi(a | x, k) R(x, a, k) at every logged decision); its estimate is
recrl's DR clipped at 100 (``recrl.ope.estimate``, as the flow stores ``dr-clip100``) with a reward model
q_hat(a, k) = the item's mean reward at slot k on the first day, shrunk to the slot mean (an
honest but plain model: DR stays unbiased with the exact logged propensities). The incumbent's estimate is
its on-policy mean reward on the test day, as in the closed loop. The gate decides at each margin.

Reported per margin: the rate of deploying a truly worse candidate (among all worse ones, and among the
"near" ones, within 0.01 of the incumbent), the rate of missing a truly better one (same split), and the
counts. JSON to stdout and bench/results/gate.json; table in docs/deployment.md.

    python bench/gate.py --seeds 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from recrl.config import SimConfig
from recrl.evaluate.gate import PolicyEstimate, decide
from recrl.ope import estimate
from recrl.policies import plackett_luce_marginals
from recrl.simulate import Simulator, write_logs

RESULTS = Path(__file__).resolve().parent / "results" / "gate.json"
LAMBDAS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0)
MARGINS = (0.0, 0.0025, 0.005, 0.01)
NEAR = 0.01
"""A candidate within this much true value of the incumbent is 'near' (the cases a gate can get wrong)."""
ORACLE_TEMPERATURE = 0.05
REWARD_PRIOR = 20.0
"""Impressions' worth of the slot mean in q_hat's shrinkage."""


def day_decisions(path: Path, item_index: dict[str, int]) -> pl.DataFrame:
    """One row per impression: request_id, item (simulator index), position, propensity, reward."""
    events = pl.read_csv(path, schema_overrides={"item_id": pl.String, "request_id": pl.String})
    weights = (
        pl.when(pl.col("event_type") == "click").then(0.2).when(pl.col("event_type") == "purchase").then(1.0)
    )
    rewards = (
        events.filter(pl.col("event_type") != "impression")
        .group_by("request_id", "position")
        .agg(weights.sum().alias("reward"))
    )
    return (
        events.filter(pl.col("event_type") == "impression")
        .join(rewards, on=["request_id", "position"], how="left")
        .with_columns(
            pl.col("reward").fill_null(0.0),
            pl.col("item_id").replace_strict(item_index, return_dtype=pl.Int64).alias("item"),
        )
        .select("request_id", "item", "position", "propensity", "reward")
    )


def reward_model(first_day: pl.DataFrame, n_items: int, slate_size: int) -> np.ndarray:
    """(n_items, K) q_hat(a, k): the first day's mean reward of item a at slot k, shrunk to the slot mean."""
    q = np.zeros((n_items, slate_size))
    for k in range(slate_size):
        at = first_day.filter(pl.col("position") == k)
        sums = np.bincount(at["item"].to_numpy(), weights=at["reward"].to_numpy(), minlength=n_items)
        counts = np.bincount(at["item"].to_numpy(), minlength=n_items)
        q[:, k] = (sums + REWARD_PRIOR * at["reward"].mean()) / (counts + REWARD_PRIOR)
    return q


def one_seed(seed: int, users: int, items: int, workdir: Path) -> list[dict]:
    sim = dataclasses.replace(SimConfig(), seed=seed, n_users=users, n_items=items, n_days=2)
    first, test_day = write_logs(sim, workdir / "raw", workdir / "truth")
    simulator = Simulator(sim)
    index = {item_id: i for i, item_id in enumerate(simulator.item_ids)}
    test = day_decisions(test_day, index)
    q_hat = reward_model(day_decisions(first, index), items, sim.slate_size)
    requests, request_row = np.unique(test["request_id"].to_numpy(), return_inverse=True)
    rewards = simulator.expected_rewards(workdir / "truth", requests)  # (R, I, K)
    item, slot = test["item"].to_numpy(), test["position"].to_numpy()
    rows = np.arange(len(test))
    reward, pscore = test["reward"].to_numpy(), test["propensity"].to_numpy()

    truth = pl.read_parquet(workdir / "truth" / "decisions.parquet")
    incumbent_truth = float(test.join(truth, on=["request_id", "position"])["logging_value"].mean())
    ones = np.ones(len(test))
    on_policy = estimate("snips", reward=reward, pscore=ones, action_prob=ones, n_bootstrap=1)
    incumbent = PolicyEstimate("logging", "on-policy", on_policy.value, on_policy.std_err, incumbent_truth)

    oracle = np.exp((rewards[:, :, 0] - rewards[:, :, 0].max(axis=1, keepdims=True)) / ORACLE_TEMPERATURE)
    oracle /= oracle.sum(axis=1, keepdims=True)
    out = []
    for weight in LAMBDAS:
        probs = weight * oracle + (1 - weight) / items  # (R, I)
        marginals = plackett_luce_marginals(probs, sim.slate_size)[request_row]  # (B, I, K)
        at_slot = marginals[rows, :, slot]  # (B, I) pi(. | x_i, k_i)
        true_value = float((at_slot * rewards[request_row, :, slot]).sum(axis=1).mean())
        dr = estimate(
            "dr",
            reward=reward,
            pscore=pscore,
            action_prob=at_slot[rows, item],
            q_logged=q_hat[item, slot],
            q_policy=(at_slot * q_hat[:, slot].T).sum(axis=1),
            lambda_=100.0,
            n_bootstrap=1,
        )
        candidate = PolicyEstimate(f"mix-{weight:g}", "dr-clip100", dr.value, dr.std_err, true_value)
        for margin in MARGINS:
            decision = decide(candidate, incumbent, margin, alpha=0.05)
            out.append(
                {
                    "seed": seed,
                    "lambda": weight,
                    "margin": margin,
                    "true_value": true_value,
                    "incumbent_true_value": incumbent_truth,
                    "dr": dr.value,
                    "dr_std_err": dr.std_err,
                    "lower_bound": decision.lower_bound,
                    "incumbent_estimate": incumbent.value,
                    "deploy": decision.deploy,
                }
            )
    return out


def summarise(rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(rows).with_columns(
        (pl.col("true_value") - pl.col("incumbent_true_value")).alias("gain")
    )
    frame = frame.with_columns((pl.col("gain").abs() < NEAR).alias("near"))
    worse, better = pl.col("gain") < 0, pl.col("gain") > 0
    return (
        frame.group_by("margin")
        .agg(
            worse.sum().alias("n_worse"),
            (pl.col("deploy") & worse).sum().alias("worse_deployed"),
            ((pl.col("deploy") & worse).sum() / worse.sum()).alias("worse_deploy_rate"),
            (worse & pl.col("near")).sum().alias("n_near_worse"),
            ((pl.col("deploy") & worse & pl.col("near")).sum() / (worse & pl.col("near")).sum()).alias(
                "near_worse_deploy_rate"
            ),
            better.sum().alias("n_better"),
            ((~pl.col("deploy") & better).sum() / better.sum()).alias("missed_improvement_rate"),
            (better & pl.col("near")).sum().alias("n_near_better"),
            ((~pl.col("deploy") & better & pl.col("near")).sum() / (better & pl.col("near")).sum()).alias(
                "near_missed_rate"
            ),
            pl.col("seed").n_unique().alias("seeds"),
        )
        .sort("margin")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[dict] = []
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory() as workdir:
            rows += one_seed(seed, args.users, args.items, Path(workdir))
        table = summarise(rows)  # written after every seed, so a long run leaves its partial result
        by_lambda = (
            pl.DataFrame(rows)
            .filter(pl.col("margin") == 0)
            .group_by("lambda")
            .agg(
                pl.col("true_value").mean(),
                pl.col("incumbent_true_value").mean(),
                pl.col("dr").mean(),
                pl.col("dr_std_err").mean(),
                pl.col("deploy").mean().alias("deploy_rate"),
            )
            .sort("lambda")
        )
        result = {
            "benchmark": "gate",
            "seeds_done": seed,
            "seeds": args.seeds,
            "users": args.users,
            "items": args.items,
            "alpha": 0.05,
            "lambdas": list(LAMBDAS),
            "near": NEAR,
            "wall_s": round(time.perf_counter() - started, 1),
            "summary": table.to_dicts(),
            "by_lambda_margin_0": by_lambda.to_dicts(),
        }
        RESULTS.write_text(json.dumps(result, indent=2))
    with pl.Config(tbl_rows=100, float_precision=4, tbl_width_chars=200, tbl_cols=-1):
        print(table)
        print(by_lambda)
    print(json.dumps({k: v for k, v in result.items() if k not in ("summary", "by_lambda_margin_0")}))


if __name__ == "__main__":
    main()
