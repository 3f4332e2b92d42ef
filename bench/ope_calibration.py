"""Calibration of every off-policy estimator against the simulator's ground truth.

For each seed a fresh simulated world and log go through the real stages (simulate -> ingest ->
states); on its test day three target policies of increasing distance from the logging policy are
estimated by every estimator, and compared with their exact true value on the same contexts:

    near  the logging policy's own item distribution, sharpened (softmax of log beta at T = 0.7)
    mid   popularity at T = 0.3 (ignores the history the logger uses)
    far   item-kNN at T = 0.02 (near-deterministic: IPS weights explode)

Per (policy, estimator), over seeds: bias = mean(est - truth), RMSE, 95% interval coverage of the
truth (bootstrap and normal), mean ESS share. JSON to stdout and bench/results/ope_calibration.json.

    python bench/ope_calibration.py --seeds 50
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
import pyarrow as pa

from recrl.baselines import ItemKNNPolicy, PopularityPolicy, PureSVDPolicy, interactions_from_transitions
from recrl.config import EvalConfig, PipelineConfig, SimConfig, StatesConfig
from recrl.evaluate.offpolicy import (
    RewardFeatures,
    decision_probs,
    fit_reward_model,
    score_states,
    simulator_truth,
)
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.ope import estimate_all
from recrl.policies import StateBatch
from recrl.simulate import Simulator, write_logs
from recrl.simulate.logging_policy import logging_probs
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

RESULTS = Path(__file__).resolve().parent / "results" / "ope_calibration.json"


class LoggingLikePolicy:
    """log beta(a | last clicked category) over the vocabulary: the logger's own preferences."""

    def __init__(self, simulator: Simulator, vocab_ids: np.ndarray, temperature: float) -> None:
        self.world = simulator.world
        self.vocab_to_item = {item_id: i for i, item_id in enumerate(self.world.item_ids)}
        self.sim_index = np.array([self.vocab_to_item.get(v, -1) for v in vocab_ids])  # (V,)
        self.temperature, self.name = temperature, "near"

    def item_scores(self, states: StateBatch) -> np.ndarray:
        last = states.history_items[:, -1]  # (B,) newest history item; 0 = none
        last_sim = np.where(last > 1, self.sim_index[last], -1)
        category = np.where(last_sim >= 0, self.world.item_category[np.maximum(last_sim, 0)], -1)
        beta = logging_probs(self.world, category)  # (B, n_items)
        scores = np.full((len(states), len(self.sim_index)), -np.inf)
        known = self.sim_index >= 0
        scores[:, known] = np.log(beta[:, self.sim_index[known]])
        return scores


def one_seed(seed: int, users: int, items: int, days: int, workdir: Path, eval_config: EvalConfig) -> list[dict]:
    sim = dataclasses.replace(SimConfig(), seed=seed, n_users=users, n_items=items, n_days=days)
    config = PipelineConfig(data_root=str(workdir), sim=sim, states=StatesConfig(), eval=eval_config)
    layout = DataLayout(workdir)
    ingest(write_logs(sim, layout.raw, layout.truth), "events", layout, config.ingest)
    build_states(layout, config.states)
    vocab = load_vocab(layout)
    test = to_arrays(load_transitions(layout, "test"), config.states.history_len)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    popularity = PopularityPolicy(interactions)
    item_knn = ItemKNNPolicy(interactions, config.baselines)
    features = RewardFeatures(popularity, item_knn, PureSVDPolicy(interactions, config.baselines), sim.slate_size)
    earlier = to_arrays(pa.concat_tables([load_transitions(layout, split, kind="bandit") for split in ("train", "valid")]),
                        config.states.history_len)
    q_logged, q_candidates = fit_reward_model(features, test, eval_config, earlier)
    simulator = Simulator(sim)
    truth = simulator_truth(simulator, layout.truth, vocab, config.states.reward_click,
                            config.states.reward_purchase, sim.slate_size)
    targets = [(LoggingLikePolicy(simulator, vocab.item_ids, 0.7), 0.7), (popularity, 0.3), (item_knn, 0.02)]
    rows = []
    for (policy, temperature), name in zip(targets, ("near", "mid", "far"), strict=True):
        scores = score_states(policy, test.states)
        probs = decision_probs(scores, test.position, temperature, sim.slate_size)  # (B, V)
        true_value = float(truth(test, scores, temperature).mean())
        estimates = estimate_all(
            eval_config.estimators, reward=test.reward, pscore=test.propensity,
            action_prob=probs[np.arange(len(test)), test.action], q_logged=q_logged,
            q_policy=(probs * q_candidates).sum(axis=1), lambda_=eval_config.clip_lambda,
            alpha=eval_config.alpha, n_bootstrap=eval_config.n_bootstrap, seed=seed,
        )
        for e in estimates:
            rows.append({"seed": seed, "policy": name, "estimator": e.estimator, "value": e.value,
                         "truth": true_value, "ci_low": e.ci_low, "ci_high": e.ci_high,
                         "normal_ci_low": e.normal_ci_low, "normal_ci_high": e.normal_ci_high,
                         "ess_share": e.ess / e.n, "max_weight": e.max_weight})
    return rows


def summarise(rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(rows).with_columns((pl.col("value") - pl.col("truth")).alias("error"))
    return (
        frame.group_by("policy", "estimator")
        .agg(
            pl.col("truth").mean().alias("mean_truth"),
            pl.col("error").mean().alias("bias"),
            (pl.col("error") ** 2).mean().sqrt().alias("rmse"),
            ((pl.col("ci_low") <= pl.col("truth")) & (pl.col("truth") <= pl.col("ci_high"))).mean().alias("coverage"),
            ((pl.col("normal_ci_low") <= pl.col("truth")) & (pl.col("truth") <= pl.col("normal_ci_high")))
            .mean().alias("coverage_normal"),
            pl.col("ess_share").mean().alias("ess_share"),
            pl.len().alias("seeds"),
        )
        .sort("policy", "estimator")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--n-bootstrap", type=int, default=300)
    args = parser.parse_args()
    eval_config = dataclasses.replace(EvalConfig(), n_bootstrap=args.n_bootstrap, reward_model_folds=3)
    started = time.perf_counter()
    rows: list[dict] = []
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(1, args.seeds + 1):
        with tempfile.TemporaryDirectory() as workdir:
            rows += one_seed(seed, args.users, args.items, args.days, Path(workdir), eval_config)
        table = summarise(rows)  # written after every seed, so a long run leaves its partial result
        result = {
            "benchmark": "ope_calibration", "seeds_done": seed, "seeds": args.seeds, "users": args.users,
            "items": args.items, "days": args.days, "n_bootstrap": args.n_bootstrap,
            "wall_s": round(time.perf_counter() - started, 1), "summary": table.to_dicts(),
        }
        RESULTS.write_text(json.dumps(result, indent=2))
    with pl.Config(tbl_rows=100, float_precision=4, tbl_width_chars=160):
        print(table)
    print(json.dumps({k: v for k, v in result.items() if k != "summary"}))


if __name__ == "__main__":
    main()
