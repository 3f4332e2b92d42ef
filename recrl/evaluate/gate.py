"""The safe deployment gate: a candidate replaces the incumbent only on strong off-policy evidence.

A candidate policy c is deployed in place of the incumbent i only if its one-sided lower confidence
bound beats the incumbent's estimate by a margin m (HCOPE, Thomas et al., "High Confidence Off-Policy
Evaluation", AAAI 2015):

    LCB_c = V_hat_c - z_{1-alpha} se_c     (V_hat_c: DR on the logged test decisions, se_c its std_err)
    deploy  <=>  LCB_c > V_hat_i + m

V_hat_i is the incumbent's on-policy mean reward when the incumbent is the policy that logged the
decisions (in the closed loop it always is: it served the day), else its own DR estimate. The bound is
the normal one (``Estimate.std_err``: std of the per-row contributions / sqrt(n), floored by the reward
model's variance, ``recrl.ope.api.model_standard_error``), which the warehouse rows carry; the
calibration of the rule (how often it deploys a truly worse policy, how often it misses a truly better
one) is measured in ``bench/gate.py`` and ``docs/deployment.md``.

Every decision becomes one row of the warehouse table ``deployments`` (``deployment_row``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import polars as pl

from recrl.config import EvalConfig, GateConfig
from recrl.ope.rows import stored_estimator_name

ON_POLICY = "on-policy"
"""``ope_estimates.estimator`` of the logging policy's own mean reward (``recrl.evaluate.stage``)."""
LOGGING_POLICY = "logging"
"""``policies.policy`` of whatever logged the evaluated decisions."""
DEPLOY, KEEP = "deploy", "keep"


@dataclass(frozen=True)
class PolicyEstimate:
    """One policy's estimated value per decision, as the gate reads it."""

    policy: str
    """Who: a deployable id (``run_id/policy``) or the built-in logging policy's id."""
    estimator: str
    """Stored estimator name (``dr-clip100``, ``on-policy``, ...)."""
    value: float
    std_err: float
    true_value: float | None = None
    """Simulator truth, recorded beside the decision (the gate never reads it)."""


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided, and the numbers it decided on."""

    candidate: PolicyEstimate
    incumbent: PolicyEstimate
    lower_bound: float
    """LCB_c = value - z_{1-alpha} std_err of the candidate."""
    alpha: float
    margin: float
    deploy: bool
    reason: str

    @property
    def decision(self) -> str:
        return DEPLOY if self.deploy else KEEP

    @property
    def deployed(self) -> PolicyEstimate:
        """The policy that serves next: the candidate if deployed, else the incumbent."""
        return self.candidate if self.deploy else self.incumbent


def lower_bound(estimate: PolicyEstimate, alpha: float) -> float:
    """One-sided (1 - alpha) lower confidence bound value - z_{1-alpha} std_err (NaN if either is)."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    return estimate.value - NormalDist().inv_cdf(1.0 - alpha) * estimate.std_err


def decide(candidate: PolicyEstimate, incumbent: PolicyEstimate, margin: float, alpha: float) -> GateDecision:
    """Deploy iff the candidate's lower bound beats the incumbent's estimate + ``margin`` (module docstring)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    bound = lower_bound(candidate, alpha)
    level = f"{100 * (1 - alpha):g}% one-sided"
    threshold = f"incumbent {incumbent.estimator} {incumbent.value:.4f} + margin {margin:.4f}"
    if not (math.isfinite(bound) and math.isfinite(incumbent.value)):
        deploy, reason = (
            False,
            f"no finite estimate (candidate bound {bound}, incumbent {incumbent.value}): keep",
        )
    elif bound > incumbent.value + margin:
        deploy, reason = True, f"{candidate.estimator} lower bound {bound:.4f} ({level}) beats {threshold}"
    else:
        deploy, reason = (
            False,
            f"{candidate.estimator} lower bound {bound:.4f} ({level}) does not beat {threshold}",
        )
    return GateDecision(candidate, incumbent, bound, alpha, margin, deploy, reason)


def run_estimate(
    estimates: pl.DataFrame, policy: str, estimator: str, name: str | None = None
) -> PolicyEstimate:
    """``policy``'s ``estimator`` row of one run's ``ope_estimates`` frame, as a ``PolicyEstimate``
    named ``name`` (default: ``policy``)."""
    rows = estimates.filter((pl.col("policy") == policy) & (pl.col("estimator") == estimator))
    if rows.height != 1:
        known = sorted(set(estimates.filter(pl.col("policy") == policy)["estimator"].to_list()))
        raise ValueError(
            f"expected one {estimator!r} estimate of {policy!r}, found {rows.height} "
            f"(its estimators: {', '.join(known) or 'none'})"
        )
    row = rows.row(0, named=True)
    return PolicyEstimate(
        name or policy, estimator, float(row["value"]), float(row["std_err"]), row["true_value"]
    )


def gate_run(
    estimates: pl.DataFrame,
    candidate: str,
    incumbent: str,
    incumbent_logged: bool,
    gate: GateConfig,
    evaluation: EvalConfig,
) -> GateDecision:
    """The gate on one run's ``ope_estimates`` rows: candidate ``run_id/policy`` (its policy name is
    ``gate.candidate``) against ``incumbent``, read as the logging policy's on-policy mean when it logged
    the test decisions (``incumbent_logged``), else as its own row under ``gate.estimator``."""
    estimator = stored_estimator_name(gate.estimator, evaluation.clip_lambda)
    challenger = run_estimate(estimates, gate.candidate, estimator, candidate)
    if incumbent_logged:
        holder = run_estimate(estimates, LOGGING_POLICY, ON_POLICY, incumbent)
    else:
        holder = run_estimate(estimates, incumbent.rsplit("/", 1)[-1], estimator, incumbent)
    return decide(challenger, holder, gate.margin, gate.alpha)


def deployment_row(run_id: str, decision: GateDecision) -> dict:
    """One row of the warehouse table ``deployments`` (sql/warehouse/create_deployments.sql)."""
    c, i = decision.candidate, decision.incumbent
    return {
        "run_id": run_id,
        "candidate": c.policy,
        "incumbent": i.policy,
        "candidate_estimator": c.estimator,
        "candidate_estimate": c.value,
        "candidate_std_err": c.std_err,
        "candidate_lower_bound": decision.lower_bound,
        "incumbent_estimator": i.estimator,
        "incumbent_estimate": i.value,
        "incumbent_std_err": i.std_err,
        "alpha": decision.alpha,
        "margin": decision.margin,
        "decision": decision.decision,
        "deployed": decision.deployed.policy,
        "reason": decision.reason,
        "candidate_true_value": c.true_value,
        "incumbent_true_value": i.true_value,
    }
