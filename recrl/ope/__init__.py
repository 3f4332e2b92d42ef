"""Off-policy evaluation: estimators with intervals and diagnostics, and a cross-fitted reward model.

Public API (stable): ``estimate``, ``estimate_all``, ``Estimate``, ``effective_sample_size``,
``ESTIMATORS``, ``cross_fitted_q``.
"""

from recrl.ope.api import Estimate, estimate, estimate_all
from recrl.ope.estimators import ESTIMATORS
from recrl.ope.inputs import effective_sample_size
from recrl.ope.reward_model import cross_fitted_q

__all__ = ["ESTIMATORS", "Estimate", "cross_fitted_q", "effective_sample_size", "estimate", "estimate_all"]
