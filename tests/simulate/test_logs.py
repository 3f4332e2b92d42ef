"""The written logs: canonical shape, exact propensities, honest feedback, determinism, true values."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from recrl.config import SimConfig
from recrl.policies import plackett_luce_marginals
from recrl.schema import CANONICAL_COLUMNS
from recrl.simulate import dynamics
from recrl.simulate.logging_policy import LOGGING_POLICY_ID, NO_CATEGORY, logging_probs
from recrl.simulate.logs import write_logs
from recrl.simulate.truth import Simulator, true_value
from recrl.simulate.world import build_world

TS_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def impressions_with_context(sim_logs) -> tuple[pl.DataFrame, np.ndarray]:
    """Impressions plus each request's logging context, rebuilt from the log alone.

    The context is the category of the user's newest click before the request: clicks of a request
    are stamped after its impressions and before the next request, so an as-of join recovers it.
    """
    world = build_world(sim_logs.config)
    category = pl.DataFrame({"item_id": world.item_ids, "category": world.item_category})
    events = sim_logs.events()
    clicks = (
        events.filter(pl.col("event_type") == "click")
        .join(category, on="item_id")
        .select("user_id", pl.col("ts").alias("click_ts"), "category")
        .sort("click_ts")
    )
    impressions = (
        events.filter(pl.col("event_type") == "impression")
        .sort("ts")
        .join_asof(
            clicks,
            left_on="ts",
            right_on="click_ts",
            by="user_id",
            strategy="backward",
            check_sortedness=False,
        )  # both sides are sorted by time
        .with_columns(pl.col("category").fill_null(NO_CATEGORY))
    )
    return impressions, world.item_category


def test_files_have_canonical_columns_iso_utc_and_one_file_per_day(sim_logs) -> None:
    assert [p.name for p in sim_logs.files] == [f"events-2026-11-0{d}.csv" for d in range(1, 5)]
    for path in sim_logs.files:
        header = path.read_text().split("\n", 1)[0]
        assert tuple(header.split(",")) == CANONICAL_COLUMNS
        day = path.stem.removeprefix("events-")
        frame = pl.read_csv(path, infer_schema=False)
        assert frame["ts"].str.contains(TS_PATTERN.pattern).all()
        assert frame["ts"].str.starts_with(day).all()
        assert frame["ts"].is_sorted()
    items = pl.read_csv(sim_logs.raw_dir / "items.csv")
    assert items.columns == ["item_id", "title", "category"] and items.height == sim_logs.config.n_items


def test_feedback_rows_match_their_impression(sim_logs) -> None:
    events = sim_logs.events()
    impressions = events.filter(pl.col("event_type") == "impression")
    assert impressions["policy_id"].unique().to_list() == [LOGGING_POLICY_ID]
    assert impressions.group_by("request_id").agg(pl.len(), pl.col("position").sort())[
        "len"
    ].unique().to_list() == [3]
    key = ["request_id", "item_id", "position", "session_id", "user_id"]
    for kind in ("click", "purchase"):
        feedback = events.filter(pl.col("event_type") == kind)
        assert feedback["propensity"].null_count() == feedback.height
        joined = feedback.join(impressions, on=key, how="left", suffix="_imp")
        assert joined["ts_imp"].null_count() == 0, f"{kind} rows without their impression"
        assert (joined["ts"] > joined["ts_imp"]).all()
    purchases = events.filter(pl.col("event_type") == "purchase")
    clicks = events.filter(pl.col("event_type") == "click")
    assert purchases.join(clicks, on=key, how="anti").height == 0  # purchase only after a click
    sessions = impressions.group_by("session_id").agg(pl.col("user_id").n_unique())
    assert sessions["user_id"].max() == 1


def test_logged_propensities_are_exact_plackett_luce_marginals(sim_logs) -> None:
    impressions, _ = impressions_with_context(sim_logs)
    world = build_world(sim_logs.config)
    contexts = np.arange(NO_CATEGORY, sim_logs.config.n_categories)
    marginals = plackett_luce_marginals(logging_probs(world, contexts), 3)  # (C + 1, I, K)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-12)  # each position is a distribution
    item = impressions["item_id"].str.slice(5).cast(pl.Int64).to_numpy()
    expected = marginals[
        impressions["category"].to_numpy() - NO_CATEGORY, item, impressions["position"].to_numpy()
    ]
    np.testing.assert_allclose(impressions["propensity"].to_numpy(), expected, rtol=1e-12, atol=0)


def test_shown_items_follow_their_propensities(sim_logs) -> None:
    """Per position, observed counts of items vs the sum of each request's marginal (chi-square)."""
    impressions, _ = impressions_with_context(sim_logs)
    world = build_world(sim_logs.config)
    contexts = np.arange(NO_CATEGORY, sim_logs.config.n_categories)
    marginals = plackett_luce_marginals(logging_probs(world, contexts), 3)  # (C + 1, I, K)
    for k in range(3):
        at_k = impressions.filter(pl.col("position") == k)
        n_per_context = np.bincount(at_k["category"].to_numpy() - NO_CATEGORY, minlength=len(contexts))
        expected = n_per_context @ marginals[:, :, k]  # (I,)
        observed = np.bincount(
            at_k["item_id"].str.slice(5).cast(pl.Int64).to_numpy(), minlength=world.n_items
        )
        big = expected >= 5  # pool sparse cells so the chi-square approximation holds
        obs, exp = observed[big], expected[big]
        if not big.all():
            obs, exp = np.append(obs, observed[~big].sum()), np.append(exp, expected[~big].sum())
        statistic = ((obs - exp) ** 2 / exp).sum()
        assert stats.chi2.sf(statistic, df=len(obs) - 1) > 1e-3, f"position {k}: chi2 {statistic:.1f}"


def test_click_and_purchase_rates_are_realistic(sim_logs) -> None:
    counts = sim_logs.events()["event_type"].value_counts()
    n = dict(zip(counts["event_type"], counts["count"], strict=True))
    click_rate = n["click"] / n["impression"]
    purchase_rate = n["purchase"] / n["impression"]
    assert 0.03 < click_rate < 0.15
    assert 0.005 < purchase_rate < click_rate / 2


def test_same_seed_writes_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    config = dataclasses.replace(SimConfig(), n_users=150, n_days=2, seed=5)
    runs = [tmp_path / name for name in ("a", "b", "c")]
    for root, cfg in zip(runs, (config, config, dataclasses.replace(config, seed=6)), strict=True):
        write_logs(cfg, root / "raw", root / "truth")
    names = sorted(p.relative_to(runs[0]) for p in runs[0].rglob("*") if p.is_file())
    assert len(names) == 7  # 2 event files, items, 2 truth tables, the simulator state (2)
    for name in names:
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    assert (runs[0] / "raw/events-2026-11-01.csv").read_bytes() != (
        runs[2] / "raw/events-2026-11-01.csv"
    ).read_bytes()


def test_truth_tables_recompute_from_the_simulator(sim_logs) -> None:
    decisions = pl.read_parquet(sim_logs.truth_dir / "decisions.parquet")
    requests = pl.read_parquet(sim_logs.truth_dir / "requests.parquet")
    impressions, _ = impressions_with_context(sim_logs)
    assert decisions.height == impressions.height == 3 * requests.height
    assert requests.columns[:3] == ["request_id", "user_id", "ts"]
    assert requests.columns[3:] == [f"h_{j}" for j in range(sim_logs.config.latent_dim)]

    sample = impressions.sample(2000, seed=1).join(decisions, on=["request_id", "position"])
    sim = Simulator(sim_logs.config)
    rewards = sim.expected_rewards(sim_logs.truth_dir, sample["request_id"].to_numpy(), 0.2, 1.0)  # (B, I, K)
    positions = sample["position"].to_numpy().astype(np.int64)
    contexts = sample["category"].to_numpy()
    per_context = plackett_luce_marginals(
        logging_probs(sim.world, np.arange(NO_CATEGORY, 10)), 3
    )  # (C + 1, I, K)
    logging_pos = per_context[contexts - NO_CATEGORY]  # (B, I, K)
    np.testing.assert_allclose(
        true_value(rewards, logging_pos, positions), sample["logging_value"], rtol=1e-10
    )
    oracle_pos = np.zeros_like(rewards)
    best = dynamics.oracle_slates(rewards[:, :, 0], 3)  # (B, K)
    oracle_pos[np.arange(len(best))[:, None], best, np.arange(3)[None, :]] = 1.0
    np.testing.assert_allclose(true_value(rewards, oracle_pos, positions), sample["oracle_value"], rtol=1e-10)


def test_uniform_below_logging_below_oracle_with_measurable_gaps(sim_logs) -> None:
    decisions = pl.read_parquet(sim_logs.truth_dir / "decisions.parquet").sample(5000, seed=2)
    rewards = Simulator(sim_logs.config).expected_rewards(
        sim_logs.truth_dir, decisions["request_id"].to_numpy()
    )
    uniform = true_value(
        rewards,
        np.full_like(rewards, 1 / rewards.shape[1]),
        decisions["position"].to_numpy().astype(np.int64),
    )
    logging, oracle = decisions["logging_value"].mean(), decisions["oracle_value"].mean()
    assert logging >= 1.3 * uniform.mean()
    assert oracle >= 2.0 * logging


def test_knowing_short_term_interest_beats_ignoring_it(sim_logs) -> None:
    """Oracle ranking with the true h vs the same ranking computed with h = 0 (long-term taste only)."""
    requests = pl.read_parquet(sim_logs.truth_dir / "requests.parquet").sample(3000, seed=3)
    sim = Simulator(sim_logs.config)
    rewards = sim.expected_rewards(sim_logs.truth_dir, requests["request_id"].to_numpy())[:, :, 0]  # (B, I)
    users = requests["user_id"].str.slice(5).cast(pl.Int64).to_numpy()
    blind = dynamics.slot_value(
        sim.world, users, np.zeros((len(users), sim_logs.config.latent_dim)), 0.2, 1.0
    )
    rows = np.arange(len(users))[:, None]
    with_h = rewards[rows, dynamics.oracle_slates(rewards, 3)].sum()
    without_h = rewards[rows, dynamics.oracle_slates(blind, 3)].sum()
    assert with_h > 1.05 * without_h


def test_bad_arguments_raise_clear_errors(sim_logs, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("keep me")
    with pytest.raises(ValueError, match="raw_dir"):
        write_logs(sim_logs.config, not_a_dir, tmp_path / "truth")
    assert not_a_dir.read_text() == "keep me"
    with pytest.raises(ValueError, match="start_date"):
        write_logs(
            dataclasses.replace(sim_logs.config, start_date="01/11/2026"), tmp_path / "r", tmp_path / "t"
        )
    sim = Simulator(sim_logs.config)
    with pytest.raises(ValueError, match="not in"):
        sim.expected_rewards(sim_logs.truth_dir, np.array(["r999999999"]))
    with pytest.raises(FileNotFoundError, match="requests.parquet"):
        sim.expected_rewards(tmp_path / "nowhere", np.array(["r000000001"]))
    with pytest.raises(ValueError, match="positions"):
        true_value(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="position_probs"):
        true_value(np.zeros((2, 4, 3)), np.zeros((2, 5, 3)), np.array([0, 1]))
