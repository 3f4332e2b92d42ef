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
distribution). Static weights: every combination of ``weight_grid`` values over ``max_members`` agents
(the anchor and the others with the best score alone), normalised to sum 1. T_c is 1 for the average (a
weighted geometric mean of distributions already served at their members' valid temperatures; or 0, the
greedy slate of the fused scores, where the grid has it) and the best-scoring of the given temperatures for
Borda and the gate, whose scores have no scale of their own.
Each fusion's best-scoring candidate and every agent alone then compete for service.

The served team (``anchored_choice``). One valid day ranks a dozen candidates with much noise: the
best-scoring one is often not the best (the winner's curse). So the team starts from an anchor agent a
(``CoordinatorConfig.anchor``, the actor-critic by default) and a rival c replaces it only on paired
evidence, on the same valid decisions:

    g_i     = (DR_c,i - kappa weak_c,i) - (DR_a,i - kappa weak_a,i)       (per-decision DR contributions
                                                                          and served weak mass)
    LB_c    = mean_i g_i - z_{1 - alpha / N} sd(g) / sqrt(n)              (alpha = ``lcb_alpha``, N rivals)
    served  = argmax_c LB_c  if  max_c LB_c > m  else  a                  (m = ``anchor_margin``)

Two policies judged on the same decisions share most of their noise, so the paired bound is far tighter
than the difference of two lower bounds: a rival that truly gains shows it, one that gained by chance
mostly does not (safe policy improvement, Thomas et al. 2015, with the anchor as the baseline policy).
The largest of N bounds is itself a winner: it holds at 1 - alpha only where each holds at 1 - alpha / N
(Bonferroni), so the rule asks each rival for that. Without an anchor the best score is served.
"""

from __future__ import annotations

import itertools
import json
import logging
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
from recrl.policies import GREEDY, N_RESERVED, StateBatch, log_softmax
from recrl.states.export import TransitionArrays

log = logging.getLogger(__name__)
FUSIONS: tuple[str, ...] = ("average", "borda", "gate")
GATE_L2 = 1e-3
"""l2 of the gate's matrix: keeps it finite where one member wins every positive."""
GREEDY_FUSION_TEMPERATURE = 0.05
"""The temperature a member served greedily (``GREEDY``) enters a fusion at: its log-probabilities are -inf
off its top item, so its ranking is given the scale of the sharpest softmax of the default grid (what such
members served before the greedy slate joined the grid). The team itself can be served greedily."""


def log_served(agent: Agent, states: StateBatch, temperatures: np.ndarray | None = None) -> np.ndarray:
    """(B, V) log p_j(a | s) of what ``agent`` serves at its temperature, or at ``temperatures`` (B,) per
    state: its Plackett-Luce weights, exact (``recrl.policies.log_softmax``; a greedy member's at
    ``GREEDY_FUSION_TEMPERATURE``); reserved indices 0 (never served). No floor: a floor ties every item
    below it, so a sharp member's ranking after its first few items would be lost (its slots 2..K drawn
    uniformly, and Borda ranks of the tied items by index); a one-hot team serves its member exactly."""
    scores = score_states(agent, states)
    temperatures = np.full(len(scores), agent.temperature) if temperatures is None else temperatures
    log_probs = np.empty(scores.shape)
    for temperature in np.unique(temperatures):  # log_softmax is row-wise: one call per temperature
        rows = temperatures == temperature
        scale = GREEDY_FUSION_TEMPERATURE if temperature == GREEDY else temperature
        log_probs[rows] = log_softmax(scores[rows], scale)
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
    decision_scores: np.ndarray | None = None
    """(B,) each valid decision's DR contribution minus kappa times its served weak mass (mean: valid_dr -
    kappa weak_mass), for the paired comparison with the anchor (``gain_lower_bound``)."""
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
                    eval_config: EvalConfig, slate_size: int) -> tuple[float, float, float, float, np.ndarray]:
    """(DR, LCB, weak mass, score, decision scores (B,)) of the policy serving ``scores`` (B, V) at
    ``temperature`` on valid."""
    decisions = valid.decisions
    probs = decision_probs(scores, decisions.position, temperature, slate_size)  # (B, V)
    dr = estimate("dr", reward=decisions.reward, pscore=decisions.propensity,
                  action_prob=probs[np.arange(len(decisions)), decisions.action], q_logged=valid.q_logged,
                  q_policy=(probs * valid.q_candidates).sum(axis=1), lambda_=eval_config.clip_lambda,
                  n_bootstrap=1)
    lcb = dr.value - norm.ppf(1.0 - coordinator.lcb_alpha) * dr.std_err
    weak = probs[:, valid.weakly_supported].sum(axis=1)  # (B,) served mass on weakly supported items
    decision_scores = dr.contributions - coordinator.support_penalty * weak
    return dr.value, lcb, float(weak.mean()), lcb - coordinator.support_penalty * float(weak.mean()), decision_scores


def gain_lower_bound(candidate: Candidate, anchor: Candidate, alpha: float) -> float:
    """LB_c of the module docstring: the one-sided (1 - alpha) lower bound of the mean paired gain
    g_i = decision_scores_c,i - decision_scores_a,i (0 for the anchor itself)."""
    gain = candidate.decision_scores - anchor.decision_scores
    if len(gain) < 2 or not gain.any():
        return 0.0
    return float(gain.mean() - norm.ppf(1.0 - alpha) * gain.std(ddof=1) / np.sqrt(len(gain)))


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
                ) -> TeamChoice:
    """The served team and what it was chosen from (``TeamChoice``).

    Agents' temperatures must already be chosen (they are served at them inside the team); ``valid``
    should be decisions they were not tuned on (``choice_rows``), or ``member_temperatures`` (one (B,)
    array per agent) the temperatures each decision is scored with, chosen without it (cross-fitting)."""
    decisions = valid.decisions
    states = decisions.states
    member_temperatures = member_temperatures or [None] * len(agents)
    member_log_probs = np.stack([log_served(agent, states, t)
                                 for agent, t in zip(agents, member_temperatures, strict=True)])  # (M, B, V)

    def scored(fusion: str, weights: np.ndarray, scores: np.ndarray, gate=None) -> Candidate:
        # The geometric mean of served distributions is served as it is (or greedily, where the grid has the
        # greedy slate: a one-hot average then serves a greedy member exactly); rank points have no scale.
        tried = (1.0,) + ((GREEDY,) if GREEDY in temperatures else ()) if fusion == "average" else temperatures
        return max((Candidate(fusion, weights, t, *score_candidate(scores, t, valid, coordinator, eval_config,
                                                                   slate_size), gate=gate) for t in tried),
                   key=lambda c: c.score)

    # Each agent alone (one-hot average: its own served distribution) is a candidate: the anchor, and its rivals.
    alone = [scored("average", np.eye(len(agents))[j], member_log_probs[j]) for j in range(len(agents))]
    anchor = anchor_index(agents, coordinator.anchor)
    by_score = [j for j in np.argsort([-c.score for c in alone], kind="stable") if j != anchor]
    members = np.array(([anchor] if anchor is not None else []) + by_score)[:coordinator.max_members]
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
    candidates = best + alone
    chosen = anchored_choice(candidates, alone[anchor] if anchor is not None else None, coordinator.lcb_alpha,
                             coordinator.anchor_margin)
    if not any(c is chosen for c in best):  # an agent alone, beside the best mix of each fusion
        best.append(chosen)
    team = Team(agents, chosen.fusion, weights=None if chosen.gate is not None else chosen.weights,
                gate=chosen.gate, temperature=chosen.temperature)
    return TeamChoice(team, chosen, best, alone, anchor, rival_alpha(coordinator.lcb_alpha, len(candidates) - 1))


@dataclass(frozen=True)
class TeamChoice:
    """What ``choose_team`` served and chose from."""

    team: Team
    chosen: Candidate
    """The served candidate."""
    best: list[Candidate]
    """The best-scoring candidate of every fusion, and the served one where it is none of them (an agent alone)."""
    alone: list[Candidate]
    """Each agent alone, in the agents' order."""
    anchor: int | None
    """Index of the anchor agent (``CoordinatorConfig.anchor``); None without one."""
    gain_alpha: float
    """The level each rival's paired bound was taken at (alpha / N, ``anchored_choice``)."""

    def weight_rows(self, agents: Sequence[Agent]) -> list[dict]:
        """Rows of ``agent_weights``: per candidate of ``best``, each agent's weight, the candidate's valid
        scores and the paired lower bound of its gain over the anchor the choice used (``gain_lower_bound``
        at ``gain_alpha``; None without an anchor)."""
        anchor = None if self.anchor is None else self.alone[self.anchor]
        gains = [None if anchor is None else gain_lower_bound(c, anchor, self.gain_alpha) for c in self.best]
        return [{"fusion": c.fusion, "agent": agent.name, "weight": float(c.weights[j]),
                 "temperature": c.temperature, "valid_dr": c.valid_dr, "valid_lcb": c.valid_lcb,
                 "weak_mass": c.weak_mass, "score": c.score, "gain_lcb": gain,
                 "anchor": None if anchor is None else agents[self.anchor].name, "chosen": c is self.chosen}
                for c, gain in zip(self.best, gains, strict=True) for j, agent in enumerate(agents)]


def anchor_index(agents: Sequence[Agent], name: str | None) -> int | None:
    """Index of the anchor agent ``name`` in ``agents``; None without one (or where the run lacks it: logged)."""
    names = [agent.name for agent in agents]
    if name is not None and name not in names:
        log.warning("coordinator.anchor %r is not among this run's agents (%s): the best score is served",
                    name, ", ".join(names))
    return names.index(name) if name in names else None


def anchored_choice(candidates: Sequence[Candidate], anchor: Candidate | None, alpha: float,
                    margin: float, familywise: bool = True) -> Candidate:
    """The served candidate: the rival with the best paired lower bound of its gain over ``anchor``
    (``gain_lower_bound`` at ``rival_alpha``: alpha / N, or alpha with ``familywise`` off) where that bound
    is above ``margin``, else the anchor; without an anchor the best score."""
    if anchor is None:
        return max(candidates, key=lambda c: c.score)
    rivals = [c for c in candidates if c is not anchor]
    level = rival_alpha(alpha, len(rivals)) if familywise else alpha
    bounds = [gain_lower_bound(c, anchor, level) for c in rivals]
    if rivals and max(bounds) > margin:
        return rivals[int(np.argmax(bounds))]
    return anchor


def rival_alpha(alpha: float, n_rivals: int) -> float:
    """alpha / N: each of N rivals' bounds at this level, so the largest holds at 1 - alpha (Bonferroni)."""
    return alpha / max(n_rivals, 1)
