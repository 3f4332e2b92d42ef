"""The training loop every learned agent shares: epochs with a progress bar, validation-based early
stopping, TensorBoard scalars, resumable training state, weights with shape checks on load.

Per epoch the agent's ``run_epoch`` does its gradient steps and returns mean scalars (losses, weight
statistics); then ``validate`` scores the model on the **valid** split (never test) with one explicit
criterion, logged as ``valid_ndcg@10``: NDCG@10 of the next positive item (the logged item of every
valid decision that earned a click, cart or purchase, and every next item of a sequence log), ranked
among all items by the model's scores (``recrl.evaluate.ranking``, pessimistic ties). The weights of the
best validation epoch are the ones kept; training stops after ``patience`` epochs without improvement.

After every epoch the training state is written beside the checkpoint: the model (and any other module
the agent names, e.g. the actor-critic's target network), the Adam moments, the best weights so far, the
torch and numpy random states (``training_state.safetensors``), and the epoch counter, best epoch and
epoch history (``training_state.json``). ``resume=True`` continues from it, so N epochs then M more give
the same weights as N + M straight (on the CPU; CUDA kernels are not all deterministic).

TensorBoard scalars (``{checkpoint}/tensorboard``) are written when the optional ``tensorboard``
package is installed (``pip install recrl[tensorboard]``); without it the JSON epoch log is the record.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from recrl.evaluate.ranking import hit_and_ndcg, item_ranks
from recrl.policies import StateBatch
from recrl.states.export import TransitionArrays

log = logging.getLogger(__name__)

STATE_WEIGHTS_FILE = "training_state.safetensors"
STATE_META_FILE = "training_state.json"
TENSORBOARD_DIR = "tensorboard"
VALIDATION_METRIC = "valid_ndcg@10"
VALIDATION_CUTOFF = 10

RunEpoch = Callable[[int, Callable[[], None]], dict[str, float]]
"""(epoch, tick) -> mean scalars of the epoch; ``tick()`` advances the progress bar by one batch."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {name!r}")
    return torch.device(name)


def positive_rows(transitions: TransitionArrays) -> np.ndarray:
    """Indices of decisions whose item the user answered: bandit rows with reward > 0 (click, cart,
    purchase) and every sequence row (its action is the next item the user interacted with)."""
    return np.flatnonzero((transitions.reward > 0) | (transitions.kind == "sequence"))


def next_item_ndcg(scores_of: Callable[[StateBatch], np.ndarray], decisions: TransitionArrays,
                   chunk: int = 2048) -> float:
    """NDCG@10 of the next positive item of ``decisions`` under ``scores_of`` (NaN when none)."""
    positive = decisions.take(positive_rows(decisions))
    if len(positive) == 0:
        return float("nan")
    ranks = np.concatenate([
        item_ranks(scores_of(positive.states.take(slice(s, s + chunk))), positive.action[s:s + chunk])
        for s in range(0, len(positive), chunk)
    ])
    return hit_and_ndcg(ranks, (VALIDATION_CUTOFF,))[("ndcg", VALIDATION_CUTOFF)]


@dataclass
class LoopState:
    """Where training stands; saved as JSON after every epoch."""

    epoch: int = 0
    """Epochs completed."""
    best_epoch: int = -1
    best_value: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)


def tensorboard_writer(directory: Path | None) -> Any:
    """A ``SummaryWriter`` under ``directory/tensorboard``, or None without the tensorboard package."""
    if directory is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra is not installed: the JSON log is the record
        log.info("tensorboard is not installed: no TensorBoard scalars (pip install recrl[tensorboard])")
        return None
    return SummaryWriter(str(directory / TENSORBOARD_DIR))


def _cpu(module_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().clone().contiguous() for name, tensor in module_state.items()}


def save_training_state(directory: Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                        best: dict[str, torch.Tensor] | None, rng: np.random.Generator, state: LoopState) -> None:
    """Everything ``resume`` needs, as safetensors (tensors) + JSON (counters, numpy random state)."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        tensors |= {f"{prefix}.{name}": t for name, t in _cpu(module.state_dict()).items()}
    optimizer_state = optimizer.state_dict()
    for index, slots in optimizer_state["state"].items():
        tensors |= {f"optimizer.{index}.{name}": t.detach().cpu().clone().contiguous() for name, t in slots.items()}
    if best is not None:
        tensors |= {f"best.{name}": t for name, t in best.items()}
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(directory / STATE_WEIGHTS_FILE))
    meta = {"epoch": state.epoch, "best_epoch": state.best_epoch, "best_value": state.best_value,
            "history": state.history, "param_groups": optimizer_state["param_groups"],
            "numpy_rng": rng.bit_generator.state}
    (directory / STATE_META_FILE).write_text(json.dumps(meta, indent=2))


def load_training_state(directory: Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                        rng: np.random.Generator) -> tuple[LoopState, dict[str, torch.Tensor] | None]:
    """Restore what ``save_training_state`` wrote into the given modules, optimizer and generator."""
    for name in (STATE_WEIGHTS_FILE, STATE_META_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"no training state to resume from: {directory / name}")
    tensors = load_file(str(directory / STATE_WEIGHTS_FILE))
    meta = json.loads((directory / STATE_META_FILE).read_text())
    for prefix, module in modules.items():
        load_checked(module, {n[len(prefix) + 1:]: t for n, t in tensors.items() if n.startswith(prefix + ".")})
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, slot = name.split(".", 2)
            slots.setdefault(int(index), {})[slot] = tensor
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    best = {n[5:]: t for n, t in tensors.items() if n.startswith("best.")} or None
    return LoopState(meta["epoch"], meta["best_epoch"], meta["best_value"], meta["history"]), best


def run_training(*, model: nn.Module, optimizer: torch.optim.Optimizer, run_epoch: RunEpoch, steps_per_epoch: int,
                 epochs: int, patience: int, validate: Callable[[], float] | None, rng: np.random.Generator,
                 directory: Path | None = None, resume: bool = False, extra_modules: dict[str, nn.Module] | None = None,
                 name: str = "train") -> list[dict[str, Any]]:
    """Run up to ``epochs`` epochs; returns the epoch history (scalars + validation value per epoch).

    ``validate`` (called in eval mode after each epoch; higher is better) drives early stopping with
    ``patience`` (0 = never stop early) and the weights kept at the end (the best epoch's). With
    ``directory`` the training state is saved after every epoch and TensorBoard scalars are written.
    """
    modules = {"model": model} | (extra_modules or {})
    state, best = LoopState(), None
    if resume:
        if directory is None:
            raise ValueError("resume needs the checkpoint directory")
        state, best = load_training_state(directory, modules, optimizer, rng)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    writer = tensorboard_writer(directory)
    progress = tqdm(total=max(epochs - state.epoch, 0) * steps_per_epoch, desc=name, unit="batch", disable=None)
    try:
        for epoch in range(state.epoch, epochs):
            model.train()
            scalars = run_epoch(epoch, lambda: progress.update(1))
            model.eval()
            entry: dict[str, Any] = {"epoch": epoch} | scalars
            if validate is not None:
                value = float(validate())
                entry[VALIDATION_METRIC] = value
                if value > state.best_value:
                    state.best_value, state.best_epoch = value, epoch
                    best = _cpu(model.state_dict())
            state.history.append(entry)
            state.epoch = epoch + 1
            progress.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k != "epoch"})
            log.info("%s epoch %d: %s", name, epoch, entry)
            if writer is not None:
                for key, value in entry.items():
                    if key != "epoch" and value is not None and np.isfinite(value):
                        writer.add_scalar(key, value, epoch + 1)
            if directory is not None:
                save_training_state(directory, modules, optimizer, best, rng, state)
            if state.best_epoch >= 0 and patience > 0 and epoch - state.best_epoch >= patience:
                log.info("%s: early stop after epoch %d (best %s %.4f at epoch %d)", name, epoch,
                         VALIDATION_METRIC, state.best_value, state.best_epoch)
                break
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    return state.history


def save_weights(model: nn.Module, meta: dict[str, Any], directory: Path, weights_file: str, config_file: str) -> Path:
    """Weights as safetensors (never pickle) and ``meta`` (config + shape) as JSON beside them."""
    directory.mkdir(parents=True, exist_ok=True)
    save_file(_cpu(model.state_dict()), str(directory / weights_file))
    (directory / config_file).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return directory / weights_file


def read_meta(directory: Path, weights_file: str, config_file: str) -> dict[str, Any]:
    for name in (weights_file, config_file):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"checkpoint file not found: {directory / name}")
    return json.loads((directory / config_file).read_text())


def load_checked(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load ``weights`` into ``model`` after checking that the names and every shape match."""
    expected = model.state_dict()
    if set(weights) != set(expected):
        raise ValueError(f"checkpoint tensors differ from the model: {sorted(set(weights) ^ set(expected))}")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"checkpoint tensor {name} has shape {tuple(tensor.shape)}, "
                             f"model expects {tuple(expected[name].shape)}")
    model.load_state_dict(weights)
