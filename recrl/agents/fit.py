"""Training stage: read the train and valid splits, fit the actor-critic or the sequential model,
write its checkpoint.

Reads ``{data}/states`` (vocabulary, train transitions, valid transitions for early stopping); writes
``{data}/models/{run_id}/``: the safetensors weights, the config + network shape JSON, the per-epoch
training log, the resumable training state and (with tensorboard installed) TensorBoard scalars.
The actor-critic and the sequential model each write their own files, so both fit into one folder.
With ``AgentConfig.prior`` the actor's CF prior is fitted on the train split and tuned on the valid
split's decisions (the bandit impressions where valid has any, else the sequence steps), as the
evaluation stage tunes the baselines, and saved in the same folder (``recrl.agents.prior``).
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from recrl.agents.actor_critic import CHECKPOINT_FILE, save_checkpoint, train
from recrl.agents.networks import NetworkShape
from recrl.agents.prior import TEXT, fit_prior, prior_members
from recrl.agents.sequential import save_sequential, train_sequential
from recrl.agents.text import item_title_embeddings
from recrl.baselines import interactions_from_transitions
from recrl.config import AgentConfig, BaselineConfig, SequentialConfig, StatesConfig, TextConfig
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


def actor_prior(layout: DataLayout, states: StatesConfig, agent: AgentConfig, baselines: BaselineConfig,
                shape: NetworkShape, text: TextConfig | None = None):
    """The CF prior ``agent.prior`` names, fitted on the train split and tuned on valid (None for 'none').
    A prior with a text member reads the lake's title embeddings (``text``; none with ``text.enabled`` off)."""
    if agent.prior == "none":
        return None
    interactions = interactions_from_transitions(load_transitions(layout, "train"), shape.n_items)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), states.history_len)
    if len(valid) == 0:
        valid = to_arrays(load_transitions(layout, "valid", kind="sequence"), states.history_len)
    text = text or TextConfig()
    embeddings = None
    if TEXT in prior_members(agent.prior) and text.enabled:
        embeddings = item_title_embeddings(layout, load_vocab(layout), text)
    return fit_prior(agent.prior, interactions, baselines, valid, shape.slate_size, embeddings)


def fit_actor_critic(layout: DataLayout, states: StatesConfig, agent: AgentConfig, run_id: str,
                     resume: bool = False, warm_start: Path | None = None,
                     baselines: BaselineConfig | None = None, text: TextConfig | None = None) -> Path:
    """Train on the train split, stop early on the valid split (test is never seen); return the folder.
    ``resume`` continues the training state saved there by an earlier, shorter fit; ``warm_start`` (an
    earlier run's model folder) starts from its actor-critic weights instead of a fresh initialisation;
    ``baselines`` configures the CF prior's fit and tuning (``AgentConfig.prior``; default BaselineConfig),
    ``text`` a text member's embeddings (default TextConfig)."""
    shape, train_split, valid_split = _splits(layout, states)
    directory = layout.models / run_id
    initial = load_file(str(Path(warm_start) / CHECKPOINT_FILE)) if warm_start is not None else None
    prior = actor_prior(layout, states, agent, baselines or BaselineConfig(), shape, text)
    model, epoch_log = train(train_split, shape, agent, valid_split, directory / ACTOR_CRITIC_STATE_DIR, resume,
                             initial_weights=initial, prior=prior)
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
