"""The shared training loop: same seed same weights, resume = straight, early stopping, TensorBoard optional."""

from __future__ import annotations

import builtins
import dataclasses
import json

import numpy as np
import pytest
import torch

from recrl.agents import training
from recrl.agents.actor_critic import train
from recrl.agents.networks import NetworkShape
from recrl.agents.sequential import train_sequential
from recrl.agents.training import STATE_META_FILE, TENSORBOARD_DIR, VALIDATION_METRIC, run_training
from recrl.config import AgentConfig, SequentialConfig
from recrl.policies import StateBatch
from recrl.states.export import TransitionArrays

SMALL_AGENT = AgentConfig(hidden_size=16, intermediate_size=32, num_layers=1, epochs=2, warmup_epochs=1,
                          batch_size=64, patience=0, device="cpu", prior="none")
SMALL_SEQUENTIAL = SequentialConfig(hidden_size=16, intermediate_size=32, num_layers=1, epochs=2, batch_size=64,
                                    patience=0, lr=5e-3, device="cpu")
N_ITEMS = 14


def chain_transitions(n: int, seed: int) -> TransitionArrays:
    """Slot-0 bandit decisions whose clicked item is the one after the last history item (about half
    the logged items are that one), with logged propensities and dropout-sensitive BERT inputs."""
    rng = np.random.default_rng(seed)
    history = rng.integers(2, N_ITEMS, (n, 10))
    types = np.ones((n, 10), dtype=np.int64)
    follows = 2 + (history[:, -1] - 1) % (N_ITEMS - 2)
    action = np.where(rng.random(n) < 0.5, follows, rng.integers(2, N_ITEMS, n))
    reward = (action == follows).astype(np.float64)
    states = StateBatch(history, types, np.array(["u"] * n, dtype=object))
    return TransitionArrays(
        states=states, next_states=states, action=action, position=np.zeros(n, dtype=np.int64),
        click=reward.astype(np.int8), cart=np.zeros(n, np.int8), purchase=np.zeros(n, np.int8), reward=reward,
        propensity=np.full(n, 1.0 / (N_ITEMS - 2)), done=rng.random(n) < 0.5,
        request_id=np.array([f"r{i}" for i in range(n)], dtype=object),
        decision_id=np.array([f"d{i}" for i in range(n)], dtype=object),
        ts=np.zeros(n, dtype="datetime64[us]"), kind=np.array(["bandit"] * n, dtype=object),
    )


TRAIN, VALID = chain_transitions(600, 1), chain_transitions(200, 2)
SHAPE = NetworkShape(N_ITEMS, 10, 1)


def fit(kind: str, config, **kwargs):
    if kind == "actor-critic":
        return train(TRAIN, SHAPE, config, VALID, **kwargs)
    return train_sequential(TRAIN, SHAPE, config, VALID, **kwargs)


CONFIGS = {"actor-critic": SMALL_AGENT, "sequential": SMALL_SEQUENTIAL}


@pytest.mark.parametrize("kind", CONFIGS)
def test_same_seed_gives_identical_weights(kind: str) -> None:
    config = dataclasses.replace(CONFIGS[kind], epochs=1)
    (first, _), (second, _) = fit(kind, config), fit(kind, config)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other, _ = fit(kind, dataclasses.replace(config, seed=1))
    assert not torch.equal(other.encoder.item_embeddings, first.encoder.item_embeddings)


@pytest.mark.parametrize("kind", CONFIGS)
def test_resuming_n_then_m_epochs_equals_n_plus_m_straight(kind: str, tmp_path) -> None:
    config = CONFIGS[kind]
    straight, straight_log = fit(kind, dataclasses.replace(config, epochs=3))
    fit(kind, dataclasses.replace(config, epochs=1), directory=tmp_path)
    assert json.loads((tmp_path / STATE_META_FILE).read_text())["epoch"] == 1
    resumed, resumed_log = fit(kind, dataclasses.replace(config, epochs=3), directory=tmp_path, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    assert [e[VALIDATION_METRIC] for e in resumed_log] == pytest.approx([e[VALIDATION_METRIC] for e in straight_log])
    with pytest.raises(FileNotFoundError, match="resume"):
        fit(kind, config, directory=tmp_path / "empty", resume=True)


def test_sequential_model_learns_the_next_item_and_logs_validation() -> None:
    config = dataclasses.replace(SMALL_SEQUENTIAL, epochs=8, patience=2)
    model, log = train_sequential(chain_transitions(1500, 3), SHAPE, config, VALID)
    assert VALIDATION_METRIC in log[-1] and np.isfinite(log[-1]["ce_loss"])
    best = max(e[VALIDATION_METRIC] for e in log)
    assert log[0][VALIDATION_METRIC] < 0.6 < 0.9 < best  # a random ranking of 12 items gives about 0.38
    assert training.next_item_ndcg(lambda s: model.item_logits(
        torch.as_tensor(s.history_items), torch.as_tensor(s.history_types)).detach().double().numpy(), VALID) == best


def test_actor_critic_logs_weight_statistics_and_validation() -> None:
    _, log = fit("actor-critic", SMALL_AGENT)
    assert {"critic_loss", "actor_loss", "mean_weight", "share_clipped", "ess_share", VALIDATION_METRIC} <= set(log[0])
    assert 0 < log[0]["ess_share"] <= 1.0 + 1e-9


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience() -> None:
    model = torch.nn.Linear(1, 1, bias=False)
    values = iter([0.1, 0.3, 0.2, 0.25, 0.9])

    def run_epoch(epoch: int, tick) -> dict[str, float]:
        with torch.no_grad():
            model.weight.fill_(float(epoch))  # weights say which epoch made them
        tick()
        return {"loss": 1.0 / (epoch + 1)}

    log = run_training(model=model, optimizer=torch.optim.Adam(model.parameters()), run_epoch=run_epoch,
                       steps_per_epoch=1, epochs=5, patience=2, validate=lambda: next(values),
                       rng=np.random.default_rng(0))
    assert [e["epoch"] for e in log] == [0, 1, 2, 3]  # epochs 2 and 3 did not beat epoch 1
    assert model.weight.item() == 1.0


def test_training_without_tensorboard_still_runs_and_logs_json(tmp_path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith(("torch.utils.tensorboard", "tensorboard")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    _, log = fit("sequential", dataclasses.replace(SMALL_SEQUENTIAL, epochs=1), directory=tmp_path)
    assert not (tmp_path / TENSORBOARD_DIR).exists()
    assert json.loads((tmp_path / STATE_META_FILE).read_text())["history"] == log


def test_tensorboard_scalars_are_written_when_installed(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fit("actor-critic", dataclasses.replace(SMALL_AGENT, epochs=1), directory=tmp_path)
    events = EventAccumulator(str(tmp_path / TENSORBOARD_DIR))
    events.Reload()
    assert {"critic_loss", "ess_share", VALIDATION_METRIC} <= set(events.Tags()["scalars"])
