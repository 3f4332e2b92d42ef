"""One row builder for ope_estimates: a clipped estimator says so in its stored name."""

from __future__ import annotations

import math

import numpy as np

from recrl.ope import estimate_all
from recrl.ope.rows import estimate_rows, stored_name


def test_clipped_estimators_are_named_for_their_clip_and_others_keep_their_names() -> None:
    rng = np.random.default_rng(0)
    n = 400
    pscore = rng.uniform(0.01, 0.5, n)
    kwargs = dict(reward=rng.binomial(1, 0.3, n).astype(float), pscore=pscore, action_prob=rng.uniform(0, 1, n),
                  q_logged=np.full(n, 0.3), q_policy=np.full(n, 0.3), n_bootstrap=10)
    names = ["ips", "snips", "dr", "switch-dr", "dr-os"]
    clipped = estimate_all(names, lambda_=100.0, **kwargs)
    assert [stored_name(e) for e in clipped] == ["ips-clip100", "snips", "dr-clip100", "switch-dr", "dr-os"]
    unclipped = estimate_all(names, lambda_={"switch-dr": math.inf, "dr-os": 10.0}, **kwargs)
    assert [stored_name(e) for e in unclipped] == names
    rows = estimate_rows(clipped, policy="p", split="test", propensity_source="estimated")
    assert [r["estimator"] for r in rows] == ["ips-clip100", "snips", "dr-clip100", "switch-dr", "dr-os"]
    assert rows[0]["lambda_"] == 100.0 and rows[1]["lambda_"] is None and rows[0]["true_value"] is None
    assert {r["propensity_source"] for r in rows} == {"estimated"}
    assert all(r["model_std_err"] > 0 and r["std_err"] >= r["model_std_err"] for r in rows)
    assert {r["ci_method"] for r in rows} == {"bootstrap+model-floor"}
    bare = estimate_all(["ips"], **{k: kwargs[k] for k in ("reward", "pscore", "action_prob", "n_bootstrap")})
    bare_row = estimate_rows(bare, policy="p", split="test")[0]
    assert bare_row["model_std_err"] is None and bare_row["ci_method"] == "bootstrap"
