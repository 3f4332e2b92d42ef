"""The gymnasium environment, Plackett-Luce sampling, online rollouts and the CLI."""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from gymnasium.utils.env_checker import check_env

from recrl.config import SimConfig
from recrl.policies import plackett_luce_marginals
from recrl.schema import HISTORY_TYPE_CODE
from recrl.simulate import cli, dynamics
from recrl.simulate.env import EcommerceEnv
from recrl.simulate.logging_policy import LoggingPolicy, logging_probs, sample_slates
from recrl.simulate.truth import online_value
from recrl.simulate.world import build_world

CONFIG = dataclasses.replace(SimConfig(), n_users=300, seed=21)


def test_env_passes_the_gymnasium_checker_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(EcommerceEnv(CONFIG), skip_render_check=True)


def test_same_seed_same_episode() -> None:
    def episode(seed: int) -> list[tuple]:
        env = EcommerceEnv(CONFIG)
        env.reset(seed=seed)
        steps = []
        for t in range(30):
            obs, reward, terminated, truncated, info = env.step(np.array([t, t + 1, t + 2]))
            steps.append(
                (info["user_id"], obs["items"].tolist(), reward, terminated, info["clicks"].tolist())
            )
            if terminated or truncated:
                break
        return steps

    assert [episode(s) for s in range(4)] == [episode(s) for s in range(4)]
    assert [episode(s) for s in range(4)] != [episode(s) for s in range(4, 8)]


def test_observation_and_info_record_the_users_feedback() -> None:
    env = EcommerceEnv(CONFIG, history_len=5)
    obs, info = env.reset(seed=0, options={"user": 7})
    assert info["user_id"] == "user_0007" and not obs["items"].any()
    world = env.world
    history: list[tuple[int, int]] = []
    interest = np.zeros((1, CONFIG.latent_dim))
    for _ in range(200):  # show the user's best items until something is clicked
        slate = dynamics.oracle_slates(dynamics.slot_value(world, np.array([7]), interest, 0.2, 1.0), 3)[0]
        expected = dynamics.expected_rewards(world, np.array([7]), interest, 0.2, 1.0)[0, slate, [0, 1, 2]]
        obs, reward, terminated, _, info = env.step(slate)
        np.testing.assert_allclose(info["expected_reward"], expected, rtol=1e-12)
        assert reward == pytest.approx(0.2 * info["clicks"].sum() + 1.0 * info["purchases"].sum())
        history += [(int(slate[k]) + 1, HISTORY_TYPE_CODE["click"]) for k in np.flatnonzero(info["clicks"])]
        history += [
            (int(slate[k]) + 1, HISTORY_TYPE_CODE["purchase"]) for k in np.flatnonzero(info["purchases"])
        ]
        interest = dynamics.update_interest(world, interest, slate[None, :], info["clicks"][None, :])
        recent = history[-5:]
        padding = 5 - len(recent)
        assert obs["items"].tolist() == [0] * padding + [item for item, _ in recent]
        assert obs["types"].tolist() == [0] * padding + [code for _, code in recent]
        if terminated:
            env.reset(seed=1, options={"user": 7, "interest": interest[0]})
            history = []
        if len(history) >= 5:
            break
    assert len(history) >= 5


@pytest.mark.parametrize(
    "action",
    [
        np.array([1, 1, 2]),
        np.array([0, 1, 200]),
        np.array([0, 1]),
        np.array([0.0, 1.0, 2.0]),
        np.array([-1, 2, 3]),
    ],
)
def test_invalid_slates_are_rejected(action: np.ndarray) -> None:
    env = EcommerceEnv(CONFIG)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


def test_plackett_luce_sampler_matches_exact_marginals() -> None:
    """A peaked distribution, where positions differ a lot: 4-sigma bound on every (item, position)."""
    probs = np.array([[0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02]])
    n = 60_000
    slates = sample_slates(np.random.default_rng(9), np.repeat(probs, n, axis=0), 3)  # (n, 3)
    assert all(len(set(s)) == 3 for s in slates[:1000])
    exact = plackett_luce_marginals(probs, 3)[0]  # (7, 3)
    observed = np.stack([np.bincount(slates[:, k], minlength=7) / n for k in range(3)], axis=1)
    assert np.all(np.abs(observed - exact) < 4 * np.sqrt(exact * (1 - exact) / n) + 1e-9)


def test_online_values_rank_uniform_popularity_and_history_aware_logging() -> None:
    world = build_world(CONFIG)
    logging_policy = LoggingPolicy(world)

    def uniform(items: list[list[str]], types: list[list[int]]) -> np.ndarray:
        return np.full((len(items), world.n_items), 1 / world.n_items)

    def popularity_only(items: list[list[str]], types: list[list[int]]) -> np.ndarray:
        return logging_probs(world, np.full(len(items), -1))

    values = {
        name: online_value(fn, CONFIG, n_sessions=400, seed=3)
        for name, fn in (("uniform", uniform), ("popularity", popularity_only), ("logging", logging_policy))
    }
    per_impression = {name: v[0] for name, v in values.items()}
    assert per_impression["popularity"] > 1.3 * per_impression["uniform"]
    assert per_impression["logging"] > 1.5 * per_impression["popularity"]  # the history bonus pays
    assert values["logging"][1] > values["popularity"][1]  # per session too
    assert online_value(logging_policy, CONFIG, n_sessions=50, seed=3) == online_value(
        logging_policy, CONFIG, n_sessions=50, seed=3
    )


def test_online_value_rejects_bad_policies() -> None:
    with pytest.raises(ValueError, match="policy_fn"):
        online_value(lambda items, types: np.ones((len(items), 5)), CONFIG, n_sessions=3, seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        online_value(lambda items, types: np.ones((len(items), CONFIG.n_items)), CONFIG, n_sessions=3, seed=0)
    with pytest.raises(ValueError, match="n_sessions"):
        online_value(lambda items, types: None, CONFIG, n_sessions=0, seed=0)


def test_cli_writes_raw_and_truth(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate", "--out", str(tmp_path / "root"), "--days", "3", "--users", "60", "--seed", "4"]
    )
    assert args.func(args) == 0
    assert sorted(p.name for p in (tmp_path / "root/raw/sim").iterdir()) == [
        "events-2026-11-01.csv",
        "events-2026-11-02.csv",
        "events-2026-11-03.csv",
        "items.csv",
    ]
    assert sorted(p.name for p in (tmp_path / "root/truth").iterdir()) == [
        "decisions.parquet",
        "requests.parquet",
        "sim_state.json",
        "sim_state.safetensors",
    ]
    args = parser.parse_args(["simulate", "--out", str(tmp_path), "--users", "0"])
    with pytest.raises(ValueError, match="sim.n_users: must be at least 1, got '0'"):
        args.func(args)
    (tmp_path / "file").write_text("x")
    args = parser.parse_args(["simulate", "--out", str(tmp_path / "file")])
    with pytest.raises(ValueError, match="data_root: is an existing file"):
        args.func(args)


def test_cli_writes_a_named_scenario(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate", "--out", str(tmp_path), "--days", "3", "--users", "40", "--scenario", "wide-slate"]
    )
    assert args.func(args) == 0
    events = pl.read_csv(tmp_path / "raw" / "sim" / "events-2026-11-01.csv")
    assert events["position"].max() == 4
