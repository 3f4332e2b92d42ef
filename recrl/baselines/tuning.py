"""Fit every baseline, tuned per world on the validation days by an explicit criterion; never on test.

For each baseline a bounded random search (``BaselineConfig.tuning_trials`` configurations, the
untuned defaults first, then seeded draws from ``SEARCH_SPACES``) fits on the train split and scores
the *served* policy on the valid split:

Scored decisions: those at the first ``tuning_slots`` slots (cheap exact marginals), at most
``tuning_max_decisions`` of them (a seeded sample).

- ``snips``: the self-normalised IPS estimate sum w r / sum w (w = pi(a_i | x_i, k_i) / p_i) at the
  temperature ``recrl.evaluate.offpolicy.choose_temperature`` picks (without a reward model: the highest
  IPS lower bound, z = ``TUNING_TEMPERATURE_Z``); configurations whose chosen temperature has a Kish ESS
  below ``MIN_ESS_SHARE`` n rank below every one that meets it. Needs logged propensities.
- ``ndcg@k``: NDCG@k of the logged positive item among all items (``recrl.evaluate.ranking``), for
  logs without propensities (implicit sequences).

The highest valid score wins (ties: the earlier configuration, so the defaults win ties), but it
replaces the defaults only where its paired gain over them on the same validation decisions exceeds
``tuning_z`` standard errors (an HCOPE-style guard, Thomas et al. 2015: with a small validation day the
best of a dozen noisy scores is often noise, and SNIPS under heavy-tailed weights favours whatever
is close to the logger). The search
record, every configuration with its valid score, is returned on each policy as ``policy.tuning``
(JSON-able) so the evaluation stage can store it; ``recrl.baselines.store`` saves it beside the parameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from recrl.baselines.cf import ItemKNNPolicy, PureSVDPolicy, SessionKNNPolicy
from recrl.baselines.interactions import Interactions
from recrl.baselines.popularity import PopularityPolicy, default_basis
from recrl.baselines.store import save_baseline
from recrl.config import BaselineConfig
from recrl.evaluate.ranking import hit_and_ndcg, item_ranks
from recrl.policies import slate_size_of

TUNING_TEMPERATURE_Z = NormalDist().inv_cdf(0.975)
"""z of the IPS lower bound that picks each configuration's temperature while tuning: the level the tuned
baselines were measured with (the served temperature is chosen afterwards by ``EvalConfig.temperature_rule``)."""

log = logging.getLogger(__name__)

BASELINES = (PopularityPolicy, ItemKNNPolicy, SessionKNNPolicy, PureSVDPolicy)
"""Every baseline, in the order ``fit_baselines`` returns them."""

_HISTORY = {
    "decay": (0.2, 0.4, 0.6, 0.8, 1.0),
    "history_len": (1, 2, 3, 5, 10),
    "pop_weight": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
}
SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    "popularity": {"prior": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0), "position_adjusted": (False, True)},
    "item-knn": _HISTORY
    | {"neighbors": (10, 20, 50, 100, 200), "shrink": (0.0, 5.0, 20.0, 100.0), "sequential": (False, True)},
    "session-knn": _HISTORY | {"neighbors": (20, 50, 100, 200, 500), "sample": (250, 500, 1000, 2500, 10000)},
    "pure-svd": _HISTORY | {"n_factors": (4, 8, 16, 32, 64, 128)},
    "text": _HISTORY,  # the text agent (recrl.agents.text): title similarity to the same history bag
}
"""Values the random search draws from, per baseline ``kind`` (each hyperparameter independently)."""


def default_hyperparameters(policy_class: type, interactions: Interactions, config: BaselineConfig) -> dict:
    if policy_class is PopularityPolicy:
        return {
            "basis": default_basis(interactions),
            "prior": float(config.popularity_prior),
            "position_adjusted": False,
        }
    return policy_class.default_hyperparameters(config)


def candidate_configurations(
    policy_class: type, interactions: Interactions, config: BaselineConfig
) -> list[dict]:
    """The defaults, then up to ``tuning_trials - 1`` distinct seeded draws from the search space."""
    defaults = default_hyperparameters(policy_class, interactions, config)
    space = SEARCH_SPACES[policy_class.kind]
    if policy_class is PopularityPolicy and not interactions.has_exposure:
        space = {}  # count popularity has nothing to tune
    candidates = [defaults]
    rng = np.random.default_rng([config.tuning_seed, len(candidates[0]), len(policy_class.kind)])
    size = int(np.prod([len(v) for v in space.values()])) if space else 1
    for _ in range(50 * config.tuning_trials):
        if len(candidates) >= min(config.tuning_trials, size + 1):
            break
        draw = defaults | {name: values[rng.integers(len(values))] for name, values in space.items()}
        draw = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in draw.items()}
        if draw not in candidates:
            candidates.append(draw)
    return candidates


@dataclass(frozen=True)
class ValidCriterion:
    """How a configuration is scored on the validation decisions (``decisions``: TransitionArrays)."""

    name: str
    decisions: object
    temperatures: tuple[float, ...]
    slate_size: int

    def score(self, policy) -> dict:
        """{'score', 'temperature', 'ess', 'eligible'} of ``policy`` on the validation decisions."""
        # recrl.evaluate.offpolicy imports recrl.baselines.cf (reward-model features): imported here so
        # that importing either package first works.
        from recrl.evaluate.offpolicy import MIN_ESS_SHARE, choose_temperature, decision_probs, score_states

        valid = self.decisions
        scores = score_states(policy, valid.states)  # (B, V)
        if self.name == "snips":
            temperature, table = choose_temperature(scores, valid, self.temperatures, self.slate_size,
                                                    z=TUNING_TEMPERATURE_Z, rule="lcb")
            row = table.filter(table["temperature"] == temperature).row(0, named=True)
            probs = decision_probs(scores, valid.position, temperature, self.slate_size)
            weight = probs[np.arange(len(valid)), valid.action] / valid.propensity  # (B,) w_i
            # Per-row SNIPS contributions, mean = the estimate: V + w_i (r_i - V) / mean(w).
            per_row = row["snips"] + weight * (valid.reward - row["snips"]) / weight.mean()
            return {
                "score": float(row["snips"]),
                "temperature": temperature,
                "ess": float(row["ess"]),
                "eligible": bool(row["ess"] >= MIN_ESS_SHARE * len(valid)),
                "per_row": per_row,
            }
        k = int(self.name.split("@")[1])
        positive = valid.reward > 0
        ranks = item_ranks(scores[positive], valid.action[positive])
        per_row = (ranks < k) / np.log2(ranks + 2.0)  # (P,) NDCG@k of each positive decision
        return {
            "score": hit_and_ndcg(ranks, (k,))[("ndcg", k)],
            "temperature": float(policy.temperature),
            "ess": None,
            "eligible": bool(positive.any()),
            "per_row": per_row,
        }


def make_criterion(
    valid, config: BaselineConfig, slate_size: int | None = None, criterion: str | None = None
) -> ValidCriterion:
    """The criterion ``criterion`` (default ``config.tuning_criterion``) on a seeded sample of ``valid``."""
    name = criterion or config.tuning_criterion
    has_propensity = len(valid) > 0 and bool(np.isfinite(valid.propensity).all())
    if name == "auto":
        name = "snips" if has_propensity else "ndcg@10"
    if name == "snips" and not has_propensity:
        raise ValueError("tuning criterion 'snips' needs a logged propensity on every validation decision")
    if name != "snips" and not (name.startswith("ndcg@") and name[5:].isdigit()):
        raise ValueError(f"tuning criterion must be 'snips', 'ndcg@<k>' or 'auto', got {name!r}")
    slate_size = slate_size or slate_size_of(valid.position)
    if config.tuning_slots > 0:
        valid = valid.take(np.flatnonzero(valid.position < config.tuning_slots))  # sequence slot -1 stays
    if 0 < config.tuning_max_decisions < len(valid):
        rng = np.random.default_rng(config.tuning_seed)
        valid = valid.take(np.sort(rng.choice(len(valid), config.tuning_max_decisions, replace=False)))
    if len(valid) == 0:
        raise ValueError("no validation decision left to tune on (tuning_slots / tuning_max_decisions)")
    return ValidCriterion(name, valid, tuple(config.temperatures), slate_size)


def tune(policy_class: type, interactions: Interactions, config: BaselineConfig, criterion: ValidCriterion,
         build=None):
    """The best configuration of ``policy_class`` on ``criterion``, fitted, with ``.tuning`` recorded.

    ``build(interactions, config, **params)`` makes each candidate (default ``policy_class``; the text
    agent binds its item embeddings this way)."""
    trials, per_row, best, best_key, best_index = [], [], None, None, 0
    for index, params in enumerate(candidate_configurations(policy_class, interactions, config)):
        policy = (build or policy_class)(interactions, config, **params)
        result = criterion.score(policy)
        per_row.append(result.pop("per_row"))
        trials.append({"hyperparameters": params} | result)
        key = (result["eligible"], result["score"])
        if best is None or key > best_key:  # strict: ties keep the earlier configuration
            best, best_key, best_index = policy, key, index
        if index == 0:
            defaults = policy
        log.info("%s trial %d %s: %s %.5f", policy_class.kind, index, params, criterion.name, result["score"])
    gain, std_err = paired_gain(per_row[best_index], per_row[0])
    guarded = best_index != 0 and trials[0]["eligible"] and gain <= config.tuning_z * std_err
    if guarded:  # not clearly better than the defaults on this much validation data: keep them
        best, best_index = defaults, 0
    best.temperature = trials[best_index]["temperature"]
    best.tuning = {
        "criterion": criterion.name,
        "n_decisions": len(criterion.decisions),
        "chosen": best_index,
        "score": trials[best_index]["score"],
        "default_score": trials[0]["score"],
        "best_gain": gain,
        "best_gain_std_err": std_err,
        "kept_defaults": bool(guarded),
        "trials": trials,
    }
    return best


def paired_gain(candidate: np.ndarray, incumbent: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the per-row difference of two configurations on the same decisions."""
    difference = np.asarray(candidate) - np.asarray(incumbent)
    if len(difference) < 2:
        return float(difference.mean()) if len(difference) else 0.0, float("inf")
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference)))


def fit_baselines(
    interactions: Interactions,
    config: BaselineConfig,
    valid=None,
    slate_size: int | None = None,
    save_dir: str | Path | None = None,
    criterion: str | None = None,
) -> list:
    """Every baseline fitted on the training interactions: tuned on ``valid`` (TransitionArrays of the
    validation days) when given and ``config.tuning_trials`` > 1, else with the config's defaults.

    ``criterion`` overrides ``config.tuning_criterion``; ``save_dir`` saves each as ``{save_dir}/{name}/``.
    """
    tuned = valid is not None and len(valid) > 0 and config.tuning_trials > 1
    rule = make_criterion(valid, config, slate_size, criterion) if tuned else None
    policies = []
    for policy_class in BASELINES:
        if tuned:
            policy = tune(policy_class, interactions, config, rule)
        else:
            policy = policy_class(
                interactions, config, **default_hyperparameters(policy_class, interactions, config)
            )
            policy.tuning = None
        policies.append(policy)
        if save_dir is not None:
            save_baseline(policy, Path(save_dir) / policy.name)
    return policies
