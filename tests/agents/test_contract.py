"""One contract for every agent and the coordinator's teams (``recrl.agents.protocol.Agent``).

Each entry of ``AGENT_BUILDERS`` builds an agent from the tiny simulated world with a seed; every
test runs over every entry. A new agent kind (the text agent) adds one builder here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from recrl.agents.actor_critic import train
from recrl.agents.coordinator import Team, fit_gate, log_served
from recrl.agents.networks import NetworkShape
from recrl.agents.protocol import (
    ActorCriticAgent,
    Agent,
    BaselineAgent,
    ExplorationAgent,
    SequentialAgent,
    load_agent,
    served_marginals,
)
from recrl.agents.sequential import train_sequential
from recrl.agents.specialists import objective_rewards
from recrl.agents.text import TextAgent, fit_text_policy
from recrl.baselines import fit_baselines, interactions_from_transitions
from recrl.config import AgentConfig, BaselineConfig, CoordinatorConfig, SequentialConfig
from recrl.policies import N_RESERVED, slate_size_of
from recrl.states import load_transitions, to_arrays
from recrl.states.export import TransitionArrays
from recrl.states.vocab import load_vocab

SMALL = {"hidden_size": 32, "intermediate_size": 64, "epochs": 1, "batch_size": 256}
TRAIN_ROWS = 3000
"""Training rows of the neural agents here: the contract is about the interface, not their quality."""


@dataclasses.dataclass(frozen=True)
class World:
    train: TransitionArrays
    valid: TransitionArrays
    shape: NetworkShape
    interactions: object
    states_config: object


@pytest.fixture(scope="module")
def world(tiny_pipeline) -> World:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    train_table = load_transitions(layout, "train")
    train_split = to_arrays(train_table, config.states.history_len)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), config.states.history_len)
    n_items = load_vocab(layout).size
    shape = NetworkShape(n_items=n_items, history_len=config.states.history_len,
                         slate_size=slate_size_of(train_split.position))
    return World(train_split, valid, shape, interactions_from_transitions(train_table, n_items), config.states)


def actor_critic(world: World, seed: int) -> Agent:
    config = AgentConfig(seed=seed, warmup_epochs=1, prior="none", **SMALL)
    return ActorCriticAgent(train(world.train.take(slice(0, TRAIN_ROWS)), world.shape, config)[0], config)


def purchase_specialist(world: World, seed: int) -> Agent:
    config = AgentConfig(seed=seed, warmup_epochs=1, prior="none", **SMALL)
    rows = objective_rewards(world.train.take(slice(0, TRAIN_ROWS)), "purchase", world.states_config)
    return ActorCriticAgent(train(rows, world.shape, config)[0], config, name="purchase-specialist")


def sequential(world: World, seed: int) -> Agent:
    config = SequentialConfig(seed=seed, **SMALL)
    return SequentialAgent(train_sequential(world.train.take(slice(0, TRAIN_ROWS)), world.shape, config)[0], config)


def baseline(index: int) -> Callable[[World, int], Agent]:
    def build(world: World, seed: int) -> Agent:
        fitted = fit_baselines(world.interactions, BaselineConfig(tuning_trials=1, tuning_seed=seed))
        return BaselineAgent(fitted[index])

    return build


def exploration(world: World, seed: int) -> Agent:
    return ExplorationAgent(np.bincount(world.train.action, minlength=world.shape.n_items), temperature=5.0)


def members(world: World, seed: int) -> list[Agent]:
    fitted = fit_baselines(world.interactions, BaselineConfig(tuning_trials=1, tuning_seed=seed))
    agents = [BaselineAgent(b) for b in fitted[:2]] + [exploration(world, seed)]
    for agent, temperature in zip(agents, (0.2, 0.5, 5.0), strict=True):
        agent.temperature = temperature
    return agents


def static_team(fusion: str) -> Callable[[World, int], Agent]:
    def build(world: World, seed: int) -> Agent:
        return Team(members(world, seed), fusion, weights=np.array([0.5, 0.3, 0.2]), temperature=0.5)

    return build


def gate_team(world: World, seed: int) -> Agent:
    agents = members(world, seed)
    log_probs = np.stack([log_served(a, world.valid.states) for a in agents])
    gate = fit_gate(log_probs, world.valid.states, world.valid, CoordinatorConfig(seed=seed, gate_epochs=50))
    return Team(agents, "gate", gate=gate)


def text(world: World, seed: int) -> Agent:
    # The contract is the interface, not the model: unit title embeddings drawn with the seed.
    embeddings = np.random.default_rng(seed).normal(size=(world.shape.n_items, 8)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return TextAgent(fit_text_policy(world.interactions, embeddings, BaselineConfig(tuning_trials=1)))


AGENT_BUILDERS: dict[str, Callable[[World, int], Agent]] = {
    "actor-critic": actor_critic,
    "purchase-specialist": purchase_specialist,
    "sequential": sequential,
    "popularity": baseline(0),
    "item-knn": baseline(1),
    "session-knn": baseline(2),
    "pure-svd": baseline(3),
    "exploration": exploration,
    "text": text,
    "team-average": static_team("average"),
    "team-borda": static_team("borda"),
    "team-gate": gate_team,
}


@pytest.fixture(scope="module", params=sorted(AGENT_BUILDERS))
def built(request, world) -> tuple[str, Agent, World]:
    return request.param, AGENT_BUILDERS[request.param](world, 0), world


def test_every_baseline_has_a_builder(world) -> None:
    fitted = fit_baselines(world.interactions, BaselineConfig(tuning_trials=1))
    assert [b.name for b in fitted] == ["popularity", "item-knn", "session-knn", "pure-svd"]


def test_is_an_agent_with_finite_scores_of_every_item(built) -> None:
    _, agent, world = built
    assert isinstance(agent, Agent)
    states = world.valid.states.take(slice(0, 64))
    scores = agent.item_scores(states)
    assert scores.shape == (64, world.shape.n_items)
    assert np.isfinite(scores[:, N_RESERVED:]).all()


def test_serves_slates_whose_slots_are_distributions_without_reserved_items(built) -> None:
    _, agent, world = built
    marginals = served_marginals(agent, world.valid.states.take(slice(0, 32)), world.shape.slate_size)
    assert marginals.shape == (32, world.shape.n_items, world.shape.slate_size)
    assert (marginals[:, :N_RESERVED, :] == 0).all()
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-9)
    # Each item appears at most once per slate: its marginals over the slots sum to at most 1.
    assert (marginals.sum(axis=2) <= 1 + 1e-9).all()


def test_save_then_load_scores_identically(built, tmp_path) -> None:
    name, agent, world = built
    agent.temperature = 0.7
    loaded = load_agent(agent.save(tmp_path / name))
    states = world.valid.states.take(slice(0, 64))
    assert (loaded.name, loaded.temperature, type(loaded)) == (agent.name, 0.7, type(agent))
    np.testing.assert_allclose(loaded.item_scores(states)[:, N_RESERVED:], agent.item_scores(states)[:, N_RESERVED:],
                               rtol=0, atol=1e-9)


def test_same_seed_builds_the_same_agent(built) -> None:
    name, agent, world = built
    again = AGENT_BUILDERS[name](world, 0)
    again.temperature = agent.temperature
    states = world.valid.states.take(slice(0, 64))
    np.testing.assert_allclose(again.item_scores(states)[:, N_RESERVED:], agent.item_scores(states)[:, N_RESERVED:],
                               rtol=0, atol=1e-9)
