"""Simulator benchmark: default-scale write time and memory, and the honesty numbers of one seed.

Reference run, same process: the same logging policy rolled out request by request through
``EcommerceEnv`` (``online_value``), so the lockstep writer's throughput is a ratio against it.
Writes JSON to stdout and to ``bench/results/simulate.json``.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from recrl.config import SimConfig
from recrl.simulate import LoggingPolicy, Simulator, online_value, true_value, write_logs


def main() -> dict:
    config = SimConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        write_logs(config, root / "raw", root / "truth")
        write_s = time.perf_counter() - start
        events = pl.read_csv(
            root / "raw" / "events-*.csv", columns=["event_type", "session_id", "request_id"]
        )
        counts = dict(events["event_type"].value_counts().iter_rows())
        decisions = pl.read_parquet(root / "truth" / "decisions.parquet")
        sim = Simulator(config)
        sample = decisions.sample(20_000, seed=0)
        rewards = sim.expected_rewards(root / "truth", sample["request_id"].to_numpy())
        uniform = float(
            true_value(
                rewards,
                np.full_like(rewards, 1 / config.n_items),
                sample["position"].to_numpy().astype(np.int64),
            ).mean()
        )
        n_sessions = events["session_id"].n_unique()
        n_requests = events["request_id"].n_unique()

    policy = LoggingPolicy(sim.world)
    ref_sessions = 1000
    start = time.perf_counter()
    online = online_value(policy, config, n_sessions=ref_sessions, seed=1)
    env_s = time.perf_counter() - start
    env_impressions = online[1] / online[0] * ref_sessions  # reward/session / reward/impression

    logging_value, oracle_value = (
        float(decisions["logging_value"].mean()),
        float(decisions["oracle_value"].mean()),
    )
    writer_rate = counts["impression"] / write_s
    env_rate = env_impressions / env_s
    result = {
        "config": {
            "n_users": config.n_users,
            "n_items": config.n_items,
            "n_days": config.n_days,
            "seed": config.seed,
        },
        "write_seconds": round(write_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sessions": n_sessions,
        "requests": n_requests,
        "impressions": counts["impression"],
        "click_rate": counts.get("click", 0) / counts["impression"],
        "purchase_rate": counts.get("purchase", 0) / counts["impression"],
        "value_per_impression": {"uniform": uniform, "logging": logging_value, "oracle": oracle_value},
        "logging_over_uniform": logging_value / uniform,
        "oracle_over_logging": oracle_value / logging_value,
        "online_logging": {"per_impression": online[0], "per_session": online[1], "sessions": ref_sessions},
        "impressions_per_second": {
            "writer_lockstep": writer_rate,
            "reference_env_rollout": env_rate,
            "ratio": writer_rate / env_rate,
        },
    }
    return result


if __name__ == "__main__":
    result = main()
    text = json.dumps(result, indent=2)
    print(text)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "simulate.json").write_text(text + "\n")
