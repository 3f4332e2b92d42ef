"""Judge every policy on held-out days: off-policy estimates, the simulator's truth, ranking metrics.

For each logged test decision i (state x_i, shown item a_i at slot k_i, reward r_i, logged propensity
p_i) a policy pi contributes pi(a_i | x_i, k_i): the Plackett-Luce position marginal of its softmax
at the *logged* slot, the same event p_i describes. Off-policy estimators (``recrl.ope``) turn these
into estimates of the policy's expected reward per impression on the test contexts; the simulator's
``true_value`` computes that same quantity exactly, so every estimate can be checked against reality.

Temperatures are chosen on the validation split (largest SNIPS estimate among temperatures whose
effective sample size is at least ``MIN_ESS_SHARE`` of the decisions); the test split is only reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recrl.baselines.cf import ItemKNNPolicy, PopularityPolicy, PureSVDPolicy
from recrl.config import EvalConfig
from recrl.evaluate.ranking import hit_and_ndcg, item_ranks
from recrl.ope import estimate, estimate_all
from recrl.ope.reward_model import cross_fitted_q
from recrl.ope.rows import estimate_rows
from recrl.policies import N_RESERVED, Policy, StateBatch, plackett_luce_slot_marginals, softmax_probs
from recrl.simulate.truth import Simulator, true_value
from recrl.states.export import TransitionArrays
from recrl.states.vocab import Vocabulary

MIN_ESS_SHARE = 0.02
"""A temperature is eligible on validation only if its Kish ESS is at least this share of decisions."""

TruthFn = Callable[[TransitionArrays, np.ndarray, float], np.ndarray]
"""(decisions, scores (B, V), temperature) -> (B,) the policy's true expected reward at each decision."""


def score_states(policy: Policy, states: StateBatch, chunk: int = 2048) -> np.ndarray:
    """(B, V) scores of ``policy`` for every state, computed in chunks."""
    return np.concatenate(
        [policy.item_scores(states.take(slice(s, s + chunk))) for s in range(0, len(states), chunk)]
    )


def decision_probs(scores: np.ndarray, positions: np.ndarray, temperature: float, slate_size: int,
                   chunk: int = 2048) -> np.ndarray:
    """(B, V) pi(a | x_i, k_i) for every item a at each decision's logged slot k_i (k = -1 -> top slot)."""
    slots = np.clip(positions, 0, None)
    return np.concatenate([
        plackett_luce_slot_marginals(softmax_probs(scores[s:s + chunk], temperature), slots[s:s + chunk])
        for s in range(0, len(scores), chunk)
    ])


def choose_temperature(scores: np.ndarray, valid: TransitionArrays, temperatures: Sequence[float],
                       slate_size: int) -> tuple[float, pl.DataFrame]:
    """Temperature with the best validation SNIPS among those with ESS >= MIN_ESS_SHARE * n."""
    rows = []
    for temperature in temperatures:
        probs = decision_probs(scores, valid.position, temperature, slate_size)
        action_prob = probs[np.arange(len(valid)), valid.action]
        # Only the point value and the ESS are used here, so one resample is enough.
        snips = estimate("snips", reward=valid.reward, pscore=valid.propensity, action_prob=action_prob,
                         n_bootstrap=1)
        rows.append({"temperature": float(temperature), "snips": snips.value, "ess": snips.ess})
    table = pl.DataFrame(rows)
    eligible = table.filter(pl.col("ess") >= MIN_ESS_SHARE * len(valid))
    if eligible.height == 0:  # every temperature is too sharp: take the flattest
        return float(max(temperatures)), table
    return float(eligible.sort("snips", descending=True)["temperature"][0]), table


@dataclass(frozen=True)
class RewardFeatures:
    """Features of (state, item, slot) for the cross-fitted reward model q_hat(x, a, k) of DM / DR.

    Per candidate item: standardised log-popularity, item-kNN and PureSVD affinity to the history,
    and a one-hot of the slot (the position bias).
    """

    popularity: PopularityPolicy
    item_knn: ItemKNNPolicy
    pure_svd: PureSVDPolicy
    slate_size: int

    def candidates(self, states: StateBatch, positions: np.ndarray) -> np.ndarray:
        """(B, V, F) features of every item at each decision's slot."""
        per_item = [p.item_scores(states) for p in (self.popularity, self.item_knn, self.pure_svd)]
        batch, n_items = per_item[0].shape
        slot = np.zeros((batch, n_items, self.slate_size))
        slot[np.arange(batch), :, np.clip(positions, 0, None)] = 1.0
        return np.concatenate([np.stack(per_item, axis=2), slot], axis=2)


def fit_reward_model(features: RewardFeatures, decisions: TransitionArrays, config: EvalConfig,
                     earlier: TransitionArrays | None = None, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted q_hat: (q_logged (B,), q_candidates (B, V)), each row predicted by a model that never
    saw its fold (Chernozhukov et al. 2018; the DR convention of obp). ``earlier`` decisions (the train
    and valid days) join every fold's training rows: more data, and none of it shares a reward with
    the evaluated rows."""

    def logged_features(batch: TransitionArrays) -> np.ndarray:
        """(B, F) features of each logged item at its slot, built in chunks: (B, V, F) at once is too big."""
        return np.concatenate([
            features.candidates(batch.states.take(part), batch.position[part])[np.arange(len(part)), batch.action[part]]
            for part in np.array_split(np.arange(len(batch)), max(1, -(-len(batch) // chunk)))
        ])

    def candidate_features(subset: np.ndarray) -> np.ndarray:
        return features.candidates(decisions.states.take(subset), decisions.position[subset])

    has_earlier = earlier is not None and len(earlier) > 0
    return cross_fitted_q(
        None, logged_features(decisions), decisions.reward, candidate_features,  # None: default_reward_model(seed)
        n_folds=config.reward_model_folds, seed=config.seed, chunk_rows=chunk,
        x_extra=logged_features(earlier) if has_earlier else None,
        reward_extra=earlier.reward if has_earlier else None,
    )


@dataclass(frozen=True)
class PolicyResult:
    """One policy's rows for the warehouse."""

    policy: dict
    estimates: list[dict]
    ranking: list[dict]


def evaluate_policy(policy: Policy, kind: str, valid: TransitionArrays, test: TransitionArrays,
                    q_logged: np.ndarray, q_candidates: np.ndarray, config: EvalConfig, temperatures: Sequence[float],
                    slate_size: int, truth: TruthFn | None) -> PolicyResult:
    """Choose the temperature on valid, then estimate, rank and (simulator) measure the truth on test."""
    temperature, _ = choose_temperature(score_states(policy, valid.states), valid, temperatures, slate_size)
    policy.temperature = temperature
    scores = score_states(policy, test.states)  # (B, V)
    probs = decision_probs(scores, test.position, temperature, slate_size)  # (B, V)
    rows = np.arange(len(test))
    true_value = float(truth(test, scores, temperature).mean()) if truth is not None else None
    estimates = estimate_all(
        config.estimators, reward=test.reward, pscore=test.propensity, action_prob=probs[rows, test.action],
        q_logged=q_logged, q_policy=(probs * q_candidates).sum(axis=1), lambda_=config.clip_lambda,
        alpha=config.alpha, n_bootstrap=config.n_bootstrap, seed=config.seed,
    )
    ranking = []
    for target in ("click", "purchase"):
        # The unknown item (index 1) has no score to rank: such decisions are not counted.
        positive = (getattr(test, target) > 0) & (test.action >= N_RESERVED)
        ranks = item_ranks(scores[positive], test.action[positive])
        for (metric, k), value in hit_and_ndcg(ranks, config.cutoffs).items():  # value None when n = 0
            ranking.append({"policy": policy.name, "split": "test", "target": target, "metric": metric,
                            "k": k, "value": value, "n": int(positive.sum())})
    return PolicyResult(
        policy={"policy": policy.name, "kind": kind, "temperature": temperature, "true_value": true_value},
        estimates=estimate_rows(estimates, policy=policy.name, split="test", true_value=true_value),
        ranking=ranking,
    )


def simulator_truth(simulator: Simulator, truth_dir: Path, vocab: Vocabulary, reward_click: float,
                    reward_purchase: float, slate_size: int, chunk: int = 1024) -> TruthFn:
    """TruthFn of the simulator: R(x, a, k) of the hidden user state at each logged request."""
    vocab_index = vocab.index_of(simulator.item_ids)  # (n_items,); items outside the vocabulary -> 1 (prob 0)

    def truth(decisions: TransitionArrays, scores: np.ndarray, temperature: float) -> np.ndarray:
        values = []
        for start in range(0, len(decisions), chunk):
            rows = slice(start, start + chunk)
            slots = decisions.position[rows]
            at_slot = decision_probs(scores[rows], slots, temperature, slate_size)[:, vocab_index]  # (b, n_items)
            marginals = np.zeros(at_slot.shape + (slate_size,))  # true_value reads only the logged slot
            marginals[np.arange(len(slots)), :, slots] = at_slot
            rewards = simulator.expected_rewards(truth_dir, decisions.request_id[rows], reward_click, reward_purchase)
            values.append(true_value(rewards, marginals, slots))
        return np.concatenate(values)

    return truth
