"""Off-policy evaluation: estimators with intervals and diagnostics, and a cross-fitted reward model.

Public API (stable): ``estimate``, ``estimate_all``, ``Estimate``, ``effective_sample_size``,
``ESTIMATORS``, ``cross_fitted_q``. Names are imported on first use (PEP 562), so ``recrl --help``
(which reads ``recrl.ope.cli``) does not load numpy or scikit-learn.
"""

from __future__ import annotations

from recrl.lazy import lazy_exports

_EXPORTS = {
    "Estimate": "recrl.ope.api",
    "estimate": "recrl.ope.api",
    "estimate_all": "recrl.ope.api",
    "ESTIMATORS": "recrl.ope.estimators",
    "effective_sample_size": "recrl.ope.inputs",
    "cross_fitted_q": "recrl.ope.reward_model",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)
