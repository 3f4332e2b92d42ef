"""Training stage: read the train and valid splits, fit the actor-critic or the sequential model,
write its checkpoint.

Reads ``{data}/states`` (vocabulary, train transitions, valid transitions for early stopping); writes
``{data}/models/{run_id}/``: the safetensors weights, the config + network shape JSON, the per-epoch
training log, the resumable training state and (with tensorboard installed) TensorBoard scalars.
The actor-critic and the sequential model each write their own files, so both fit into one folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from recrl.agents.actor_critic import CHECKPOINT_FILE, save_checkpoint, train
from recrl.agents.networks import NetworkShape
from recrl.agents.sequential import save_sequential, train_sequential
from recrl.config import AgentConfig, SequentialConfig, StatesConfig
from recrl.lake import DataLayout
from recrl.policies import slate_size_of
from recrl.states.export import TransitionArrays, load_transitions, to_arrays
from recrl.states.vocab import load_vocab

TRAINING_LOG_FILE = "training_log.json"
SEQUENTIAL_LOG_FILE = "sequential_log.json"
ACTOR_CRITIC_STATE_DIR = "actor_critic_state"
SEQUENTIAL_STATE_DIR = "sequential_state"


def _splits(layout: DataLayout, states: StatesConfig) -> tuple[NetworkShape, TransitionArrays, TransitionArrays]:
    vocab = load_vocab(layout)
    train_split = to_arrays(load_transitions(layout, "train"), states.history_len)
    valid_split = to_arrays(load_transitions(layout, "valid"), states.history_len)
    shape = NetworkShape(n_items=vocab.size, history_len=states.history_len,
                         slate_size=slate_size_of(train_split.position))
    return shape, train_split, valid_split


def fit_actor_critic(layout: DataLayout, states: StatesConfig, agent: AgentConfig, run_id: str,
                     resume: bool = False, warm_start: Path | None = None) -> Path:
    """Train on the train split, stop early on the valid split (test is never seen); return the folder.
    ``resume`` continues the training state saved there by an earlier, shorter fit; ``warm_start`` (an
    earlier run's model folder) starts from its actor-critic weights instead of a fresh initialisation."""
    shape, train_split, valid_split = _splits(layout, states)
    directory = layout.models / run_id
    initial = load_file(str(Path(warm_start) / CHECKPOINT_FILE)) if warm_start is not None else None
    model, epoch_log = train(train_split, shape, agent, valid_split, directory / ACTOR_CRITIC_STATE_DIR, resume,
                             initial_weights=initial)
    save_checkpoint(model, agent, directory)
    (directory / TRAINING_LOG_FILE).write_text(json.dumps(epoch_log, indent=2))
    return directory


def fit_sequential(layout: DataLayout, states: StatesConfig, config: SequentialConfig, run_id: str,
                   resume: bool = False) -> Path:
    """``fit_actor_critic`` for the supervised SASRec-style model (``recrl.agents.sequential``)."""
    shape, train_split, valid_split = _splits(layout, states)
    directory = layout.models / run_id
    model, epoch_log = train_sequential(train_split, shape, config, valid_split,
                                        directory / SEQUENTIAL_STATE_DIR, resume)
    save_sequential(model, config, directory)
    (directory / SEQUENTIAL_LOG_FILE).write_text(json.dumps(epoch_log, indent=2))
    return directory
