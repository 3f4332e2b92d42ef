"""Named scenarios: each builds and logs, its propensities are exact, and its structural claim holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recrl.config import SimConfig
from recrl.policies import plackett_luce_marginals
from recrl.simulate.diagnostics import impressions_with_last_category, read_events, sequential_signal
from recrl.simulate.logging_policy import NO_CATEGORY, LoggingPolicy, sample_slates
from recrl.simulate.logs import write_logs
from recrl.simulate.scenarios import SCENARIOS, Scenario, scenario
from recrl.simulate.world import build_world

TINY = {"n_users": 80, "n_days": 1}


@pytest.fixture(scope="module")
def tiny_logs(tmp_path_factory: pytest.TempPathFactory):
    """One tiny day of every scenario (large-catalogue included: its 5,000-item marginals take seconds)."""
    out = {}
    for name, sc in SCENARIOS.items():
        root = tmp_path_factory.mktemp(name)
        config = sc.sim_config(seed=5, **TINY)
        files = write_logs(config, root / "raw", root / "truth", sc.reward_click, sc.reward_purchase)
        out[name] = (config, root, files)
    return out


def test_the_required_scenarios_exist() -> None:
    wanted = {
        "default",
        "popularity-logger",
        "sequential",
        "long-term",
        "large-catalogue",
        "purchase-heavy",
        "wide-slate",
        "cold-start",
    }
    assert wanted <= set(SCENARIOS)
    assert scenario("large-catalogue").sim_config(1).n_items == 5000
    assert scenario("wide-slate").sim_config(1).slate_size >= 5
    assert scenario("default").sim_config(3) == SimConfig(seed=3)


def test_scenarios_refuse_bad_overrides_and_size_clashes() -> None:
    with pytest.raises(ValueError, match="n_itemz"):
        Scenario("bad", "", {"n_itemz": 3})
    with pytest.raises(ValueError, match="seed"):
        Scenario("bad", "", {"seed": 3})
    with pytest.raises(ValueError, match="n_items"):
        scenario("large-catalogue").sim_config(1, n_items=10)
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario("nope")


def test_pipeline_config_carries_the_reward_weights(tmp_path: Path) -> None:
    config = scenario("purchase-heavy").pipeline_config(4, tmp_path, {"n_users": 50})
    assert (config.states.reward_click, config.states.reward_purchase) == (0.05, 1.0)
    assert config.sim.n_users == 50 and config.sim.seed == 4 and config.source == "simulator"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_logs_exact_propensities(tiny_logs, name: str) -> None:
    config, root, files = tiny_logs[name]
    assert len(files) == 1
    world = build_world(config)
    assert pl.read_csv(root / "raw" / "items.csv").height == config.n_items
    shown = impressions_with_last_category(world, read_events(root / "raw"))
    assert shown.height > 0 and shown["position"].max() == config.slate_size - 1
    # Every slate is full and holds distinct items.
    per_request = shown.group_by("request_id").agg(pl.len(), pl.col("item_id").n_unique().alias("distinct"))
    assert (per_request["len"] == config.slate_size).all() and (
        per_request["distinct"] == config.slate_size
    ).all()
    # The logged propensity is the logger's exact position marginal in the request's context.
    policy = LoggingPolicy(world)
    marginals = policy.position_marginals(shown["last_category"].to_numpy())  # (B, n_items, K)
    index = {item: i for i, item in enumerate(world.item_ids)}
    items = np.array([index[i] for i in shown["item_id"]])
    expected = marginals[np.arange(shown.height), items, shown["position"].to_numpy()]
    np.testing.assert_allclose(shown["propensity"].to_numpy(), expected, rtol=1e-9)
    # Marginals of every context: each slot sums to 1, each item's slots to at most 1.
    every = policy.position_marginals(np.arange(NO_CATEGORY, config.n_categories))
    np.testing.assert_allclose(every.sum(axis=1), 1.0, atol=1e-9)
    assert every.sum(axis=2).max() <= 1.0 + 1e-9


def test_popularity_logger_ignores_history(tiny_logs) -> None:
    config, root, _ = tiny_logs["popularity-logger"]
    policy = LoggingPolicy(build_world(config))
    probs = policy.probs(np.arange(NO_CATEGORY, config.n_categories))
    np.testing.assert_array_equal(probs, np.broadcast_to(probs[0], probs.shape))
    shown = read_events(root / "raw").filter(pl.col("event_type") == "impression")
    assert shown.group_by("item_id", "position").agg(pl.col("propensity").n_unique())["propensity"].max() == 1
    # ... while the default logger's propensities do depend on the last clicked category.
    default = LoggingPolicy(build_world(tiny_logs["default"][0])).probs(np.array([NO_CATEGORY, 0]))
    assert not np.allclose(default[0], default[1])


@pytest.fixture(scope="module")
def small_signals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    out = {}
    for name in ("sequential", "long-term", "default"):
        root = tmp_path_factory.mktemp(f"signal-{name}")
        config = scenario(name).sim_config(seed=9, n_users=300, n_days=2)
        write_logs(config, root / "raw", root / "truth")
        out[name] = sequential_signal(config, root / "raw", root / "truth", max_requests=2000)
    return out


def test_sequential_world_has_a_much_stronger_last_click_signal(small_signals) -> None:
    seq, long_term, default = (small_signals[n] for n in ("sequential", "long-term", "default"))
    # Measured (seed 9, 300 users, 2 days): history share of the logit 0.84 / 0.54 / 0.001 (sequential /
    # default / long-term); CTR ratio 8.7 / 9.8 / 4.0; heuristic lift 1.8 / 1.6 / 0.3.
    assert (
        seq["history_logit_share"]
        > 0.7
        > default["history_logit_share"] + 0.1
        > 0.1
        > long_term["history_logit_share"]
    )
    assert seq["same_category_ctr_ratio"] > 1.5 * long_term["same_category_ctr_ratio"]
    assert seq["heuristic_lift"] > 1.0 > 0.6 > long_term["heuristic_lift"]


def test_purchase_heavy_buys_far_more_after_a_click(tiny_logs) -> None:
    def buy_rate(name: str) -> float:
        events = read_events(tiny_logs[name][1] / "raw")
        counts = events["event_type"].value_counts()
        n = dict(zip(counts["event_type"], counts["count"], strict=True))
        return n.get("purchase", 0) / n["click"]

    assert buy_rate("purchase-heavy") > 0.6 > 0.4 > buy_rate("default")


def test_cold_start_items_appear_on_the_last_day_only(tmp_path: Path) -> None:
    config = scenario("cold-start").sim_config(seed=5, n_users=150, n_days=2)
    write_logs(config, tmp_path / "raw", tmp_path / "truth")
    world = build_world(config)
    new = set(world.item_ids[config.n_items - config.cold_start_items :])
    assert new <= set(pl.read_csv(tmp_path / "raw" / "items.csv")["item_id"])
    events = read_events(tmp_path / "raw")
    shown = events.filter(pl.col("event_type") == "impression")
    day = shown["ts"].dt.date()
    assert not set(shown.filter(day == day.min())["item_id"]) & new
    assert len(set(shown.filter(day == day.max())["item_id"]) & new) >= 10
    # First-day propensities are the marginals of the policy restricted to the old items.
    first = impressions_with_last_category(world, events.filter(pl.col("ts").dt.date() == day.min()))
    old = np.arange(config.n_items) < config.n_items - config.cold_start_items
    marginals = LoggingPolicy(world, old).position_marginals(first["last_category"].to_numpy())
    items = np.array([world.item_ids.index(i) for i in first["item_id"]])
    expected = marginals[np.arange(first.height), items, first["position"].to_numpy()]
    np.testing.assert_allclose(first["propensity"].to_numpy(), expected, rtol=1e-9)


def test_wide_slate_marginals_match_sampled_slates() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(20))[None, :]
    marginals = plackett_luce_marginals(probs, 5)[0]  # (20, 5)
    n = 40_000
    slates = sample_slates(rng, np.repeat(probs, n, axis=0), 5)  # (n, 5)
    freq = np.stack([np.bincount(slates[:, k], minlength=20) / n for k in range(5)], axis=1)
    # Binomial standard error at n = 40,000 is at most 0.0025; 5 sigma.
    assert np.abs(freq - marginals).max() < 0.0125
