"""CF prior of the residual actor: a tuned baseline's item scores, standardised per state.

With ``AgentConfig.prior`` set, the actor's logits are a learned correction on top of a collaborative-
filtering baseline (residual policy learning, Silver et al. 2018; Johannink et al., ICRA 2019; the CF
candidate prior + RL re-ranker of production recommenders):

    logits(s, a) = f_theta(s, a) + alpha z(p(s))_a
    z(x)_a = (x_a - mean_b x_b) / (std_b x_b + eps)         (b over the non-reserved items)

p(s) (V,) the prior's ``item_scores`` for state s, alpha a learned scalar (``ActorCritic.prior_weight``,
initialised to ``AgentConfig.prior_weight``). The actor-critic's losses (``recrl.agents.actor_critic``)
then train f_theta and alpha on these logits, so the RL and supervised terms learn what the prior misses
instead of relearning what a kNN gets for free from little data. z makes the prior's scale the same for
every state and every baseline kind (their raw scores are scaled to a best item of 1, plus popularity).

The prior is fitted on the train split and tuned on valid (``recrl.baselines.tuning``, never test), scored
per batch on the fly (no T x V array), and saved with the checkpoint (``recrl.baselines.store``).

A prior may also read the item titles: ``'text'`` is the tuned text agent (``recrl.agents.text``: cosine of
each title to the history's titles, plus exposure-debiased popularity), and ``'session-knn+text'`` the
ensemble of it and session-kNN, co-occurrence and content counted equally. Where the lake has no titles
(OBD, OTTO) that ensemble keeps its CF member alone (logged); ``'text'`` alone is then an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from recrl.baselines.cf import ItemKNNPolicy, PureSVDPolicy, SessionKNNPolicy
from recrl.baselines.interactions import Interactions
from recrl.baselines.store import POLICY_KINDS, load_baseline, save_baseline
from recrl.baselines.tuning import make_criterion, tune
from recrl.config import BaselineConfig
from recrl.policies import N_RESERVED, StateBatch

PRIOR_CLASSES = {cls.kind: cls for cls in (SessionKNNPolicy, ItemKNNPolicy, PureSVDPolicy)}
"""The CF baselines a prior may be, by ``kind``; 'best' chooses among all of them."""
TEXT = "text"
"""The text agent as a prior (``recrl.agents.text.TextPolicy.kind``): it needs the items' title embeddings."""
ENSEMBLES = {"session-knn+pure-svd": ("session-knn", "pure-svd"), "session-knn+text": ("session-knn", TEXT)}
"""Priors that average several tuned policies' standardised scores (``PriorEnsemble``), by name."""
PRIOR_DIR = "actor_critic_prior"
"""Folder of the prior inside a model folder (``recrl.baselines.store`` format)."""
EPS = 1e-6

log = logging.getLogger(__name__)


def standardise(scores: np.ndarray) -> np.ndarray:
    """(B, V) float32 z(x): each row centred and scaled over the non-reserved items (reserved ones 0)."""
    items = scores[:, N_RESERVED:]
    z = np.zeros(scores.shape, dtype=np.float32)
    z[:, N_RESERVED:] = (items - items.mean(axis=1, keepdims=True)) / (items.std(axis=1, keepdims=True) + EPS)
    return z


class PriorEnsemble:
    """Several tuned CF baselines as one prior: p(s) = mean_j z(p_j(s)), each member standardised first,
    so neighbourhood and factor models count equally whatever their score scales."""

    def __init__(self, kind: str, members: list) -> None:
        self.kind, self.members = kind, members

    def item_scores(self, states: StateBatch) -> np.ndarray:
        return np.mean([standardise(member.item_scores(states)) for member in self.members], axis=0)


def prior_z(prior, states: StateBatch) -> np.ndarray:
    """(B, V) z(p(s)) of every state in ``states``."""
    return standardise(prior.item_scores(states))


def choose_prior(kind: str, baselines: list):
    """The prior ``kind`` names among tuned baselines (``'best'``: the CF one with the best valid
    criterion, eligible first); None for ``'none'``."""
    if kind == "none":
        return None
    if kind in ENSEMBLES:  # a text member without titles was never fitted: the others make the ensemble
        present = [member for member in ENSEMBLES[kind] if member != TEXT or any(b.kind == TEXT for b in baselines)]
        return PriorEnsemble(kind, [choose_prior(member, baselines) for member in present])
    candidates = [b for b in baselines if (kind == "best" and b.kind in PRIOR_CLASSES) or b.kind == kind]
    if not candidates:
        raise ValueError(f"no fitted baseline of kind {kind!r} to use as the prior")
    if kind != "best":
        return candidates[0]

    def key(baseline) -> tuple[bool, float]:
        tuning = baseline.tuning or {}
        trial = tuning.get("trials", [{}])[tuning.get("chosen", 0)] if tuning else {}
        return bool(trial.get("eligible", True)), float(tuning.get("score", -np.inf))

    return max(candidates, key=key)  # ties: the earlier of PRIOR_CLASSES


def prior_members(kind: str) -> list[str]:
    """The policy kinds the prior ``kind`` is made of (an ensemble's members, every CF kind for 'best')."""
    return list(ENSEMBLES.get(kind, list(PRIOR_CLASSES) if kind == "best" else [kind]))


def fit_prior(
    kind: str, interactions: Interactions, config: BaselineConfig, valid=None, slate_size: int | None = None,
    item_embeddings: np.ndarray | None = None,
):
    """The prior ``kind`` fitted on ``interactions`` (train) and tuned on ``valid`` like the baselines
    (``recrl.baselines.tuning``); only the kinds needed are fitted. None for ``'none'``.
    ``item_embeddings`` (V, D): the title embeddings a text member reads (None: the lake has no titles)."""
    if kind == "none":
        return None
    kinds = prior_members(kind)
    if TEXT in kinds and item_embeddings is None:
        if kind == TEXT:
            raise ValueError("agent.prior 'text' needs item titles, and the lake's items table has none")
        log.info("prior %s: the lake has no item titles, the text member is left out", kind)
        kinds = [k for k in kinds if k != TEXT]
    tuned = valid is not None and len(valid) > 0 and config.tuning_trials > 1
    rule = make_criterion(valid, config, slate_size) if tuned else None
    fitted = []
    for member in kinds:
        if member == TEXT:
            from recrl.agents.text import fit_text_policy  # text -> protocol -> actor_critic -> this module

            fitted.append(fit_text_policy(interactions, item_embeddings, config, valid, slate_size))  # tuned as above
        elif tuned:
            fitted.append(tune(PRIOR_CLASSES[member], interactions, config, rule))
        else:
            policy = PRIOR_CLASSES[member](interactions, config)
            policy.tuning = None
            fitted.append(policy)
    return choose_prior(kind, fitted)


def save_prior(prior, directory: Path) -> None:
    """Save ``prior`` (if any) into the model folder ``directory``."""
    if isinstance(prior, PriorEnsemble):  # one folder per member, by kind
        for member in prior.members:
            save_baseline(member, Path(directory) / PRIOR_DIR / member.kind)
    elif prior is not None:
        save_baseline(prior, Path(directory) / PRIOR_DIR)


def load_prior(directory: Path, kind: str):
    """The prior saved in the model folder ``directory`` (None for ``kind`` 'none')."""
    if kind == "none":
        return None
    folder = Path(directory) / PRIOR_DIR
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: the checkpoint's config names prior {kind!r} but it was not saved"
        )
    from recrl.agents.text import TextPolicy  # text -> protocol -> actor_critic -> this module

    kinds = {**POLICY_KINDS, TEXT: TextPolicy}
    if kind in ENSEMBLES:  # the members saved (a text member is not, where the lake had no titles)
        members = [load_baseline(folder / member, kinds) for member in ENSEMBLES[kind] if (folder / member).is_dir()]
        return PriorEnsemble(kind, members)
    return load_baseline(folder, kinds)
