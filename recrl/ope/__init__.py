"""Off-policy evaluation: estimators with intervals and diagnostics, and a cross-fitted reward model.

Public API (stable): ``estimate``, ``estimate_all``, ``Estimate``, ``effective_sample_size``,
``ESTIMATORS``, ``cross_fitted_q``. Names are imported on first use (PEP 562), so ``recrl --help``
(which reads ``recrl.ope.cli``) does not load numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Estimate": "recrl.ope.api",
    "estimate": "recrl.ope.api",
    "estimate_all": "recrl.ope.api",
    "ESTIMATORS": "recrl.ope.estimators",
    "effective_sample_size": "recrl.ope.inputs",
    "cross_fitted_q": "recrl.ope.reward_model",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recrl.ope' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
