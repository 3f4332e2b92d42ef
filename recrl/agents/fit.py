"""Training stage: read the training split, fit the actor-critic, write its checkpoint.

Reads ``{data}/states`` (vocabulary, train transitions); writes ``{data}/models/{run_id}/``: the
safetensors weights, the agent config + network shape JSON, and the per-epoch training log.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from recrl.agents.actor_critic import save_checkpoint, train
from recrl.agents.networks import NetworkShape
from recrl.config import AgentConfig, StatesConfig
from recrl.lake import DataLayout
from recrl.policies import slate_size_of
from recrl.states.export import load_transitions, to_arrays
from recrl.states.vocab import load_vocab

TRAINING_LOG_FILE = "training_log.json"


def fit_actor_critic(layout: DataLayout, states: StatesConfig, agent: AgentConfig, run_id: str) -> Path:
    """Train on the train split only (valid/test are never seen) and return the checkpoint folder."""
    vocab = load_vocab(layout)
    transitions = to_arrays(load_transitions(layout, "train"), states.history_len)
    shape = NetworkShape(n_items=vocab.size, history_len=states.history_len,
                         slate_size=slate_size_of(transitions.position))
    model, epoch_logs = train(transitions, shape, agent)
    directory = layout.models / run_id
    save_checkpoint(model, agent, directory)
    (directory / TRAINING_LOG_FILE).write_text(json.dumps([dataclasses.asdict(e) for e in epoch_logs], indent=2))
    return directory
