"""Validation tuning of the baselines, their memory bound, and saving them like the agent."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recrl.baselines import (
    ItemKNNPolicy,
    SessionKNNPolicy,
    fit_baselines,
    interactions_from_transitions,
    load_baseline,
    make_criterion,
    save_baseline,
)
from recrl.baselines.tuning import BASELINES, candidate_configurations
from recrl.config import BaselineConfig
from recrl.evaluate.offpolicy import choose_temperature, score_states, simulator_truth
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.policies import slate_size_of
from recrl.simulate import Simulator, write_logs
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

TRIALS = 12


def splits(layout: DataLayout, history_len: int):
    """(train interactions, valid arrays, test arrays) as the evaluation stage reads them."""
    interactions = interactions_from_transitions(load_transitions(layout, "train"), load_vocab(layout).size)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), history_len)
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), history_len)
    return interactions, valid, test


@pytest.fixture(scope="module")
def tiny(make_tiny_config, tmp_path_factory):
    """The tiny world with 1,600 users instead of 400: with 400 the single validation day (about 2,600
    decisions at the top two slots) is too small for any selection to carry over to the test day."""
    root = tmp_path_factory.mktemp("tuning")
    config = make_tiny_config(root)
    config = dataclasses.replace(config, sim=dataclasses.replace(config.sim, n_users=1600))
    layout = DataLayout(root)
    ingest(write_logs(config.sim, layout.raw / "sim", layout.truth), "events", layout, config.ingest)
    build_states(layout, config.states)
    interactions, valid, test = splits(layout, config.states.history_len)
    baselines_config = dataclasses.replace(config.baselines, tuning_trials=TRIALS)
    untuned = fit_baselines(interactions, dataclasses.replace(baselines_config, tuning_trials=1))
    tuned = fit_baselines(interactions, baselines_config, valid=valid)
    return {
        "interactions": interactions,
        "valid": valid,
        "test": test,
        "config": config,
        "layout": layout,
        "untuned": {p.name: p for p in untuned},
        "tuned": {p.name: p for p in tuned},
    }


@pytest.mark.parametrize("k", [3, 10])
def test_item_knn_keeps_at_most_k_sparse_neighbours_per_item(tiny, k) -> None:
    for sequential in (False, True):
        policy = ItemKNNPolicy(tiny["interactions"], BaselineConfig(), neighbors=k, sequential=sequential)
        similarity = policy.similarity
        assert similarity.format == "csr"
        assert similarity.nnz <= similarity.shape[0] * k
        assert np.diff(similarity.indptr).max() <= k
        assert (similarity.diagonal() == 0).all()


def test_sequential_item_knn_is_directed(tiny) -> None:
    similarity = ItemKNNPolicy(
        tiny["interactions"], BaselineConfig(), neighbors=1000, sequential=True
    ).similarity
    assert abs(similarity - similarity.T).max() > 1e-6  # "i then j" differs from "j then i"


def test_session_knn_uses_only_the_most_recent_matching_sessions(tiny) -> None:
    interactions, states = tiny["interactions"], tiny["valid"].states.take(slice(0, 50))
    few = SessionKNNPolicy(interactions, BaselineConfig(), sample=5, neighbors=1000)
    many = SessionKNNPolicy(interactions, BaselineConfig(), sample=100_000, neighbors=1000)
    assert not np.array_equal(few.item_scores(states), many.item_scores(states))


def test_search_is_bounded_and_starts_from_the_defaults(tiny) -> None:
    config = BaselineConfig(tuning_trials=TRIALS)
    for policy_class in BASELINES:
        candidates = candidate_configurations(policy_class, tiny["interactions"], config)
        assert 1 < len(candidates) <= min(TRIALS, 20)
        assert len({json.dumps(c, sort_keys=True) for c in candidates}) == len(candidates)
        assert (
            candidates[0]
            == candidate_configurations(policy_class, tiny["interactions"], BaselineConfig(tuning_trials=1))[
                0
            ]
        )


def test_tuned_baselines_beat_their_defaults_on_valid_and_record_why(tiny) -> None:
    for name, policy in tiny["tuned"].items():
        tuning = policy.tuning
        assert tuning["criterion"] == "snips"
        assert len(tuning["trials"]) <= TRIALS
        assert tuning["trials"][0]["hyperparameters"] == tiny["untuned"][name].hyperparameters
        assert max(t["score"] for t in tuning["trials"]) >= tuning["default_score"]
        assert policy.hyperparameters == tuning["trials"][tuning["chosen"]]["hyperparameters"]
        if tuning["kept_defaults"]:  # the best was not clearly better: the defaults stay
            assert tuning["chosen"] == 0 and tuning["best_gain"] <= tuning["best_gain_std_err"]
        json.dumps(tuning)  # storable as the policy's config_json
    for name in ("item-knn", "session-knn"):
        tuning = tiny["tuned"][name].tuning
        assert not tuning["kept_defaults"] and tuning["score"] > tuning["default_score"]
        assert tuning["best_gain"] > tuning["best_gain_std_err"]


def test_tuned_knn_beats_untuned_on_the_true_value_of_the_test_day(tiny) -> None:
    config, layout, valid, test = tiny["config"], tiny["layout"], tiny["valid"], tiny["test"]
    slate_size = slate_size_of(test.position)
    truth = simulator_truth(
        Simulator(config.sim),
        layout.truth,
        load_vocab(layout),
        config.states.reward_click,
        config.states.reward_purchase,
        slate_size,
    )

    def true_value(policy) -> float:
        temperature, _ = choose_temperature(
            score_states(policy, valid.states), valid, config.baselines.temperatures, slate_size
        )
        return float(truth(test, score_states(policy, test.states), temperature).mean())

    for name in ("item-knn", "session-knn"):
        assert true_value(tiny["tuned"][name]) > true_value(tiny["untuned"][name]), name


def test_tuning_never_reads_the_test_days(tiny_pipeline, tmp_path) -> None:
    """A copy of the data whose test rewards are scrambled yields the very same choices."""
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    copy = DataLayout(tmp_path)
    shutil.copytree(layout.states, copy.states)
    for path in (copy.states / "transitions" / "split=test").rglob("*.parquet"):
        table = pq.read_table(path)
        scrambled = pc.subtract(pa.scalar(1.0), pc.fill_null(table.column("reward"), 0.0))
        table = table.set_column(table.schema.get_field_index("reward"), "reward", scrambled)
        pq.write_table(
            table.set_column(
                table.schema.get_field_index("action"),
                "action",
                pc.add(pc.bit_wise_and(table.column("action"), 7), 2),
            ),
            path,
        )
    small = dataclasses.replace(config.baselines, tuning_trials=4)
    records = []
    for root in (layout, copy):
        interactions, valid, _ = splits(root, config.states.history_len)
        records.append([p.tuning for p in fit_baselines(interactions, small, valid=valid)])
    assert records[0] == records[1]


def test_without_propensities_tuning_ranks_by_ndcg(tiny) -> None:
    valid = tiny["valid"]
    blind = dataclasses.replace(valid, propensity=np.full(len(valid), np.nan))
    config = BaselineConfig(tuning_trials=3)
    assert make_criterion(blind, config).name == "ndcg@10"
    with pytest.raises(ValueError, match="needs a logged propensity"):
        make_criterion(blind, config, criterion="snips")
    for policy in fit_baselines(tiny["interactions"], config, valid=blind, criterion="ndcg@5"):
        assert policy.tuning["criterion"] == "ndcg@5"
        assert 0.0 <= policy.tuning["score"] <= 1.0


def test_saved_baselines_reload_and_score_identically(tiny, tmp_path) -> None:
    states = tiny["test"].states.take(slice(0, 300))
    for policy in tiny["tuned"].values():
        folder = save_baseline(policy, tmp_path / policy.name)
        assert sorted(p.name for p in folder.iterdir()) == ["config.json", "params.safetensors"]
        loaded = load_baseline(folder)
        assert (type(loaded), loaded.name, loaded.temperature) == (
            type(policy),
            policy.name,
            policy.temperature,
        )
        assert loaded.hyperparameters == policy.hyperparameters and loaded.tuning == policy.tuning
        assert np.array_equal(loaded.item_scores(states), policy.item_scores(states))


def test_fit_baselines_saves_each_under_its_name(tiny, tmp_path) -> None:
    fitted = fit_baselines(tiny["interactions"], BaselineConfig(tuning_trials=1), save_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in fitted)
    states = tiny["valid"].states.take(slice(0, 100))
    for policy in fitted:
        assert np.array_equal(
            load_baseline(tmp_path / policy.name).item_scores(states), policy.item_scores(states)
        )
