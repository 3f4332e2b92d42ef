"""Evaluate an outside policy, given as a table of action probabilities, on logged impressions.

Logged data come from the lake (canonical schema, ``recrl.schema``): each ``impression`` row is one
decision (item a_i at 0-based position k_i, propensity p_i); its reward is 1 when a ``click`` row
carries the same request_id, item_id and position, else 0.

Policy tables (CSV), detected by their columns:

- per position, context-free: ``item_id,pos0,pos1,...`` with ``pos{k}`` = pi(item | k), e.g. the
  Open Bandit Pipeline's ``bts_policy_action_dist_all.csv``;
- per request: ``request_id,item_id,position,prob`` = pi(item | request, position); items a request
  does not list have probability 0.

Reward model: cross-fitted mean click rate per (item, position) cell, shrunk towards the global rate
(``CellMeanRegressor``): context-free like the policies it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recrl.ope.reward_model import CellMeanRegressor, cross_fitted_q


@dataclass(frozen=True)
class PolicyRows:
    """Per logged row: reward, pscore, the policy's action_prob, and the cross-fitted q arrays (all (n,))."""

    reward: np.ndarray
    pscore: np.ndarray
    action_prob: np.ndarray
    q_logged: np.ndarray
    q_policy: np.ndarray


def events_dir(path: Path) -> Path:
    """The events folder of a lake: ``path/events`` when present, else ``path`` itself."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--events: lake folder not found: {path}")
    events = path / "events" if (path / "events").is_dir() else path
    if not any(events.rglob("*.parquet")):
        raise FileNotFoundError(f"--events: no Parquet files under {events}")
    return events


def load_impressions(events: Path, policy_id: str | None = None) -> pl.DataFrame:
    """Impressions with their click reward: columns request_id, item_id, position, propensity, reward.

    Only the logging policy ``policy_id`` when given. Impressions without a propensity or position
    cannot be importance-weighted: they are an error, not silently dropped.
    """
    scan = pl.scan_parquet(str(events_dir(events) / "**" / "*.parquet"), hive_partitioning=True)
    if policy_id is not None:
        scan = scan.filter(pl.col("policy_id") == policy_id)
    keys = ["request_id", "item_id", "position"]
    clicks = scan.filter(pl.col("event_type") == "click").select(keys).unique().with_columns(reward=pl.lit(1.0))
    impressions = (
        scan.filter(pl.col("event_type") == "impression")
        .select(*keys, "propensity")
        .join(clicks, on=keys, how="left")
        .with_columns(pl.col("reward").fill_null(0.0))
        .sort(keys)
        .collect()
    )
    if impressions.height == 0:
        where = f" of policy_id {policy_id!r}" if policy_id else ""
        raise ValueError(f"--events: no impression rows{where} in {events}")
    missing = impressions.filter(pl.col("propensity").is_null() | pl.col("position").is_null() | pl.col("request_id").is_null())
    if missing.height:
        raise ValueError(f"--events: {missing.height} impressions lack propensity, position or request_id")
    return impressions


def read_policy_table(path: Path) -> tuple[str, pl.DataFrame]:
    """('per-position', item_id + pos{k} columns) or ('per-request', request_id,item_id,position,prob)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--policy-probs: file not found: {path}")
    table = pl.read_csv(path, infer_schema_length=10_000)
    columns = set(table.columns)
    if {"request_id", "item_id", "position", "prob"} <= columns:
        kind = "per-request"
        table = table.select(
            pl.col("request_id").cast(pl.String), pl.col("item_id").cast(pl.String),
            pl.col("position").cast(pl.Int64), pl.col("prob").cast(pl.Float64),
        )
        probs = table["prob"]
    elif "item_id" in columns and "pos0" in columns:
        kind = "per-position"
        n_positions = sum(1 for c in table.columns if c.startswith("pos"))
        position_columns = [f"pos{k}" for k in range(n_positions)]
        if set(position_columns) - columns:
            raise ValueError(f"--policy-probs: position columns must be pos0..pos{n_positions - 1}, got {table.columns}")
        table = table.select(pl.col("item_id").cast(pl.String), *[pl.col(c).cast(pl.Float64) for c in position_columns])
        probs = pl.concat([table[c] for c in position_columns])
    else:
        raise ValueError(
            f"--policy-probs: expected columns item_id,pos0,pos1,... or request_id,item_id,position,prob; got {table.columns}"
        )
    if probs.null_count() or not ((probs >= 0) & (probs <= 1)).all():
        raise ValueError(f"--policy-probs: probabilities must be in [0, 1] and not empty: {path}")
    return kind, table


def policy_rows(
    impressions: pl.DataFrame, kind: str, table: pl.DataFrame, n_folds: int, seed: int, prior_strength: float = 10.0
) -> PolicyRows:
    """Per-row arrays for ``recrl.ope.estimate_all`` from logged impressions and a policy table."""
    items = sorted(set(impressions["item_id"].to_list()) | set(table["item_id"].to_list()))
    item_index = {item: i for i, item in enumerate(items)}
    logged_item = np.array([item_index[i] for i in impressions["item_id"].to_list()])  # (n,)
    position = impressions["position"].to_numpy().astype(np.int64)  # (n,)
    n = impressions.height
    if kind == "per-position":
        n_positions = table.width - 1
        if position.max() >= n_positions:
            raise ValueError(f"--policy-probs: logged position {position.max()} has no pos{position.max()} column")
        dense = np.zeros((len(items), n_positions))  # (A, K) = pi(item | position)
        dense[[item_index[i] for i in table["item_id"].to_list()]] = table.drop("item_id").to_numpy()
        action_prob = dense[logged_item, position]
    else:
        keyed = impressions.with_row_index("row").join(
            table, on=["request_id", "position"], how="inner", suffix="_policy"
        )
        rows = keyed["row"].to_numpy().astype(np.int64)
        listed_item = np.array([item_index[i] for i in keyed["item_id_policy"].to_list()], dtype=np.int64)
        prob = keyed["prob"].to_numpy()
        action_prob = np.zeros(n)
        hit = listed_item == logged_item[rows]
        action_prob[rows[hit]] = prob[hit]

    def candidates(chunk: np.ndarray) -> np.ndarray:
        every_item = np.broadcast_to(np.arange(len(items)), (len(chunk), len(items)))  # (m, A)
        at_position = np.broadcast_to(position[chunk, None], every_item.shape)  # (m, A)
        return np.stack([every_item, at_position], axis=2)  # (m, A, 2)

    x_logged = np.stack([logged_item, position], axis=1)  # (n, 2)
    reward = impressions["reward"].to_numpy().astype(np.float64)
    q_logged, q_items = cross_fitted_q(
        lambda: CellMeanRegressor(prior_strength), x_logged, reward, candidates, n_folds=n_folds, seed=seed
    )  # (n,), (n, A)
    if kind == "per-position":
        q_policy = (dense[:, position].T * q_items).sum(axis=1)  # sum_a pi(a | k_i) q_hat(a, k_i)
    else:
        q_policy = np.bincount(rows, weights=prob * q_items[rows, listed_item], minlength=n)
    return PolicyRows(reward, impressions["propensity"].to_numpy().astype(np.float64), action_prob, q_logged, q_policy)
