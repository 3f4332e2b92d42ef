"""Click and purchase specialists: the actor-critic trained on one objective's reward each.

The transitions carry the feedback columns beside the blended reward (``sql/states/transitions.sql``:
r = w_click click + w_cart cart + w_purchase purchase), so a specialist needs no new SQL, only its own
reward column over the same decisions and the same training loop:

    click specialist      r_click    = w_click    * click       (``StatesConfig.reward_click``)
    purchase specialist   r_purchase = w_purchase * purchase    (``StatesConfig.reward_purchase``)

The cheapest honest design: one actor-critic (``recrl.agents.actor_critic.train``, unchanged) per
objective, fewer epochs (``CoordinatorConfig.specialist_epochs``), each early-stopped on the valid split
like the main agent. A multi-task head on one encoder would save one encoder's training but needs a
change to the actor-critic's loss, which is not this module's to make. Checkpoints go to
``models/{run}/specialists/{objective}/`` as agents (``recrl.agents.protocol``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from recrl.agents.actor_critic import train
from recrl.agents.fit import _splits, actor_prior
from recrl.agents.prior import PRIOR_DIR, load_prior
from recrl.agents.protocol import ActorCriticAgent, load_agent
from recrl.config import AgentConfig, BaselineConfig, CoordinatorConfig, StatesConfig, TextConfig
from recrl.lake import DataLayout
from recrl.states.export import TransitionArrays

OBJECTIVES: tuple[str, ...] = ("click", "purchase")
SPECIALISTS_DIR = "specialists"


def objective_rewards(transitions: TransitionArrays, objective: str, states: StatesConfig) -> TransitionArrays:
    """``transitions`` with the reward of one objective only (formulas in the module docstring)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    weight = states.reward_click if objective == "click" else states.reward_purchase
    reward = weight * getattr(transitions, objective).astype(np.float64)
    return dataclasses.replace(transitions, reward=reward)


def fit_specialists(layout: DataLayout, states: StatesConfig, agent: AgentConfig, coordinator: CoordinatorConfig,
                    run_id: str, baselines: BaselineConfig | None = None,
                    text: TextConfig | None = None) -> dict[str, Path]:
    """Train and save one actor-critic per objective on the train split (valid for early stopping only),
    over the main actor-critic's CF prior (``AgentConfig.prior``: the one saved in the run's folder, or
    fitted as ``recrl.agents.fit.fit_actor_critic`` fits it)."""
    shape, train_split, valid_split = _splits(layout, states)
    run_folder = layout.models / run_id
    if (run_folder / PRIOR_DIR).is_dir():
        prior = load_prior(run_folder, agent.prior)
    else:
        prior = actor_prior(layout, states, agent, baselines or BaselineConfig(), shape, text)
    config = dataclasses.replace(agent, epochs=coordinator.specialist_epochs,
                                 warmup_epochs=min(agent.warmup_epochs, coordinator.specialist_epochs))
    folders = {}
    for objective in OBJECTIVES:
        folder = layout.models / run_id / SPECIALISTS_DIR / objective
        model, epoch_log = train(objective_rewards(train_split, objective, states), shape, config,
                                 objective_rewards(valid_split, objective, states), prior=prior)
        ActorCriticAgent(model, config, name=f"{objective}-specialist").save(folder)
        (folder / "training_log.json").write_text(json.dumps(epoch_log, indent=2))
        folders[objective] = folder
    return folders


def load_specialists(layout: DataLayout, run_id: str) -> list:
    """The specialists saved for ``run_id`` (none when they were not trained)."""
    root = layout.models / run_id / SPECIALISTS_DIR
    return [load_agent(root / objective) for objective in OBJECTIVES if (root / objective).is_dir()]
