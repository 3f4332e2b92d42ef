"""Judge every policy on held-out days: off-policy estimates, the simulator's truth, ranking metrics.

For each logged test decision i (state x_i, shown item a_i at slot k_i, reward r_i, logged propensity
p_i) a policy pi contributes pi(a_i | x_i, k_i): the Plackett-Luce position marginal of its softmax
at the *logged* slot, the same event p_i describes. Off-policy estimators (``recrl.ope``) turn these
into estimates of the policy's expected reward per impression on the test contexts; the simulator's
``true_value`` computes that same quantity exactly, so every estimate can be checked against reality.

Exploration is a measured choice, made on the **validation** split (the reward model cross-fitted on
the valid days with the train days as extra rows; no test data): each policy serves its sharpest
temperature unless a softer one's DR is higher by a paired lower bound on the same decisions
(``choose_temperature``, rule "anchored"; the rule "lcb", the highest DR - z std_err, trades value
against the ability to evaluate: HCOPE, Thomas et al. 2015; SCOPE-RL's lower-bound selection). The test
split is only reported.
Temperature ``GREEDY`` (0) is the greedy slate, slot k the k-th ranked item with the uniform share
(``recrl.policies``): every policy's sharpest serving point, and what "serving greedily" means when the
value given up by exploring is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import polars as pl

from recrl.baselines.cf import ItemKNNPolicy, PopularityPolicy, PureSVDPolicy
from recrl.config import TEMPERATURE_RULES, EvalConfig, TemperatureRule
from recrl.evaluate.ranking import hit_and_ndcg, item_ranks
from recrl.ope import estimate, estimate_all
from recrl.ope.reward_model import cross_fitted_q
from recrl.ope.rows import estimate_rows
from recrl.policies import N_RESERVED, Policy, StateBatch, served_slot_probs
from recrl.simulate.truth import Simulator, true_value
from recrl.states.export import TransitionArrays
from recrl.states.vocab import Vocabulary

MIN_ESS_SHARE = 0.02
"""Kish ESS share below which a baseline configuration's validation SNIPS is not trusted
(``recrl.baselines.tuning`` reads it with the ``snips`` and ``ess`` columns of ``choose_temperature``)."""

TruthFn = Callable[[TransitionArrays, np.ndarray, float], np.ndarray]
"""(decisions, scores (B, V), temperature) -> (B,) the policy's true expected reward at each decision."""


def score_states(policy: Policy, states: StateBatch, chunk: int = 2048) -> np.ndarray:
    """(B, V) scores of ``policy`` for every state, computed in chunks."""
    return np.concatenate(
        [policy.item_scores(states.take(slice(s, s + chunk))) for s in range(0, len(states), chunk)]
    )


def decision_probs(scores: np.ndarray, positions: np.ndarray, temperature: float, slate_size: int,
                   chunk: int = 2048) -> np.ndarray:
    """(B, V) pi(a | x_i, k_i) for every item a at each decision's logged slot k_i (k = -1 -> top slot): the
    position marginal of the slate served at ``temperature`` (``recrl.policies.served_slot_probs``; the
    greedy slate at ``GREEDY``)."""
    return served_slot_probs(scores, np.clip(positions, 0, None), temperature, chunk)


def choose_temperature(scores: np.ndarray, valid: TransitionArrays, temperatures: Sequence[float],
                       slate_size: int, q_logged: np.ndarray | None = None, q_candidates: np.ndarray | None = None,
                       z: float | None = None, rule: TemperatureRule | None = None,
                       settings: EvalConfig | None = None) -> tuple[float, pl.DataFrame]:
    """The serving temperature chosen on the valid split, and the table of candidates.

        c_i(T) = sum_a pi_T(a | x_i, k_i) q_hat(x_i, a, k_i) + w_i (r_i - q_hat(x_i, a_i, k_i)),
                 w_i = pi_T(a_i | x_i, k_i) / p_i                        (unclipped: no clipping bias)
        DR(T)  = mean_i c_i(T);  LCB(T) = DR(T) - z std_err(DR(T))       (std_err floored by q_hat)
        g_i(T) = c_i(T) - c_i(T_0),  T_0 the sharpest temperature;  LB(T) = mean g(T) - z_a std_err(g(T))

    ``settings`` (default ``EvalConfig()``) gives the rule and its levels; ``z`` and ``rule`` override them.
    ``rule``:
    - "anchored": T_0 unless a softer temperature's paired lower bound LB(T) is above 0, then the one with
      the highest LB; z_a = Phi^-1(1 - alpha / (N - 1)), one-sided, Bonferroni over the N - 1 softer
      temperatures (alpha: ``temperature_alpha``). Paired on the same decisions, the difference's
      noise is far below either DR's, so a sharp policy is not pushed soft by its own wide interval.
    - "lcb": the highest LCB(T) (z: ``temperature_z``); a sharp softmax's heavy weights widen its
      bound, so this trades value for the ability to evaluate (HCOPE, Thomas et al. 2015).

    ``q_logged`` (n,) and ``q_candidates`` (n, V) come from a reward model that never saw the valid
    rows' own fold (``fit_reward_model`` on valid); without them q_hat = 0 and DR is IPS. Ties go to
    the first temperature given. The table also holds each temperature's standard error (``dr_std_err``,
    floored; ``dr_std_err_empirical``, the per-row contributions' alone), the paired ``gain`` over T_0 with
    its ``gain_std_err`` and ``gain_lb``, SNIPS and Kish ESS.
    """
    n = len(valid)
    settings = EvalConfig() if settings is None else settings
    z = settings.temperature_z if z is None else z
    rule = settings.temperature_rule if rule is None else rule
    if rule not in TEMPERATURE_RULES:
        raise ValueError(f"temperature rule must be one of {TEMPERATURE_RULES}, got {rule!r}")
    q_logged = np.zeros(n) if q_logged is None else q_logged
    rows, contributions = [], []
    for temperature in temperatures:
        probs = decision_probs(scores, valid.position, temperature, slate_size)
        q_policy = (probs * q_candidates).sum(axis=1) if q_candidates is not None else np.zeros(n)
        # Only the point value, the standard error and the ESS are read, so one resample is enough.
        dr = estimate("dr", reward=valid.reward, pscore=valid.propensity,
                      action_prob=probs[np.arange(n), valid.action], q_logged=q_logged, q_policy=q_policy,
                      n_bootstrap=1)
        weight = probs[np.arange(n), valid.action] / valid.propensity  # (n,) w_i
        contributions.append(dr.contributions)
        rows.append({"temperature": float(temperature), "dr": dr.value, "dr_lcb": dr.value - z * dr.std_err,
                     "dr_std_err": dr.std_err,
                     "dr_std_err_empirical": float(dr.contributions.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                     "snips": float((weight * valid.reward).sum() / weight.sum()), "ess": dr.ess})
    sharpest = int(np.argmin(temperatures))
    z_anchor = NormalDist().inv_cdf(1.0 - settings.temperature_alpha / max(len(rows) - 1, 1))
    for row, contribution in zip(rows, contributions, strict=True):
        gain = contribution - contributions[sharpest]  # (n,) g_i(T)
        gain_std_err = float(gain.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        row |= {"gain": float(gain.mean()), "gain_std_err": gain_std_err,
                "gain_lb": float(gain.mean()) - z_anchor * gain_std_err}
    table = pl.DataFrame(rows)
    if rule == "lcb":
        best = int(np.argmax(table["dr_lcb"].to_numpy()))
    else:
        bounds = table["gain_lb"].to_numpy().copy()
        bounds[sharpest] = -np.inf
        best = int(np.argmax(bounds)) if bounds.max() > 0 else sharpest
    return float(table["temperature"][best]), table


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
                    slate_size: int, truth: TruthFn | None,
                    valid_q: tuple[np.ndarray, np.ndarray] | None = None) -> PolicyResult:
    """Choose the temperature on valid (``choose_temperature``; ``valid_q`` = the valid split's
    (q_logged, q_candidates)), then estimate, rank and (simulator) measure the truth on test."""
    temperature, _ = choose_temperature(score_states(policy, valid.states), valid, temperatures, slate_size,
                                        *(valid_q or (None, None)), settings=config)
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
