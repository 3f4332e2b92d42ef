"""The closed loop: `recrl demo` on a tiny world, the warm start, and what the loop refuses.

The slow test runs two real nights: night 1 logs the history days with the built-in logger and (with a
lenient gate, so that the tiny world's actor-critic gets through) deploys the actor-critic; night 2's
day is served by it. Its logged propensities must then be its own Plackett-Luce marginals, recomputed
by the evaluation's code from the states the states stage rebuilt.
"""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import polars as pl
import pytest
import torch

from recrl import cli
from recrl.agents.actor_critic import train
from recrl.agents.fit import _splits
from recrl.config import ConfigError, GateConfig
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.evaluate.recommend import load_policy
from recrl.lake import DataLayout
from recrl.loop.run import check_loop_config
from recrl.simulate import LOGGING_POLICY_ID
from recrl.states import load_transitions, to_arrays


def test_warm_start_begins_from_the_given_weights(tiny_pipeline) -> None:
    shape, train_split, _ = _splits(tiny_pipeline.layout, tiny_pipeline.config.states)
    agent = dataclasses.replace(tiny_pipeline.config.agent, epochs=1, warmup_epochs=1, patience=0, prior="none")
    first, _ = train(train_split.take(np.arange(512)), shape, agent)
    initial = {name: tensor.clone() for name, tensor in first.state_dict().items()}
    # A learning rate too small to move the weights: what comes out is what went in, or a fresh draw.
    still = dataclasses.replace(agent, lr=1e-12, seed=1)
    warm, _ = train(train_split.take(np.arange(512)), shape, still, initial_weights=initial)
    cold, _ = train(train_split.take(np.arange(512)), shape, still)
    name = "encoder.bert.embeddings.word_embeddings.weight"
    assert torch.allclose(warm.state_dict()[name], initial[name], atol=1e-6)
    assert not torch.allclose(cold.state_dict()[name], initial[name], atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        bad = {n: (t[:-1] if t.ndim and t.shape[0] == shape.n_items else t) for n, t in initial.items()}
        train(train_split.take(np.arange(512)), shape, still, initial_weights=bad)


def test_loop_refuses_real_logs_several_test_days_and_a_used_data_root(make_tiny_config, tmp_path) -> None:
    config = make_tiny_config(tmp_path / "data")
    logs = tmp_path / "logs.csv"
    logs.write_text("x")
    with pytest.raises(ConfigError) as error:
        check_loop_config(
            dataclasses.replace(
                config, source=str(logs), states=dataclasses.replace(config.states, test_days=2)
            )
        )
    assert [p.split(":")[0] for p in error.value.problems] == ["source", "states.test_days"]
    (tmp_path / "data" / "raw" / "sim").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "sim" / "events-2026-11-01.csv").write_text("")
    with pytest.raises(ValueError, match="fresh data root"):
        check_loop_config(config)


@pytest.mark.slow
def test_demo_two_nights_deploys_and_serves_with_its_own_propensities(
    make_tiny_config, tmp_path, capsys
) -> None:
    config = dataclasses.replace(make_tiny_config(tmp_path / "unused"), gate=GateConfig(alpha=0.45))
    config_file = tmp_path / "loop.json"
    config_file.write_text(config.to_json())
    data = tmp_path / "data"
    assert cli.main(["demo", "--nights", "2", "--config", str(config_file), "--data", str(data)]) == 0
    assert "night-1/actor-critic" in capsys.readouterr().out  # the summary table is printed
    layout = DataLayout(data)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        summary = con.sql("SELECT * FROM nightly_summary ORDER BY night").pl()
        deployments = con.sql("SELECT * FROM deployments ORDER BY run_id").pl()
        served_truth = con.execute(
            "SELECT run_id, true_value FROM policies WHERE policy = 'logging' ORDER BY run_id"
        ).fetchall()
    assert summary["night"].to_list() == [1, 2]
    assert summary["served_policy"].to_list() == [LOGGING_POLICY_ID, "night-1/actor-critic"]
    assert summary["decision"][0] == "deploy" and summary["deployed"][0] == "night-1/actor-critic"
    assert summary["deployed"][1] == (
        "night-2/actor-critic" if summary["decision"][1] == "deploy" else "night-1/actor-critic"
    )
    assert summary["served_true_value"].to_list() == pytest.approx([v for _, v in served_truth])
    assert summary["test_date"].cast(pl.String).to_list() == ["2026-11-04", "2026-11-05"]
    assert deployments["decision"].to_list() == summary["decision"].to_list()
    assert deployments["incumbent"].to_list() == summary["served_policy"].to_list()
    assert (deployments["candidate_lower_bound"] < deployments["candidate_estimate"]).all()
    assert all(reason.startswith("dr-clip100 lower bound") for reason in deployments["reason"])
    assert deployments["alpha"].to_list() == [0.45, 0.45]

    # Night 2's day was served by night 1's actor-critic, logging its own propensities.
    day = pl.read_csv(layout.raw / "sim" / "events-2026-11-05.csv")
    assert day.filter(pl.col("event_type") == "impression")["policy_id"].unique().to_list() == [
        "night-1/actor-critic"
    ]
    policy = load_policy(layout, "night-1", "actor-critic")
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), config.states.history_len)
    probs = decision_probs(
        score_states(policy, test.states), test.position, policy.temperature, config.sim.slate_size
    )
    # float32 logits scored in other batches differ in the last bits: 1e-4 still tells policies apart.
    np.testing.assert_allclose(test.propensity, probs[np.arange(len(test)), test.action], rtol=1e-4)
