"""Off-policy actor-critic with a supervised head and inverse-propensity correction (SA2C-style).

One readable training module (CleanRL style), wrapped in ``train`` so flows import it. Measured
tables (every switch below, per simulated world) live in ``docs/agent.md``, not here.

Per batch of logged decisions (s, a, k, r, s', done, beta) -- a the shown item, k its slot; pi(. | s) =
softmax(logits(s)), logits(s) = f_theta(s) alone, or with ``AgentConfig.prior`` the residual actor over a
tuned CF prior, f_theta(s) + alpha z(prior(s)) (``recrl.agents.prior``), in every term below and served:

    critic    V'(s') = sum_b pi(b | s') min_i Q'_i(s', b, 0)                          (target nets, twin Q)
              y = r + gamma (1 - done) V'(s')
              L_Q = sum_i Huber(Q_i(s, a, k), y) + mean_{a- ~ U} Huber(Q_i(s, a-, k), 0)     (SNQN negatives)
    actor     u = min(u_raw, c median_batch(u_raw)) [lambda_K(a)],  w = u / mean_batch(u)     (``actor_weight``)
                  u_raw = 1 / beta_k(a | s) | pi_k(a | s) / beta_k(a | s) | 1             (``weight_form``)
                  lambda_K(a) = K (1 - pi(a | s))^(K - 1)                                (``topk_correction``)
              g = r | 1[r > 0] max(y, 0) | 1[r > 0] max(Q(s, a, k) - mean_{{a} + a-} Q, 0) (``actor_return``)
              L_pi = -mean(w g log pi(a | s)) + lambda_sup mean_{r > 0} CE(pi(. | s), a) - c_H H(pi(. | s))
    behaviour L_beta = CE(beta_logits(detached s), a)    (used where no propensity was logged)

The supervised head (``supervised_weight`` = lambda_sup) is SA2C's (Xin et al., WSDM 2022): the
unweighted next-item cross-entropy over the full vocabulary on every positive decision, what the SASRec
baseline learns, on the same actor logits; the critic-weighted, importance-weighted term then moves the
actor towards the items whose answers lead to more value. 'inverse' weights are the exposure correction
(Schnabel et al., ICML 2016; Joachims et al., WSDM 2017): E_beta[(1 / beta) g log pi(a | s)] =
sum_a g(s, a) log pi(a | s), every item counted as if shown equally often. 'ratio' is the policy-gradient
ratio and lambda_K the top-K multiplier of Chen et al. (WSDM 2019). The cap c is relative to the batch
median, so it means the same whatever the vocabulary size; self-normalising keeps the loss scale fixed.
beta_k(a | s) is the probability of the logged item at its logged slot (the logged propensity, or the
Plackett-Luce position marginal of the learned behaviour head there), the same event on both sides (a
known bug in public code weights one action with another's propensity). Every g and w is non-negative,
so the loss is bounded below (a signed advantage drives log pi(a) of a logged item to minus infinity).
During ``warmup_epochs`` g = r. Epochs run through ``recrl.agents.training`` (valid-split NDCG@10 of the
next positive item picks the epoch kept, ``AgentConfig.patience``; resumable state, TensorBoard
scalars, progress bar).
References: Xin et al., SIGIR 2020 (SQN) and WSDM 2022 (SA2C); Chen et al., WSDM 2019 (off-policy
correction on logged recommendations, learned beta on a detached state).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from recrl.agents.networks import ActorCritic, NetworkShape, plackett_luce_marginal_at
from recrl.agents.prior import load_prior, prior_z, save_prior
from recrl.agents.training import (
    load_checked,
    next_item_ndcg,
    pick_device,
    positive_rows,
    read_meta,
    run_training,
    save_weights,
)
from recrl.config import AgentConfig, from_dict
from recrl.policies import N_RESERVED, StateBatch
from recrl.states.export import TransitionArrays

CHECKPOINT_FILE = "actor_critic.safetensors"
CONFIG_FILE = "actor_critic.json"


def uses_logged_propensity(config: AgentConfig, propensity: np.ndarray) -> bool:
    """Whether beta comes from the log ('logged', or 'auto' with every propensity present)."""
    has_all = bool(np.isfinite(propensity).all()) and len(propensity) > 0
    if config.behaviour == "logged" and not has_all:
        raise ValueError("behaviour='logged' but some transitions have no logged propensity")
    return config.behaviour == "logged" or (config.behaviour == "auto" and has_all)


def train(transitions: TransitionArrays, shape: NetworkShape, config: AgentConfig,
          valid: TransitionArrays | None = None, directory: Path | None = None,
          resume: bool = False, initial_weights: dict[str, torch.Tensor] | None = None, prior=None
          ) -> tuple[ActorCritic, list[dict]]:
    """Fit the actor-critic on training transitions; returns the model (eval mode) and the epoch log.

    Each epoch logs the mean critic / actor / behaviour losses, the mean capped weight u (before
    self-normalisation), the share of decisions whose 1 / beta was above the cap (about half with the
    default cap of 1 x the batch median, by construction) and the Kish effective sample size of the
    self-normalised weights as a share of the batch; with ``valid``, the validation NDCG@10 that picks
    the weights kept and stops training early (``recrl.agents.training``). Training loss never judges a
    policy. ``initial_weights`` (a checkpoint's tensors, every shape checked) warm-starts the model and
    its target network, e.g. from last night's weights in the closed loop. ``prior`` is the fitted CF
    baseline ``config.prior`` names (``recrl.agents.prior.fit_prior``); the model returned carries it as
    ``model.prior`` (None without), so every ``ActorCriticPolicy`` of it serves the same logits.
    """
    if len(transitions) == 0:
        raise ValueError("no training transitions")
    if (prior is None) != (config.prior == "none"):
        raise ValueError(f"AgentConfig.prior is {config.prior!r} but train() was given prior={prior!r}")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.num_threads)
    rng = np.random.default_rng(config.seed)
    device = pick_device(config.device)
    logged_beta = uses_logged_propensity(config, transitions.propensity)

    def tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)

    history = tensor(transitions.states.history_items, torch.long)  # (T, N)
    history_types = tensor(transitions.states.history_types, torch.long)  # (T, N)
    next_history = tensor(transitions.next_states.history_items, torch.long)
    next_types = tensor(transitions.next_states.history_types, torch.long)
    action = tensor(transitions.action, torch.long)  # (T,)
    position = tensor(np.clip(transitions.position, 0, None), torch.long)  # (T,); sequences use slot 0
    reward = tensor(transitions.reward, torch.float32)
    not_done = tensor(~transitions.done, torch.float32)
    propensity = tensor(np.nan_to_num(transitions.propensity, nan=1.0), torch.float32)
    is_positive = torch.zeros(len(transitions), dtype=torch.float32, device=device)  # (T,) supervised targets
    is_positive[tensor(positive_rows(transitions), torch.long)] = 1.0

    model = ActorCritic(shape, config).to(device)
    if initial_weights is not None:
        load_checked(model, initial_weights)
    target = copy.deepcopy(model).requires_grad_(False).eval()  # no dropout in TD targets
    model.prior = prior  # after the copy: the target shares it, the copy would double its memory

    def prior_of(states: StateBatch, batch: np.ndarray) -> torch.Tensor | None:
        """(B, V) z(prior(s)) of one batch, scored on the fly (never T x V)."""
        return None if prior is None else tensor(prior_z(prior, states.take(batch)), torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    n_steps = math.ceil(len(transitions) / config.batch_size)

    def run_epoch(epoch: int, tick) -> dict[str, float]:
        sums = np.zeros(6)
        for batch in np.array_split(rng.permutation(len(transitions)), n_steps):
            idx = torch.as_tensor(batch, device=device)
            rows = torch.arange(len(batch), device=device)
            a, k, r = action[idx], position[idx], reward[idx]
            state = model.encode(history[idx], history_types[idx])  # (B, H)

            with torch.no_grad():
                next_state = target.encode(next_history[idx], next_types[idx])
                next_logits = target.actor_logits(next_state, prior_of(transitions.next_states, batch))
                next_pi = torch.softmax(next_logits, dim=1)  # (B, V)
                next_q = torch.minimum(target.q_values(next_state, 0), target.q_values(next_state, 1))[:, :, 0]
                td_target = r + config.gamma * not_done[idx] * (next_pi * next_q).sum(dim=1)  # (B,)
            q_both = [model.q_values(state, i) for i in (0, 1)]  # 2 x (B, V, K)
            # Items the logger did not show get no TD target; uniformly drawn negatives regressed to 0
            # (Xin et al. 2022) keep them from being over-estimated, since most random items earn nothing.
            negatives = torch.randint(N_RESERVED, shape.n_items, (len(batch), config.negative_samples), device=device)
            critic_loss = sum(F.smooth_l1_loss(q[rows, a, k], td_target) for q in q_both)
            if config.negative_samples:  # the mean over an empty set of negatives would be NaN
                critic_loss = critic_loss + sum(
                    F.smooth_l1_loss(q[rows[:, None], negatives, k[:, None]], torch.zeros_like(negatives, dtype=q.dtype))
                    for q in q_both
                )

            behaviour_logits = model.behaviour_logits(state)
            behaviour_loss = F.cross_entropy(behaviour_logits, a)

            log_pi = torch.log_softmax(model.actor_logits(state, prior_of(transitions.states, batch)), dim=1)  # (B, V)
            pi = log_pi.exp()
            with torch.no_grad():
                weight, raw_weight, cap = actor_weight(config, pi, behaviour_logits, a, k, propensity[idx],
                                                       logged_beta, shape.slate_size)
                capped_weight = raw_weight.clamp(max=cap)
                action_return = actor_return(config, epoch, r, td_target, q_both, rows, a, k, negatives)
            entropy = -(pi * log_pi.masked_fill(pi == 0, 0.0)).sum(dim=1)
            positive = is_positive[idx]
            supervised_loss = -(positive * log_pi[rows, a]).sum() / positive.sum().clamp_min(1.0)
            actor_loss = (-(weight * action_return * log_pi[rows, a]).mean() - config.entropy_coef * entropy.mean()
                          + config.supervised_weight * supervised_loss)

            optimizer.zero_grad(set_to_none=True)
            (critic_loss + actor_loss + behaviour_loss).backward()
            optimizer.step()
            with torch.no_grad():
                for online, slow in zip(model.parameters(), target.parameters(), strict=True):
                    slow.lerp_(online, config.target_tau)
            clipped = (raw_weight > cap).float()
            ess_share = weight.sum() ** 2 / (weight**2).sum() / len(batch)
            sums += [critic_loss.item(), actor_loss.item(), behaviour_loss.item(), capped_weight.mean().item(),
                     clipped.mean().item(), ess_share.item()]
            tick()
        names = ("critic_loss", "actor_loss", "behaviour_loss", "mean_weight", "share_clipped", "ess_share")
        return dict(zip(names, (sums / n_steps).tolist(), strict=True))

    validate = None
    if valid is not None and len(positive_rows(valid)):
        policy = ActorCriticPolicy(model)
        validate = lambda: next_item_ndcg(policy.item_scores, valid)  # noqa: E731
    epoch_log = run_training(model=model, optimizer=optimizer, run_epoch=run_epoch, steps_per_epoch=n_steps,
                             epochs=config.epochs, patience=config.patience, validate=validate, rng=rng,
                             directory=directory, resume=resume, extra_modules={"target": target},
                             name="actor-critic")
    return model, epoch_log


def actor_weight(config: AgentConfig, pi: torch.Tensor, behaviour_logits: torch.Tensor, action: torch.Tensor,
                 position: torch.Tensor, logged_propensity: torch.Tensor, logged_beta: bool, slate_size: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(w, u_raw, cap), each (B,) or scalar, no gradient: the actor term's self-normalised weight.

        u_raw = 1 / beta_k(a | s)            ('inverse')
              = pi_k(a | s) / beta_k(a | s)  ('ratio', pi_k the actor's Plackett-Luce marginal at slot k)
              = 1                            ('none')
        u = min(u_raw, c median_batch(u_raw)) lambda_K(a),   lambda_K = K (1 - pi(a | s))^(K - 1) if topk_correction
        w = u / mean_batch(u)
    """
    rows = torch.arange(len(action), device=action.device)
    if logged_beta:
        beta_at = logged_propensity
    else:
        beta_at = plackett_luce_marginal_at(torch.softmax(behaviour_logits, dim=1), action, position)
    if config.weight_form == "inverse":
        raw_weight = 1.0 / beta_at.clamp_min(1e-6)
    elif config.weight_form == "ratio":
        raw_weight = plackett_luce_marginal_at(pi, action, position) / beta_at.clamp_min(1e-6)
    else:
        raw_weight = torch.ones_like(beta_at)
    cap = config.weight_cap * raw_weight.median()
    weight = raw_weight.clamp(max=cap)
    if config.topk_correction:
        weight = weight * slate_size * (1.0 - pi[rows, action]) ** (slate_size - 1)
    return weight / weight.mean().clamp_min(1e-12), raw_weight, cap


def actor_return(config: AgentConfig, epoch: int, reward: torch.Tensor, td_target: torch.Tensor,
                 q_both: list[torch.Tensor], rows: torch.Tensor, action: torch.Tensor, position: torch.Tensor,
                 negatives: torch.Tensor) -> torch.Tensor:
    """(B,) non-negative weight of log pi(a | s) in the actor's term, per ``AgentConfig.actor_return``:
    the logged reward r ('reward', and every choice during ``warmup_epochs``), 1[r > 0] max(y, 0) ('td'),
    or 1[r > 0] max(Q(s, a, k) - mean_{b in {a} + negatives} Q(s, b, k), 0) ('advantage', min of the twins)."""
    if epoch < config.warmup_epochs or config.actor_return == "reward":
        return reward
    answered = (reward > 0).float()
    if config.actor_return == "td":
        return td_target.clamp_min(0.0) * answered
    q = torch.minimum(q_both[0], q_both[1]).detach()  # (B, V, K)
    q_logged = q[rows, action, position]  # (B,)
    if negatives.shape[1] == 0:
        baseline = q[rows, :, position].mean(dim=1)
    else:
        q_negative = q[rows[:, None], negatives, position[:, None]]  # (B, M)
        baseline = (q_logged + q_negative.sum(dim=1)) / (1 + negatives.shape[1])
    return (q_logged - baseline).clamp_min(0.0) * answered


class EncoderPolicy:
    """A trained model's item logits (``model.item_logits``) served as a softmax policy over the vocabulary."""

    def __init__(self, model: torch.nn.Module, temperature: float = 1.0, name: str = "policy") -> None:
        self.model = model.eval()
        self.temperature = temperature
        self.name = name

    @torch.no_grad()
    def item_scores(self, states: StateBatch) -> np.ndarray:
        device = next(self.model.parameters()).device
        history = torch.as_tensor(states.history_items, dtype=torch.long, device=device)
        history_types = torch.as_tensor(states.history_types, dtype=torch.long, device=device)
        extra = self.extra_inputs(states, device)
        return self.model.item_logits(history, history_types, *extra).double().cpu().numpy()  # (B, V)

    def extra_inputs(self, states: StateBatch, device: torch.device) -> tuple[torch.Tensor, ...]:
        """Inputs of ``model.item_logits`` after the history (none here)."""
        return ()


class ActorCriticPolicy(EncoderPolicy):
    """The trained actor served as a softmax policy over the vocabulary: f_theta(s) + alpha z(prior(s))
    with the model's CF prior (``model.prior``), f_theta(s) without."""

    def __init__(self, model: ActorCritic, temperature: float = 1.0, name: str = "actor-critic") -> None:
        super().__init__(model, temperature, name)

    def extra_inputs(self, states: StateBatch, device: torch.device) -> tuple[torch.Tensor, ...]:
        """z(prior(s)) (B, V) with the model's CF prior; nothing without."""
        prior = getattr(self.model, "prior", None)
        return () if prior is None else (torch.as_tensor(prior_z(prior, states), device=device),)


def save_checkpoint(model: ActorCritic, config: AgentConfig, directory: Path) -> Path:
    """Weights as safetensors (never pickle) and the config + shape as JSON beside them; the CF prior
    (if any) in ``recrl.agents.prior.PRIOR_DIR`` beside them (``recrl.baselines.store`` format)."""
    meta = {"agent": dataclasses.asdict(config), "shape": dataclasses.asdict(model.shape)}
    path = save_weights(model, meta, directory, CHECKPOINT_FILE, CONFIG_FILE)
    save_prior(getattr(model, "prior", None), directory)
    return path


def load_checkpoint(directory: Path) -> tuple[ActorCritic, AgentConfig]:
    """Rebuild the model from its JSON config and load the safetensors weights, checking every shape;
    the CF prior its config names is loaded as ``model.prior`` (checkpoints from before the prior have
    none)."""
    directory = Path(directory)
    meta = read_meta(directory, CHECKPOINT_FILE, CONFIG_FILE)
    config = from_dict(AgentConfig, {"prior": "none"} | meta["agent"])  # saved before the prior: none
    model = ActorCritic(NetworkShape(**meta["shape"]), config)
    load_checked(model, load_file(str(directory / CHECKPOINT_FILE)))
    model.prior = load_prior(directory, config.prior)
    return model.eval(), config
