"""What an agent is: a policy that can also serve its slate distribution, save itself and be loaded.

Every recommender of recrl (the actor-critic and its click / purchase specialists, the supervised
sequential model, the tuned CF baselines, the exploration agent, the coordinator's team, the text
agent) is an ``Agent``:

    item_scores(states)       (B, V) scores; higher = more likely served            (``recrl.policies.Policy``)
    slate_marginals(states, K) (B, V, K) P(item i at slot k) of the served Plackett-Luce slate
    save(directory)           safetensors + JSON under ``directory``, with ``agent.json`` naming the kind
    load_agent(directory)     the agent saved there, scoring identically

The served distribution is always a Plackett-Luce slate from ``softmax_probs(item_scores / temperature)``
(reserved indices at 0; the greedy slate at temperature ``GREEDY``), a uniform slate 0.1% of the time
(``recrl.policies.explore``), so
``slate_marginals`` is the one
helper ``served_marginals`` for every agent and the evaluation treats each alike. Existing policies are
adapted by thin subclasses or wrappers: their scoring code is not touched.

A new kind registers its loader with ``register_loader(kind, load)`` (the text agent does so in its
module) and its saver writes ``agent.json`` through ``write_agent_file``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from safetensors.numpy import load_file, save_file

from recrl.agents.actor_critic import ActorCriticPolicy, load_checkpoint, save_checkpoint
from recrl.agents.networks import ActorCritic, SequentialRecommender
from recrl.agents.sequential import SequentialPolicy, load_sequential, save_sequential
from recrl.baselines.store import load_baseline, save_baseline
from recrl.config import AgentConfig, SequentialConfig
from recrl.policies import N_RESERVED, StateBatch, served_slate_marginals

AGENT_FILE = "agent.json"
"""``{directory}/agent.json``: ``{"kind": ..., "name": ..., "temperature": ...}`` of a saved agent."""


@runtime_checkable
class Agent(Protocol):
    """A policy (``name``, ``temperature``, ``item_scores``) that can be saved and loaded."""

    name: str
    temperature: float

    def item_scores(self, states: StateBatch) -> np.ndarray:
        """(B, V) float scores over the vocabulary; reserved indices are never served."""
        ...

    def save(self, directory: Path) -> Path:
        """Write the agent under ``directory`` (created) so that ``load_agent`` rebuilds it; returns it."""
        ...


def served_marginals(agent: Agent, states: StateBatch, slate_size: int) -> np.ndarray:
    """(B, V, K) position marginals of the slate ``agent`` serves at its temperature (Plackett-Luce with
    its uniform share, ``recrl.policies.served_slate_marginals``)."""
    return served_slate_marginals(agent.item_scores(states), agent.temperature, slate_size)


def write_agent_file(directory: Path, kind: str, name: str, temperature: float, **extra) -> Path:
    """Create ``directory`` and write its ``agent.json``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "name": name, "temperature": float(temperature)} | extra
    (directory / AGENT_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    return directory


def read_agent_file(directory: Path) -> dict:
    path = Path(directory) / AGENT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved agent in {directory} (missing {AGENT_FILE})")
    return json.loads(path.read_text())


LOADERS: dict[str, Callable[[Path], Agent]] = {}
"""Loader of every agent kind, by the ``kind`` in ``agent.json``."""


def register_loader(kind: str, load: Callable[[Path], Agent]) -> None:
    LOADERS[kind] = load


def load_agent(directory: Path) -> Agent:
    """The agent saved in ``directory`` with its name and temperature."""
    record = read_agent_file(directory)
    if record["kind"] not in LOADERS:
        raise ValueError(f"{directory}: unknown agent kind {record['kind']!r} (known: {sorted(LOADERS)})")
    agent = LOADERS[record["kind"]](Path(directory))
    agent.name, agent.temperature = record["name"], record["temperature"]
    return agent


class ActorCriticAgent(ActorCriticPolicy):
    """The actor-critic (or a specialist trained on another reward) as an agent."""

    kind = "actor-critic"

    def __init__(self, model: ActorCritic, config: AgentConfig, temperature: float = 1.0,
                 name: str = "actor-critic") -> None:
        super().__init__(model, temperature, name)
        self.config = config

    def save(self, directory: Path) -> Path:
        save_checkpoint(self.model, self.config, Path(directory))
        return write_agent_file(directory, self.kind, self.name, self.temperature)


class SequentialAgent(SequentialPolicy):
    """The supervised SASRec-style model as an agent."""

    kind = "sequential"

    def __init__(self, model: SequentialRecommender, config: SequentialConfig, temperature: float = 1.0,
                 name: str = "sasrec") -> None:
        super().__init__(model, temperature, name)
        self.config = config

    def save(self, directory: Path) -> Path:
        save_sequential(self.model, self.config, Path(directory))
        return write_agent_file(directory, self.kind, self.name, self.temperature)


class BaselineAgent:
    """A fitted CF baseline as an agent: scores, name and temperature are the baseline's own."""

    kind = "baseline"

    def __init__(self, baseline) -> None:
        self.baseline = baseline

    @property
    def name(self) -> str:
        return self.baseline.name

    @name.setter
    def name(self, value: str) -> None:
        self.baseline.name = value

    @property
    def temperature(self) -> float:
        return self.baseline.temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.baseline.temperature = value

    def item_scores(self, states: StateBatch) -> np.ndarray:
        return self.baseline.item_scores(states)

    def save(self, directory: Path) -> Path:
        save_baseline(self.baseline, directory)
        return write_agent_file(directory, self.kind, self.name, self.temperature)


class ExplorationAgent:
    """Smoothed popularity served flat: scores ``log(1 + n_i)`` of each item's training impressions
    (or interactions) n_i, at a fixed high temperature (``CoordinatorConfig.exploration_temperature``),
    so every item keeps real probability. It serves the items the others rarely show and gives a team
    a member whose support is broad; its temperature is not chosen on valid."""

    kind = "exploration"

    def __init__(self, item_counts: np.ndarray, temperature: float, name: str = "exploration") -> None:
        self.log_counts = np.log1p(np.asarray(item_counts, dtype=np.float64))  # (V,)
        self.log_counts[:N_RESERVED] = 0.0
        self.temperature = temperature
        self.name = name

    def item_scores(self, states: StateBatch) -> np.ndarray:
        return np.broadcast_to(self.log_counts, (len(states), len(self.log_counts))).copy()  # (B, V)

    def save(self, directory: Path) -> Path:
        directory = write_agent_file(directory, self.kind, self.name, self.temperature)
        save_file({"log_counts": self.log_counts}, str(directory / "exploration.safetensors"))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ExplorationAgent:
        agent = cls(np.zeros(1), 1.0)
        agent.log_counts = load_file(str(Path(directory) / "exploration.safetensors"))["log_counts"]
        return agent


def _load_actor_critic(directory: Path) -> ActorCriticAgent:
    return ActorCriticAgent(*load_checkpoint(directory))


def _load_sequential(directory: Path) -> SequentialAgent:
    return SequentialAgent(*load_sequential(directory))


register_loader(ActorCriticAgent.kind, _load_actor_critic)
register_loader(SequentialAgent.kind, _load_sequential)
register_loader(BaselineAgent.kind, lambda directory: BaselineAgent(load_baseline(directory)))
register_loader(ExplorationAgent.kind, ExplorationAgent.load)
