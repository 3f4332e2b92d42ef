"""Supervised sequential baseline: SASRec-style next-item cross-entropy on the actor's BERT encoder.

The model the RL agent must beat (Kang & McAuley, ICDM 2018; the supervised head of SQN/SA2C, Xin et
al. 2020, 2022): the same ``StateEncoder`` reads the user's last N events, and the next item the user
answered is predicted by a softmax over the full vocabulary, scored against the tied item embeddings:

    logits(s) = W enc(s) E^T + b                           (B, V), reserved indices masked
    L = mean_{i positive} CE(logits(s_i), a_i)

Training targets (the train split only): every decision whose logged item earned a click, cart or
purchase (bandit logs), and every transition of a sequence log (its action is the next item the user
interacted with). Unanswered impressions are not targets: the model learns what users pick, not what
the logger showed. The full softmax is cheap at this vocabulary size (a few hundred items), so no
negative sampling. Unlike SASRec's causal per-position loss, each state is encoded once through the
[CLS] summary and predicts one next item, so the two models differ only in their loss.
The served policy is ``softmax(logits / T)`` like the actor's; ``recrl.agents.training`` runs the epochs
(validation NDCG@10 early stopping, resumable state, TensorBoard).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from recrl.agents.actor_critic import EncoderPolicy
from recrl.agents.networks import NetworkShape, SequentialRecommender
from recrl.agents.training import (
    load_checked,
    next_item_ndcg,
    pick_device,
    positive_rows,
    read_meta,
    run_training,
    save_weights,
)
from recrl.config import SequentialConfig, from_dict
from recrl.states.export import TransitionArrays

CHECKPOINT_FILE = "sequential.safetensors"
CONFIG_FILE = "sequential.json"


def train_sequential(transitions: TransitionArrays, shape: NetworkShape, config: SequentialConfig,
                     valid: TransitionArrays | None = None, directory: Path | None = None,
                     resume: bool = False) -> tuple[SequentialRecommender, list[dict]]:
    """Fit next-positive-item cross-entropy on the training transitions' positives; returns the model
    (eval mode, the best validation epoch's weights when ``valid`` has positives) and the epoch log."""
    rows = positive_rows(transitions)
    if len(rows) == 0:
        raise ValueError("no positive training decisions (clicks, carts, purchases or sequence steps)")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.num_threads)
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    history = torch.as_tensor(transitions.states.history_items[rows], dtype=torch.long, device=device)  # (P, N)
    history_types = torch.as_tensor(transitions.states.history_types[rows], dtype=torch.long, device=device)
    target = torch.as_tensor(transitions.action[rows], dtype=torch.long, device=device)  # (P,)

    model = SequentialRecommender(shape, config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    n_steps = math.ceil(len(rows) / config.batch_size)

    def run_epoch(epoch: int, tick) -> dict[str, float]:
        total = 0.0
        for batch in np.array_split(rng.permutation(len(rows)), n_steps):
            idx = torch.as_tensor(batch, device=device)
            loss = F.cross_entropy(model.item_logits(history[idx], history_types[idx]), target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            tick()
        return {"ce_loss": total / n_steps}

    validate = None
    if valid is not None and len(positive_rows(valid)):
        policy = SequentialPolicy(model)

        def validate() -> float:
            return next_item_ndcg(policy.item_scores, valid)

    epoch_log = run_training(model=model, optimizer=optimizer, run_epoch=run_epoch, steps_per_epoch=n_steps,
                             epochs=config.epochs, patience=config.patience, validate=validate, rng=rng,
                             directory=directory, resume=resume, name="sequential")
    return model, epoch_log


class SequentialPolicy(EncoderPolicy):
    """The supervised next-item model served as a softmax policy over the vocabulary."""

    def __init__(self, model: SequentialRecommender, temperature: float = 1.0, name: str = "sasrec") -> None:
        super().__init__(model, temperature, name)


def save_sequential(model: SequentialRecommender, config: SequentialConfig, directory: Path) -> Path:
    """Weights as safetensors and the config + shape as JSON beside them."""
    meta = {"sequential": dataclasses.asdict(config), "shape": dataclasses.asdict(model.shape)}
    return save_weights(model, meta, directory, CHECKPOINT_FILE, CONFIG_FILE)


def load_sequential(directory: Path) -> tuple[SequentialRecommender, SequentialConfig]:
    """Rebuild the model from its JSON config and load the safetensors weights, checking every shape."""
    directory = Path(directory)
    meta = read_meta(directory, CHECKPOINT_FILE, CONFIG_FILE)
    config = from_dict(SequentialConfig, meta["sequential"])
    model = SequentialRecommender(NetworkShape(**meta["shape"]), config)
    load_checked(model, load_file(str(directory / CHECKPOINT_FILE)))
    return model.eval(), config
