"""Rows of the warehouse table ``ope_estimates``: the one builder the flow and ``recrl ope`` share.

The stored ``estimator`` name says what was computed: IPS and DR, whose clipping is optional, are
stored as ``ips`` / ``dr`` when unclipped and as ``ips-clip100`` / ``dr-clip100`` when their weights
were clipped at lambda = 100; switch-dr and dr-os always take a lambda (it is part of their
definition) and keep their names, with lambda in ``lambda_``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from recrl.ope.api import Estimate
from recrl.ope.estimators import get_estimator


def stored_name(estimate: Estimate) -> str:
    """``estimate.estimator``, with ``-clip<lambda>`` where an optional clip was applied."""
    return stored_estimator_name(estimate.estimator, estimate.lambda_)


def stored_estimator_name(estimator: str, lambda_: float | None) -> str:
    """The ``ope_estimates.estimator`` of ``estimator`` computed with ``lambda_`` (e.g. 'dr', 100 -> 'dr-clip100')."""
    clipped = lambda_ is not None and math.isfinite(lambda_)
    if get_estimator(estimator).lambda_rule == "optional" and clipped:
        return f"{estimator}-clip{lambda_:g}"
    return estimator


def estimate_rows(estimates: Sequence[Estimate], *, policy: str, split: str, true_value: float | None = None,
                  propensity_source: str | None = None) -> list[dict]:
    """One ``ope_estimates`` row per estimate (run_id and created_at are the writer's)."""
    return [{
        "policy": policy, "split": split, "estimator": stored_name(e), "value": e.value,
        "ci_low": e.ci_low, "ci_high": e.ci_high, "ci_method": e.ci_method,
        "normal_ci_low": e.normal_ci_low, "normal_ci_high": e.normal_ci_high,
        "std_err": e.std_err, "model_std_err": None if math.isnan(e.model_std_err) else e.model_std_err,
        "n": e.n, "ess": e.ess, "max_weight": e.max_weight,
        "share_clipped": e.share_clipped, "lambda_": e.lambda_, "true_value": true_value,
        "propensity_source": propensity_source,
    } for e in estimates]
