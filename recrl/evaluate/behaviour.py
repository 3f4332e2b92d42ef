"""Estimated propensities: a behaviour model beta_hat(a | x, k) of the logged decisions.

When the logs carry no propensity (implicit sequence logs such as OTTO, RetailRocket, Taobao, or
impression logs whose logger did not record one) the estimators need an estimate of the same event the
logged propensity describes: the probability of the logged item at its logged slot k given the state x
(for sequence logs, k is the single slot 0 and the event is "the next item interacted with").

The model is a conditional logit over the vocabulary (padding excluded, the unknown item kept: it is
logged too), independent of every evaluated policy, fitted on the train days only:

    logit(a | x, k) = theta_{k,0} b_{k,a} + theta_{k,1} log P~(a | h_1) + theta_{k,2} log P~(a | h_2)
    P~(a | i)       = (c(i, a) + M p(a)) / (c(i) + M)          (M = TRANSITION_PSEUDO_COUNT)

with h_1, h_2 the newest and second-newest history items (padding when the history is shorter),
c(i, a) the train-day count of decisions with that history item and logged item a, p(a) the
Laplace-smoothed item share, and b_{k,a} the log of the Laplace-smoothed share of item a at slot k
(the slot's popularity). Only theta (3 numbers a slot) is fitted, so the model cannot overfit the
item shares of a small log (free per-item biases did: on the OTTO sample, 783 train steps over 510
items, they were worse than popularity alone on the valid day). theta = (1, 0, 0) is the popularity
model; ``behaviour_report`` says on the valid days whether the fit beat it. Served as
``beta_hat = (1 - FLOOR) softmax(logit) + FLOOR / (V - 1)`` so every item keeps support.

``behaviour_report`` checks a model on the valid days: log-loss of the logged items (against the
popularity-only model b_{k,a} alone, and against the logged propensities where there are some) and
a reliability table (see ``reliability``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from recrl.policies import PAD_INDEX
from recrl.states.export import TransitionArrays

FLOOR = 0.01
"""Share of uniform probability mixed into beta_hat: every item keeps beta_hat >= FLOOR / (V - 1)."""
TRANSITION_PSEUDO_COUNT = 10.0
"""M: pseudo-decisions drawn from the item shares that smooth each history item's transition row."""
FIT_STEPS = 300
"""Adam steps of the conditional logit (full batch, or FIT_CELLS-sized batches)."""
FIT_CELLS = 1 << 23
"""At most this many (decision, item) cells per optimisation batch; larger train days are subsampled
to 4 batches' worth."""
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class BehaviourModel:
    """A fitted beta_hat(a | x, k); ``probs`` gives (B, V) rows over the vocabulary (0 at padding)."""

    name: str
    """'estimated' (the conditional logit) or 'popularity' (the per-slot item bias alone)."""
    bias: np.ndarray  # (K, V) b_{k,a}, 0 at padding (masked)
    theta: np.ndarray  # (K, 3) weights of b_{k,a} and the two transition features ((1, 0, 0): 'popularity')
    transition: sp.csr_matrix  # (V, V) log((c(i, a) + M p(a)) / M) - log p(a), zero where c(i, a) = 0
    counts: sp.csr_matrix  # (V, V) c(i, a), for the leave-one-out features of the fit
    log_share: np.ndarray  # (V,) log p(a)
    n_fit: int

    @property
    def slate_size(self) -> int:
        return int(self.bias.shape[0])

    def logits(self, decisions: TransitionArrays) -> np.ndarray:
        """(B, V) logits at each decision's slot; padding at -inf."""
        slots = np.clip(decisions.position, 0, self.slate_size - 1)
        return _logits(self, decisions.states.history_items, slots)

    def probs(self, decisions: TransitionArrays, chunk: int = 4096) -> np.ndarray:
        """(B, V) beta_hat(a | x_i, k_i), floored; each row sums to 1."""
        return np.concatenate([
            _floored_softmax(self.logits(decisions.take(slice(s, s + chunk))))
            for s in range(0, len(decisions), chunk)
        ]) if len(decisions) else np.zeros((0, self.bias.shape[1]))

    def pscore(self, decisions: TransitionArrays, chunk: int = 4096) -> np.ndarray:
        """(B,) beta_hat(a_i | x_i, k_i) of each logged item at its logged slot."""
        out = np.empty(len(decisions))
        for s in range(0, len(decisions), chunk):
            part = decisions.take(slice(s, s + chunk))
            out[s:s + chunk] = _floored_softmax(self.logits(part))[np.arange(len(part)), part.action]
        return out


def _transition_features(model: BehaviourModel, history_items: np.ndarray) -> np.ndarray:
    """(B, V, 2) log P~(a | h_1), log P~(a | h_2) for the newest two history items."""
    newest = [history_items[:, -1], history_items[:, -2] if history_items.shape[1] > 1 else
              np.full(len(history_items), PAD_INDEX)]
    return np.stack([model.transition[h].toarray() + model.log_share for h in newest], axis=2)


def _leave_one_out_features(model: BehaviourModel, train: TransitionArrays) -> np.ndarray:
    """(B, V, 2) transition features of train decisions, each without its own count: a decision's
    logged item is in c(h, a), and fitting theta on in-sample counts would over-trust transitions."""
    history = train.states.history_items
    features = _transition_features(model, history)
    newest = [history[:, -1], history[:, -2] if history.shape[1] > 1 else history[:, -1]]
    share = np.exp(model.log_share[train.action])
    m = TRANSITION_PSEUDO_COUNT
    for f, h in enumerate(newest):
        own = sum((h == other).astype(np.float64) for other in newest)  # this row's count in c(h, a)
        count = np.asarray(model.counts[h, train.action]).ravel()
        features[np.arange(len(train)), train.action, f] = np.log(
            np.maximum(count - own, 0.0) / m + share)
    return features


def _logits(model: BehaviourModel, history_items: np.ndarray, slots: np.ndarray) -> np.ndarray:
    features = _with_bias(model, _transition_features(model, history_items), slots)  # (B, V, 3)
    logits = np.einsum("bvf,bf->bv", features, model.theta[slots])  # (B, V)
    logits[:, PAD_INDEX] = -np.inf
    return logits


def _with_bias(model: BehaviourModel, transitions: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """(B, V, 3): b_{k,a} at each decision's slot, then the two transition features."""
    return np.concatenate([model.bias[slots][:, :, None], transitions], axis=2)


def _floored_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    support = np.ones(probs.shape[1], dtype=bool)
    support[PAD_INDEX] = False
    return (1.0 - FLOOR) * probs + support * (FLOOR / support.sum())


def _log_shares(counts: np.ndarray) -> np.ndarray:
    """log of Laplace-smoothed shares over the vocabulary, padding excluded (-inf there)."""
    smoothed = counts.astype(np.float64) + 1.0
    smoothed[PAD_INDEX] = 0.0
    with np.errstate(divide="ignore"):
        return np.log(smoothed / smoothed.sum())


def fit_behaviour(train: TransitionArrays, vocab_size: int, slate_size: int, seed: int = 0,
                  popularity_only: bool = False) -> BehaviourModel:
    """Fit beta_hat on the train decisions (``popularity_only``: the per-slot item shares alone)."""
    if len(train) == 0:
        raise ValueError("a behaviour model needs train decisions")
    slots = np.clip(train.position, 0, slate_size - 1)
    slot_counts = np.zeros((slate_size, vocab_size))
    np.add.at(slot_counts, (slots, train.action), 1.0)
    bias = np.stack([_log_shares(c) for c in slot_counts])  # (K, V)
    bias[:, PAD_INDEX] = 0.0  # finite, masked in _logits
    log_share = _log_shares(slot_counts.sum(axis=0))
    log_share[PAD_INDEX] = 0.0  # finite, masked in _logits
    share = np.exp(log_share)
    share[PAD_INDEX] = 0.0
    # Both history slots' transitions counted together: one matrix, two weights.
    pairs = np.concatenate([train.states.history_items[:, -1], train.states.history_items[:, -2]
                            if train.states.history_items.shape[1] > 1 else train.states.history_items[:, -1]])
    targets = np.concatenate([train.action, train.action])
    counts = sp.csr_matrix((np.ones(len(pairs)), (pairs, targets)), shape=(vocab_size, vocab_size))
    counts.sum_duplicates()
    rows, cols = counts.nonzero()
    # Feature log P~(a | i) up to a per-row constant that the softmax over a cancels:
    # log((c(i, a) + M p(a)) / M), which is log p(a) wherever c(i, a) = 0; stored sparse minus log p(a).
    values = np.log((np.asarray(counts[rows, cols]).ravel() + TRANSITION_PSEUDO_COUNT * share[cols])
                    / TRANSITION_PSEUDO_COUNT) - log_share[cols]
    transition = sp.csr_matrix((values, (rows, cols)), shape=(vocab_size, vocab_size))
    model = BehaviourModel("popularity", bias, np.tile([1.0, 0.0, 0.0], (slate_size, 1)), transition, counts, log_share, len(train))
    if popularity_only:
        return model
    return _fit_logit(model, train, slots, seed)


def _fit_logit(model: BehaviourModel, train: TransitionArrays, slots: np.ndarray, seed: int) -> BehaviourModel:
    """Maximum likelihood of theta (Adam), starting from the popularity model theta = (1, 0, 0)."""
    rng = np.random.default_rng(seed)
    vocab_size = model.bias.shape[1]
    batch = max(256, FIT_CELLS // vocab_size)
    rows = np.arange(len(train))
    if len(rows) > 4 * batch:
        rows = np.sort(rng.choice(rows, 4 * batch, replace=False))
    features = torch.from_numpy(
        _with_bias(model, _leave_one_out_features(model, train.take(rows)), slots[rows]).astype(np.float32))
    slot_t = torch.from_numpy(slots[rows])
    action_t = torch.from_numpy(train.action[rows])
    torch.manual_seed(seed)
    theta = torch.tensor(model.theta, dtype=torch.float32, requires_grad=True)
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    mask[PAD_INDEX] = True
    optimiser = torch.optim.Adam([theta], lr=0.05)
    order = np.arange(len(rows))
    for _ in range(FIT_STEPS):
        part = torch.from_numpy(order if len(order) <= batch else rng.choice(order, batch, replace=False))
        logits = torch.einsum("bvf,bf->bv", features[part], theta[slot_t[part]])  # (b, V)
        logits = logits.masked_fill(mask, -torch.inf)
        loss = torch.nn.functional.cross_entropy(logits, action_t[part])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return BehaviourModel("estimated", model.bias, theta.detach().double().numpy(), model.transition,
                          model.counts, model.log_share, len(rows))


def reliability(probs: np.ndarray, action: np.ndarray, bins: int = RELIABILITY_BINS) -> tuple[list[dict], float]:
    """Reliability table over every (decision, item) cell, and its calibration error.

    Bin edges are the deciles of beta_hat of the logged items; every cell (i, a) falls in the bin of
    its beta_hat(a | x_i), plus one bin below the first decile. Per bin: ``predicted`` = sum of beta_hat,
    ``observed`` = cells that were the logged item. A calibrated model has predicted ~ observed in each
    bin. ``ece`` = sum_bins |predicted - observed| / B: the probability mass per decision that sits in
    the wrong bin (0 = calibrated, at most 2).
    """
    n = len(action)
    if n == 0:
        return [], float("nan")
    logged = probs[np.arange(n), action]
    edges = np.unique(np.quantile(logged, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    cell_bin = np.searchsorted(edges, probs, side="right")  # (B, V) in 0..len(edges)
    predicted = np.bincount(cell_bin.ravel(), weights=probs.ravel(), minlength=len(edges) + 1)
    observed = np.bincount(np.searchsorted(edges, logged, side="right"), minlength=len(edges) + 1)
    cells = np.bincount(cell_bin.ravel(), minlength=len(edges) + 1)
    lows = np.concatenate([[0.0], edges])
    highs = np.concatenate([edges, [1.0]])
    table = [{"bin": b, "low": float(lows[b]), "high": float(highs[b]), "cells": int(cells[b]),
              "predicted": float(predicted[b]), "observed": int(observed[b])} for b in range(len(edges) + 1)]
    return table, float(np.abs(predicted - observed).sum() / n)


def behaviour_report(model: BehaviourModel, valid: TransitionArrays) -> dict:
    """Log-loss, calibration error and reliability table of ``model`` on the valid decisions."""
    probs = model.probs(valid)
    logged = probs[np.arange(len(valid)), valid.action]
    table, ece = reliability(probs, valid.action)
    return {"model": model.name, "n_fit": model.n_fit, "n": len(valid),
            "log_loss": float(-np.log(logged).mean()) if len(valid) else None,
            "ece": ece if len(valid) else None, "reliability": table}
