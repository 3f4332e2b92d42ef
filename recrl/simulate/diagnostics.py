"""What a simulated world is like, measured from its logs and hidden truth (``docs/scenarios.md``).

* ``reference_values``: true expected reward per impression of the uniform policy, the logging policy
  and the oracle on the logged decisions (the yardsticks every learned policy sits between);
* ``sequential_signal``: how much the last click tells about the next one, oracle-free:
  the click-through rate of shown items in the category of the user's last click over that of other
  shown items (conditional on being shown, so the logger's exposure does not inflate it), and the true
  value of a "last clicked category" heuristic over plain popularity on the same decisions; and,
  from the hidden truth, ``history_logit_share``: the share of the across-item variance of the
  attraction logit that comes from the short-term term history_weight <h, e_a> rather than from the
  long-term taste <u, e_a>, over requests that follow a click (how much of what a user wants *now* is
  set by recent clicks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recrl.config import SimConfig
from recrl.simulate.logging_policy import NO_CATEGORY, position_marginals
from recrl.simulate.truth import Simulator
from recrl.simulate.world import World

HEURISTIC_BONUS = 3.0
"""Logit bonus of the last clicked category in the oracle-free heuristic of ``sequential_signal``."""


def read_events(raw_dir: Path) -> pl.DataFrame:
    """Every event of ``raw_dir/events-*.csv`` with ts parsed (UTC), in time order."""
    files = sorted(Path(raw_dir).glob("events-*.csv"))
    if not files:
        raise FileNotFoundError(f"no events-*.csv under {raw_dir}")
    frame = pl.concat([pl.read_csv(f, schema_overrides={"position": pl.Int16}) for f in files])
    return frame.with_columns(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC")
    ).sort("ts")


def impressions_with_last_category(world: World, events: pl.DataFrame) -> pl.DataFrame:
    """Impressions with ``clicked`` (0/1) and ``last_category``: the category of the user's newest click
    before the request (-1 = none), the logger's context, rebuilt from the log by an as-of join."""
    category = pl.DataFrame({"item_id": world.item_ids, "category": world.item_category})
    clicks = events.filter(pl.col("event_type") == "click")
    last = (
        clicks.join(category, on="item_id")
        .select("user_id", pl.col("ts").alias("click_ts"), pl.col("category").alias("last_category"))
        .sort("click_ts")
    )
    clicked = clicks.select("request_id", "position", pl.lit(1).alias("clicked"))
    return (
        events.filter(pl.col("event_type") == "impression")
        .join(category, on="item_id")
        .sort("ts")
        .join_asof(
            last, left_on="ts", right_on="click_ts", by="user_id", strategy="backward", check_sortedness=False
        )
        .join(clicked, on=["request_id", "position"], how="left")
        .with_columns(pl.col("last_category").fill_null(NO_CATEGORY), pl.col("clicked").fill_null(0))
    )


def _request_rewards(
    simulator: Simulator,
    truth_dir: Path,
    request_ids: np.ndarray,
    reward_click: float,
    reward_purchase: float,
    chunk: int = 512,
):
    """Yield (rows, R (b, n_items, K)) over ``request_ids`` in chunks."""
    for start in range(0, len(request_ids), chunk):
        rows = slice(start, start + chunk)
        yield rows, simulator.expected_rewards(truth_dir, request_ids[rows], reward_click, reward_purchase)


def reference_values(
    config: SimConfig,
    truth_dir: Path,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
    dates: list[str] | None = None,
) -> dict[str, float]:
    """True reward per impression of 'uniform', 'logging' and 'oracle' on the logged decisions.

    ``dates`` (ISO, UTC) restricts to requests of those days (e.g. the test day); None = all.
    The uniform policy's slot marginals are 1 / n_items at every slot, so its value at a decision is
    mean_a R(x, a, k).
    """
    truth_dir = Path(truth_dir)
    requests = pl.read_parquet(truth_dir / "requests.parquet", columns=["request_id", "ts"])
    if dates is not None:
        requests = requests.filter(pl.col("ts").dt.date().cast(pl.String).is_in(dates))
    decisions = pl.read_parquet(truth_dir / "decisions.parquet").join(requests, on="request_id", how="semi")
    simulator = Simulator(config)
    ids = requests["request_id"].to_numpy()
    uniform = 0.0
    for _, rewards in _request_rewards(simulator, truth_dir, ids, reward_click, reward_purchase):
        uniform += float(rewards.mean(axis=1).sum())  # sum over requests and slots of mean_a R
    return {
        "uniform": uniform / (len(ids) * config.slate_size),
        "logging": float(decisions["logging_value"].mean()),
        "oracle": float(decisions["oracle_value"].mean()),
    }


def history_logit_share(simulator: Simulator, truth_dir: Path, request_ids: np.ndarray) -> float:
    """Mean of Var_a(w <h, e_a>) / (Var_a(w <h, e_a>) + Var_a(<u, e_a>)) over the requests that follow a
    click (h != 0), from the hidden truth."""
    world, cfg = simulator.world, simulator.config
    requests = pl.read_parquet(truth_dir / "requests.parquet")
    found = pl.DataFrame({"request_id": request_ids}).join(requests, on="request_id", how="left")
    index = {user: i for i, user in enumerate(world.user_ids)}
    users = np.array([index[u] for u in found["user_id"]])
    interest = found.select([f"h_{j}" for j in range(cfg.latent_dim)]).to_numpy()  # (B, d)
    recent = (cfg.history_weight * interest @ world.item_vectors_t).var(axis=1)  # (B,)
    taste = (world.user_taste[users] @ world.item_vectors_t).var(axis=1)  # (B,)
    clicked_before = recent > 1e-12  # requests before any click have h = 0: nothing to share
    return float(np.mean(recent[clicked_before] / (recent + taste)[clicked_before]))


def sequential_signal(
    config: SimConfig,
    raw_dir: Path,
    truth_dir: Path,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
    max_requests: int = 20_000,
) -> dict[str, float]:
    """Oracle-free statistics of how much the last click predicts the next (see the module docstring).

    Returns ``same_category_ctr_ratio`` (CTR of shown items in the last clicked category / CTR of the
    others, over impressions after a first click), ``same_category_click_share`` (share of such clicks
    in the last clicked category) and ``heuristic_lift``: true value of softmax(pop + bonus * [same
    category]) over softmax(pop), minus 1, on up to ``max_requests`` logged requests.
    """
    simulator = Simulator(config)
    world = simulator.world
    shown = impressions_with_last_category(world, read_events(raw_dir))
    after = shown.filter(pl.col("last_category") != NO_CATEGORY).with_columns(
        (pl.col("category") == pl.col("last_category")).alias("same")
    )
    ctr = after.group_by("same").agg(
        pl.col("clicked").mean().alias("ctr"), pl.col("clicked").sum().alias("n")
    )
    by_same = {row["same"]: row for row in ctr.iter_rows(named=True)}
    n_clicks = sum(row["n"] for row in by_same.values())

    contexts = shown.group_by("request_id").agg(pl.col("last_category").first()).sort("request_id")
    if contexts.height > max_requests:
        contexts = contexts.sample(max_requests, seed=0).sort("request_id")
    values = {}
    for name, bonus in (("popularity", 0.0), ("last_category", HEURISTIC_BONUS)):
        categories = np.arange(NO_CATEGORY, config.n_categories)
        same = world.item_category[None, :] == categories[:, None]  # (C + 1, n_items)
        logits = world.item_popularity[None, :] + bonus * same
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        marginals = position_marginals(probs, config.slate_size)  # (C + 1, n_items, K)
        context = contexts["last_category"].to_numpy() - NO_CATEGORY
        total = 0.0
        for rows, rewards in _request_rewards(
            simulator, Path(truth_dir), contexts["request_id"].to_numpy(), reward_click, reward_purchase
        ):
            total += float(np.einsum("bak,bak->", marginals[context[rows]], rewards))
        values[name] = total / (contexts.height * config.slate_size)
    return {
        "history_logit_share": history_logit_share(
            simulator, Path(truth_dir), contexts["request_id"].to_numpy()
        ),
        "same_category_ctr_ratio": by_same[True]["ctr"] / by_same[False]["ctr"],
        "same_category_click_share": by_same[True]["n"] / n_clicks,
        "popularity_value": values["popularity"],
        "last_category_value": values["last_category"],
        "heuristic_lift": values["last_category"] / values["popularity"] - 1.0,
    }
