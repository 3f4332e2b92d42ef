"""The coordinator: several agents fused into one stochastic slate policy, chosen on the valid days.

Each member j serves p_j(. | s) = softmax_probs(scores_j(s) / T_j) at its own temperature (chosen on valid
like every policy). A fusion turns the members into team scores f(s, a); the team is then served like
any policy, softmax_probs(f / T) as a Plackett-Luce slate (``recrl.policies``), so its probabilities are
exact and it is evaluated exactly like every agent (``recrl.evaluate.offpolicy.evaluate_policy``).

    average   f(s, a) = sum_j w_j log p_j(a | s)              (normalised scores: log served probabilities;
                                                                 a weighted geometric mean of the members)
    borda     f(s, a) = z_s( sum_j w_j (V' - 1 - rank_j(a | s)) )  (rank voting, V' = V - 2 servable items;
                                                                 z_s standardises over the items of state s)
    gate      f(s, a) = sum_j g_j(s) log p_j(a | s),  g(s) = softmax(G phi(s))     (a learned gate)

phi(s) = (1, share of the history filled, share of history events that are carts or purchases): how much
is known about the user and how close to buying. The gate G (M x 3) is fitted off-policy on the valid
days by the inverse-propensity-weighted log-likelihood of the decisions that earned a reward,

    L(G) = - sum_i u_i r_i log pi_G(a_i | s_i) / sum_i u_i r_i + l2 |G|^2,    u_i = 1 / p_i

(the IPS objective the actor-critic's actor uses; E_beta[u r log pi] = sum_a r(s, a) log pi(a | s), so the
gate learns which member's answer users reward, not which items the logger showed). The gate is not
fitted on the train days, where every member has seen the answers (the gate would trust the most
over-fitted member), and never on the test days. To choose among fusions on the same valid days the
gate's valid score is cross-fitted: valid users are split into ``gate_folds`` folds and each fold is
scored by a gate fitted on the other folds; the gate served on test is fitted on all of valid.

Choice rule (static weights, the team's temperature and the fusion, all on valid; CASP-style selection
among policies by DR with a penalty for weakly supported items). The choice reads valid decisions the
members were not tuned on (``CoordinatorConfig.choice``), so a member that over-fitted its tuning
decisions is not favoured twice: 'crossfit' scores each fold of users with the members' temperatures
chosen on the other fold (``member_temperatures``), 'split' a share of users no member was tuned on
(``choice_rows``). For a candidate c served at temperature T_c with position marginals
pi_c(a | s_i, k_i) on those decisions:

    LCB_c   = DR_c - z_{1 - alpha} se(DR_c)                              (``lcb_alpha``; DR clipped at eval.clip_lambda)
    weak_c  = mean_i sum_{a : n_valid(a) < min_support} pi_c(a | s_i, k_i)  (served mass on items shown fewer than
                                                                           ``min_support`` times on valid)
    score_c = LCB_c - kappa weak_c                                       (kappa = ``support_penalty``)

DR of a policy that puts its mass on rarely shown items rests on the reward model alone there; the
penalty prices that extrapolation. Every agent alone is a candidate (the one-hot average: its own served
distribution), so the team falls back on the best single agent where no fusion scores higher. Static
weights: every combination of ``weight_grid`` values over the ``max_members`` agents with the best score
alone, normalised to sum 1. T_c is 1 for the average (a weighted geometric mean
of distributions already served at their members' valid temperatures) and the best-scoring of the
given temperatures for Borda and the gate, whose scores have no scale of their own. The served team is
the candidate with the best score.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from scipy.stats import norm

from recrl.agents.protocol import Agent, load_agent, register_loader, write_agent_file
from recrl.config import CoordinatorConfig, EvalConfig
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.ope import estimate
from recrl.policies import N_RESERVED, StateBatch, softmax_probs
from recrl.states.export import TransitionArrays

FUSIONS: tuple[str, ...] = ("average", "borda", "gate")
GATE_L2 = 1e-3
"""l2 of the gate's matrix: keeps it finite where one member wins every positive."""
MEMBER_FLOOR = 1e-6
"""Uniform floor of a member's probabilities before the log (``log_served``): a member's vote can lower an
item's fused score by at most w_j log(V' / 1e-6), so one sharp member does not veto what the others favour.
(The served softmax's own floor, ``recrl.policies.SOFTMAX_FLOOR``, is only numerical.)"""


def log_served(agent: Agent, states: StateBatch, temperatures: np.ndarray | None = None) -> np.ndarray:
    """(B, V) log p_j(a | s) of what ``agent`` serves at its temperature, or at ``temperatures`` (B,) per
    state, floored at ``MEMBER_FLOOR``; reserved indices 0 (never served)."""
    scores = score_states(agent, states)
    temperatures = np.full(len(scores), agent.temperature) if temperatures is None else temperatures
    log_probs = np.empty(scores.shape)
    for temperature in np.unique(temperatures):  # softmax_probs is row-wise: one call per temperature
        rows = temperatures == temperature
        with np.errstate(divide="ignore"):  # reserved indices have probability 0
            log_probs[rows] = np.log(softmax_probs(scores[rows], temperature, MEMBER_FLOOR))
    log_probs[:, :N_RESERVED] = 0.0
    return log_probs


def borda_points(scores: np.ndarray) -> np.ndarray:
    """(B, V) V' - 1 - rank of each servable item in its row (best = V' - 1, worst = 0); reserved 0."""
    servable = scores[:, N_RESERVED:]
    points = np.zeros(scores.shape)
    points[:, N_RESERVED:] = np.argsort(np.argsort(servable, axis=1, kind="stable"), axis=1)
    return points


def standardised(scores: np.ndarray) -> np.ndarray:
    """(B, V) scores z-scored over each row's servable items (reserved indices left at 0)."""
    out = np.zeros(scores.shape)
    servable = scores[:, N_RESERVED:]
    std = servable.std(axis=1, keepdims=True)
    out[:, N_RESERVED:] = (servable - servable.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    return out


def gate_features(states: StateBatch) -> np.ndarray:
    """(B, 3) phi(s) = (1, share of history filled, share of history events that are carts or purchases)."""
    types = states.history_types
    filled = (types > 0).sum(axis=1)
    buying = (types >= 2).sum(axis=1)
    return np.stack([np.ones(len(types)), filled / types.shape[1], buying / np.maximum(filled, 1)], axis=1)


def gate_weights(gate: np.ndarray, states: StateBatch) -> np.ndarray:
    """(B, M) g(s) = softmax(G phi(s)) for the gate matrix ``gate`` (M, 3)."""
    logits = gate_features(states) @ gate.T
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def fuse(fusion: str, member_log_probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, V) team scores from (M, B, V) members' log served probabilities and weights (M,) or (B, M)."""
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    if fusion == "borda":
        return borda_scores(np.stack([borda_points(lp) for lp in member_log_probs]), weights)
    return (_member_axis(weights) * member_log_probs).sum(axis=0)


def borda_scores(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, V) Borda team scores from (M, B, V) members' ``borda_points`` and weights (M,) or (B, M)."""
    return standardised((_member_axis(weights) * points).sum(axis=0))


def _member_axis(weights: np.ndarray) -> np.ndarray:
    return weights.T[:, :, None] if weights.ndim == 2 else weights[:, None, None]  # (M, B or 1, 1)


class Team:
    """The members fused by ``fusion`` (static ``weights`` (M,), or the ``gate`` (M, 3)) as one agent."""

    kind = "team"

    def __init__(self, members: Sequence[Agent], fusion: str, weights: np.ndarray | None = None,
                 gate: np.ndarray | None = None, temperature: float = 1.0, name: str = "team") -> None:
        if (fusion == "gate") != (gate is not None) or (weights is None) == (gate is None):
            raise ValueError("a gate team takes a gate matrix, a static team a weight vector")
        self.members, self.fusion = list(members), fusion
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.gate = None if gate is None else np.asarray(gate, dtype=np.float64)
        self.temperature, self.name = temperature, name

    def member_weights(self, states: StateBatch) -> np.ndarray:
        """(B, M) weight of each member at each state."""
        if self.gate is not None:
            return gate_weights(self.gate, states)
        return np.broadcast_to(self.weights, (len(states), len(self.members)))

    def item_scores(self, states: StateBatch) -> np.ndarray:
        used = [j for j in range(len(self.members)) if self.gate is not None or self.weights[j] > 0]
        log_probs = np.stack([log_served(self.members[j], states) for j in used])  # (M', B, V)
        return fuse(self.fusion, log_probs, self.member_weights(states)[:, used])

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        folders = [f"members/{j}" for j in range(len(self.members))]
        for member, folder in zip(self.members, folders, strict=True):
            member.save(directory / folder)
        write_agent_file(directory, self.kind, self.name, self.temperature, fusion=self.fusion, members=folders)
        parameter = "gate" if self.gate is not None else "weights"
        save_file({parameter: self.gate if self.gate is not None else self.weights},
                  str(directory / "team.safetensors"))
        return directory

    @classmethod
    def load(cls, directory: Path) -> Team:
        record = json.loads((Path(directory) / "agent.json").read_text())
        arrays = load_file(str(Path(directory) / "team.safetensors"))
        members = [load_agent(Path(directory) / folder) for folder in record["members"]]
        return cls(members, record["fusion"], weights=arrays.get("weights"), gate=arrays.get("gate"))


register_loader(Team.kind, Team.load)


def fit_gate(member_log_probs: np.ndarray, states: StateBatch, decisions: TransitionArrays,
             config: CoordinatorConfig) -> np.ndarray:
    """(M, 3) gate matrix G minimising L(G) of the module docstring on ``decisions`` (their states ``states``)."""
    positive = np.flatnonzero((decisions.reward > 0) & (decisions.action >= N_RESERVED))
    n_members = member_log_probs.shape[0]
    if len(positive) == 0:
        return np.zeros((n_members, 3))  # nothing to learn from: equal weights
    torch.manual_seed(config.seed)
    log_probs = torch.as_tensor(member_log_probs[:, positive], dtype=torch.float64)  # (M, P, V)
    features = torch.as_tensor(gate_features(states.take(positive)), dtype=torch.float64)  # (P, 3)
    weight = torch.as_tensor(decisions.reward[positive] / decisions.propensity[positive], dtype=torch.float64)
    weight = weight / weight.sum()  # (P,) u_i r_i, self-normalised
    action = torch.as_tensor(decisions.action[positive])
    reserved = torch.zeros(log_probs.shape[2], dtype=torch.bool)
    reserved[:N_RESERVED] = True
    gate = torch.zeros((n_members, 3), dtype=torch.float64, requires_grad=True)  # equal weights to start
    optimizer = torch.optim.Adam([gate], lr=config.gate_lr)
    for _ in range(config.gate_epochs):
        g = torch.softmax(features @ gate.T, dim=1)  # (P, M)
        team = (g.T[:, :, None] * log_probs).sum(dim=0).masked_fill(reserved, -torch.inf)  # (P, V)
        log_pi = torch.log_softmax(team, dim=1)[torch.arange(len(positive)), action]
        loss = -(weight * log_pi).sum() + GATE_L2 * (gate**2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return gate.detach().numpy()


@dataclass(frozen=True)
class Candidate:
    """A fusion with its weights, scored on the valid days by the choice rule."""

    fusion: str
    weights: np.ndarray  # (M,) static weights, or the gate's mean weights on valid
    temperature: float
    valid_dr: float
    valid_lcb: float
    weak_mass: float
    score: float
    gate: np.ndarray | None = None


@dataclass(frozen=True)
class ValidDays:
    """What the choice rule reads on the valid decisions: their q_hat and the items' valid support."""

    decisions: TransitionArrays
    q_logged: np.ndarray  # (B,) q_hat(x_i, a_i, k_i), cross-fitted
    q_candidates: np.ndarray  # (B, V) q_hat(x_i, a, k_i)
    weakly_supported: np.ndarray  # (V,) bool: shown fewer than min_support times on valid

    @classmethod
    def of(cls, decisions: TransitionArrays, q_logged: np.ndarray, q_candidates: np.ndarray,
           min_support: int) -> ValidDays:
        shown = np.bincount(decisions.action, minlength=q_candidates.shape[1])
        return cls(decisions, q_logged, q_candidates, shown < min_support)


def score_candidate(scores: np.ndarray, temperature: float, valid: ValidDays, coordinator: CoordinatorConfig,
                    eval_config: EvalConfig, slate_size: int) -> tuple[float, float, float, float]:
    """(DR, LCB, weak mass, score) of the policy serving ``scores`` (B, V) at ``temperature`` on valid."""
    decisions = valid.decisions
    probs = decision_probs(scores, decisions.position, temperature, slate_size)  # (B, V)
    dr = estimate("dr", reward=decisions.reward, pscore=decisions.propensity,
                  action_prob=probs[np.arange(len(decisions)), decisions.action], q_logged=valid.q_logged,
                  q_policy=(probs * valid.q_candidates).sum(axis=1), lambda_=eval_config.clip_lambda,
                  n_bootstrap=1)
    lcb = dr.value - norm.ppf(1.0 - coordinator.lcb_alpha) * dr.std_err
    weak = float(probs[:, valid.weakly_supported].sum(axis=1).mean())
    return dr.value, lcb, weak, lcb - coordinator.support_penalty * weak


def weight_grid(n_members: int, values: Sequence[float]) -> list[np.ndarray]:
    """Every combination of ``values`` over ``n_members``, normalised to sum 1, without repeats or all-zero."""
    seen, grid = set(), []
    for combo in itertools.product(values, repeat=n_members):
        total = sum(combo)
        if total <= 0:
            continue
        weights = np.asarray(combo, dtype=np.float64) / total
        key = tuple(np.round(weights, 9))
        if key not in seen:
            seen.add(key)
            grid.append(weights)
    return grid


def user_folds(states: StateBatch, n_folds: int, seed: int) -> np.ndarray:
    """(B,) fold of each decision: users shuffled into ``n_folds`` folds, so a user's decisions share one."""
    users, inverse = np.unique(states.user_ids.astype(str), return_inverse=True)
    return np.random.default_rng(seed).permutation(len(users))[inverse] % n_folds


def choice_rows(states: StateBatch, share: float, seed: int) -> np.ndarray:
    """(B,) bool: the decisions of the ``share`` of users (shuffled by ``seed``) the coordinator chooses on;
    a user's decisions are all on one side, and the other side keeps at least one user."""
    users, inverse = np.unique(states.user_ids.astype(str), return_inverse=True)
    n_choice = min(round(share * len(users)), len(users) - 1)
    return (np.random.default_rng(seed).permutation(len(users)) < n_choice)[inverse]


def choose_team(agents: Sequence[Agent], valid: ValidDays, coordinator: CoordinatorConfig, eval_config: EvalConfig,
                temperatures: Sequence[float], slate_size: int,
                member_temperatures: Sequence[np.ndarray] | None = None
                ) -> tuple[Team, Candidate, list[Candidate], list[dict]]:
    """The served team, the candidate it is, the best candidate of every fusion (and the fallback on one
    agent where ``final_choice`` took it), and each single agent's valid scores.

    Agents' temperatures must already be chosen (they are served at them inside the team); ``valid``
    should be decisions they were not tuned on (``choice_rows``), or ``member_temperatures`` (one (B,)
    array per agent) the temperatures each decision is scored with, chosen without it (cross-fitting)."""
    decisions = valid.decisions
    states = decisions.states
    member_temperatures = member_temperatures or [None] * len(agents)
    member_log_probs = np.stack([log_served(agent, states, t)
                                 for agent, t in zip(agents, member_temperatures, strict=True)])  # (M, B, V)

    def scored(fusion: str, weights: np.ndarray, scores: np.ndarray, gate=None) -> Candidate:
        # The geometric mean of served distributions is served as it is; rank points have no scale of their own.
        tried = (1.0,) if fusion == "average" else temperatures
        return max((Candidate(fusion, weights, t, *score_candidate(scores, t, valid, coordinator, eval_config,
                                                                   slate_size), gate=gate) for t in tried),
                   key=lambda c: c.score)

    # Each agent alone (one-hot average: its own served distribution) is a candidate, so the team can
    # always fall back on the best single agent.
    alone = [scored("average", np.eye(len(agents))[j], member_log_probs[j]) for j in range(len(agents))]
    singles = [{"agent": agent.name, "valid_dr": c.valid_dr, "valid_lcb": c.valid_lcb, "weak_mass": c.weak_mass,
                "score": c.score} for agent, c in zip(agents, alone, strict=True)]
    members = np.argsort([-c.score for c in alone], kind="stable")[:coordinator.max_members]
    used = np.sort(members)  # members in agent order: sums add them in the order ``fuse`` does
    grid = []
    for grid_weights in weight_grid(len(members), coordinator.weight_grid):
        weights = np.zeros(len(agents))
        weights[members] = grid_weights
        grid.append(weights)

    best: list[Candidate] = []
    for fusion in coordinator.fusions:
        if fusion == "gate":
            folds = user_folds(states, coordinator.gate_folds, coordinator.seed)
            out_of_fold = np.zeros(member_log_probs.shape[1:])
            for fold in range(coordinator.gate_folds):
                fit_rows, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
                gate = fit_gate(member_log_probs[:, fit_rows], states.take(fit_rows), decisions.take(fit_rows),
                                coordinator)
                out_of_fold[held] = fuse("gate", member_log_probs[:, held], gate_weights(gate, states.take(held)))
            gate = fit_gate(member_log_probs, states, decisions, coordinator)
            candidate = scored("gate", gate_weights(gate, states).mean(axis=0), out_of_fold, gate=gate)
        elif fusion == "borda":
            points = np.stack([borda_points(member_log_probs[j]) for j in used])  # (M', B, V), once per member
            candidate = max((scored("borda", w, borda_scores(points, w[used])) for w in grid), key=lambda c: c.score)
        else:  # a one-hot grid point is an agent alone, already scored
            candidates = alone + [scored("average", w, fuse("average", member_log_probs[used], w[used]))
                                  for w in grid if np.count_nonzero(w) > 1]
            candidate = max(candidates, key=lambda c: c.score)
        best.append(candidate)
    single = max(alone, key=lambda c: c.score)
    if "average" not in coordinator.fusions:  # the fallback on one agent stays a candidate
        best.append(single)
    chosen = final_choice(best, single, coordinator.fusion_margin)
    if not any(c is chosen for c in best):  # the fallback on one agent, beside the best mix of its fusion
        best.append(chosen)
    team = Team(agents, chosen.fusion, weights=None if chosen.gate is not None else chosen.weights,
                gate=chosen.gate, temperature=chosen.temperature)
    return team, chosen, best, singles


def is_single(candidate: Candidate) -> bool:
    """Whether ``candidate`` serves one agent alone (one non-zero static weight)."""
    return candidate.gate is None and np.count_nonzero(candidate.weights) <= 1


def final_choice(best: Sequence[Candidate], single: Candidate, margin: float | None) -> Candidate:
    """The team among the fusions' best candidates ``best``: the best score, except that with ``margin`` a
    fusion of several agents replaces the best single agent ``single`` only where

        LCB_fusion >= DR_single + margin

    (a candidate deployed over an incumbent, ``recrl.evaluate.gate``): the winner of many noisy
    candidates needs evidence beyond the winner's curse before it displaces one agent."""
    chosen = max(best, key=lambda c: c.score)
    if margin is None or is_single(chosen) or chosen.valid_lcb >= single.valid_dr + margin:
        return chosen
    return single


def agent_weight_rows(agents: Sequence[Agent], best: Sequence[Candidate], chosen: Candidate) -> list[dict]:
    """Rows of ``agent_weights``: per fusion's best candidate (and the fallback on one agent where it was
    chosen), each agent's weight and the candidate's valid scores."""
    return [{"fusion": c.fusion, "agent": agent.name, "weight": float(c.weights[j]), "temperature": c.temperature,
             "valid_dr": c.valid_dr, "valid_lcb": c.valid_lcb, "weak_mass": c.weak_mass, "score": c.score,
             "chosen": c is chosen}
            for c in best for j, agent in enumerate(agents)]
