"""Benchmark: every estimator with 1,000 bootstrap resamples on 10M logged rows (wall time, peak RSS).

References timed in the same process: numpy's mean of one 10M-row column (the floor of any estimate),
and the exact row-level Poisson bootstrap (``max_groups=None``) on a subsample, scaled linearly to n.
JSON to stdout and to ``bench/results/ope.json``.

    .venv/bin/python bench/ope.py [--rows 10000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from recrl.ope import ESTIMATORS, estimate_all
from recrl.ope.bootstrap import poisson_bootstrap_means


def logged_rows(n: int, n_actions: int, seed: int) -> dict[str, np.ndarray]:
    """A softmax logging policy over n_actions, a different evaluated policy, Bernoulli clicks, a noisy model."""
    rng = np.random.default_rng(seed)
    pscore = rng.dirichlet(np.ones(n_actions), size=1)[0][rng.integers(0, n_actions, n)].clip(1e-3, 1.0)
    action_prob = np.clip(pscore * rng.lognormal(0.0, 1.0, n), 0.0, 1.0)
    click_rate = rng.uniform(0.01, 0.1, n)
    reward = (rng.random(n) < click_rate).astype(np.float64)
    q_logged = np.clip(click_rate + rng.normal(0, 0.01, n), 0, 1)
    q_policy = np.clip(click_rate + rng.normal(0, 0.01, n), 0, 1)
    return {"reward": reward, "pscore": pscore, "action_prob": action_prob, "q_logged": q_logged, "q_policy": q_policy}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--reference-rows", type=int, default=250_000)
    args = parser.parse_args()

    rows = logged_rows(args.rows, 100, seed=0)
    rss_inputs = peak_rss_mib()
    start = time.perf_counter()
    floor_mean = float(np.mean(rows["reward"] * np.minimum(rows["action_prob"] / rows["pscore"], 100.0)))
    numpy_mean_s = time.perf_counter() - start

    start = time.perf_counter()
    estimates = estimate_all(list(ESTIMATORS), **rows, lambda_={"ips": 100.0, "switch-dr": 100.0, "dr-os": 100.0},
                             n_bootstrap=args.resamples, seed=0)
    all_estimators_s = time.perf_counter() - start
    rss_after = peak_rss_mib()

    sub = np.stack([rows[k][: args.reference_rows] for k in ("reward", "pscore", "q_policy")], axis=1)
    start = time.perf_counter()
    poisson_bootstrap_means(sub, args.resamples, seed=0, max_groups=None)
    exact_sub_s = time.perf_counter() - start

    result = {
        "rows": args.rows,
        "resamples": args.resamples,
        "estimators": len(estimates),
        "cpus": len(os.sched_getaffinity(0)),
        "all_estimators_wall_s": round(all_estimators_s, 2),
        "peak_rss_mib": round(rss_after, 1),
        "peak_rss_after_inputs_mib": round(rss_inputs, 1),
        "reference_numpy_mean_s": round(numpy_mean_s, 4),
        "ratio_to_numpy_mean": round(all_estimators_s / numpy_mean_s, 1),
        "reference_exact_row_bootstrap_s_scaled": round(exact_sub_s * args.rows / args.reference_rows, 1),
        "reference_exact_rows_measured": args.reference_rows,
        "speedup_vs_exact_row_bootstrap": round(exact_sub_s * args.rows / args.reference_rows / all_estimators_s, 1),
        "ips_value_check": {"ips": estimates[0].value, "numpy": floor_mean},
        "estimates": [{"estimator": e.estimator, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high,
                       "ess": e.ess} for e in estimates],
    }
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).resolve().parent / "results" / "ope.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
