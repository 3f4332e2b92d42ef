"""bench/quality.py: seed roles, rows read from whatever policies the evaluation returns, no leftover patch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

import recrl.evaluate.stage as stage

QUALITY = Path(__file__).resolve().parents[2] / "bench" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("bench_quality", QUALITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_roles(quality) -> None:
    assert {role for _, role in quality.parse_seeds("report")} == {"report"}
    assert {role for _, role in quality.parse_seeds("tune")} == {"tune"}
    every = quality.parse_seeds("all")
    assert [r for _, r in every] == ["tune"] * 2 + ["report"] * 3
    assert quality.parse_seeds("41,31,999") == [(41, "report"), (31, "spent"), (999, "adhoc")]


def test_policy_rows_take_any_policy_and_check_coverage(quality) -> None:
    frames = {
        "policies": pl.DataFrame(
            {
                "policy": ["new-team", "logging"],
                "kind": ["agent", "logging"],
                "temperature": [0.2, None],
                "true_value": [0.05, 0.04],
            }
        ),
        "ope_estimates": pl.DataFrame(
            {
                "policy": ["new-team", "new-team"],
                "estimator": ["dr", "ips"],
                "value": [0.06, 0.07],
                "ci_low": [0.051, 0.0],
                "ci_high": [0.07, 0.1],
            }
        ),
    }
    recorded = {"new-team": {"greedy_true_value": 0.08, "dr_unclipped": 0.055, "dr_unclipped_ci_low": 0.04,
                             "dr_unclipped_ci_high": 0.07, "max_weight": 12.0}}
    rows = {r["policy"]: r for r in quality.policy_rows(frames, recorded)}
    assert rows["new-team"]["dr"] == 0.06 and rows["new-team"]["dr_covers_truth"] is False
    assert rows["new-team"]["dr_unclipped_covers_truth"] is True
    assert rows["new-team"]["greedy_true_value"] == 0.08
    assert abs(rows["new-team"]["value_given_up"] - 0.03) < 1e-12
    assert rows["logging"]["dr"] is None and rows["logging"]["dr_covers_truth"] is None


def test_greedy_recorder_restores_the_stage(quality) -> None:
    original = stage.evaluate_policy
    with quality.greedy_truth_recorder() as greedy:
        assert stage.evaluate_policy is not original and greedy == {}
    assert stage.evaluate_policy is original


def test_unevaluable_worlds_are_named(quality) -> None:
    from recrl.simulate.scenarios import scenario

    sizes = {"n_users": 10, "n_days": 3}
    assert quality.evaluation_blocker(scenario("wide-slate"), sizes) is None  # K = 5: the exponential race
    assert "5000" in quality.evaluation_blocker(scenario("large-catalogue"), sizes)
    assert quality.evaluation_blocker(scenario("sequential"), sizes) is None


def test_summary_reads_the_team_under_each_choice_rule_only_where_its_pick_was_served(quality) -> None:
    def run(seed, values, served_under):
        policies = [{"policy": name, "kind": kind, "true_value": value, "greedy_true_value": None,
                     "value_given_up": None, "dr_covers_truth": True, "dr_unclipped_covers_truth": True}
                    for name, (kind, value) in values.items()]
        return {"scenario": "default", "seed": seed, "error": None, "policies": policies,
                "team_choice": {"served_under": served_under}}

    runs = [run(21, {"actor-critic": ("agent", 0.10), "item-knn": ("baseline", 0.08), "team": ("team", 0.09)},
                {"best score": "team", "actor-critic": "actor-critic", "actor-critic, alpha per rival": "team"}),
            run(22, {"actor-critic": ("agent", 0.12), "item-knn": ("baseline", 0.11), "team": ("team", 0.12)},
                {"best score": None, "actor-critic": "team", "actor-critic, alpha per rival": "item-knn"})]
    entry = quality.summary(runs)["scenarios"]["default"]
    assert entry["best_single"] == "actor-critic" and abs(entry["team_vs_best_single"] - (0.105 / 0.11 - 1)) < 1e-12
    by_rule = entry["team_true_value_by_rule"]
    assert set(by_rule) == {"actor-critic", "actor-critic, alpha per rival"}  # 'best score' served a fusion not run
    assert abs(by_rule["actor-critic"] - 0.11) < 1e-12 and abs(by_rule["actor-critic, alpha per rival"] - 0.10) < 1e-12
