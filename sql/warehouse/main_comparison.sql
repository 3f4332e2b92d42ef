-- Builds: the main comparison of one run, one row per policy, best true value first. Truth:
-- true_value (the simulator's exact value; null on real logs). Estimates of the expected reward per
-- decision on the test days: snips (the logging policy's on-policy mean in this column), dr with its
-- 95% bootstrap interval; ess_share = Kish ESS of the importance weights / n; propensity_source says
-- whether the weights used logged or estimated propensities. Ranking metrics on logged feedback:
-- NDCG@10 on clicks and HR@10 on purchases, each with n, the positive decisions ranked (null at n = 0).
-- From: policies, ope_estimates, ranking_metrics.
WITH estimates AS (
    SELECT
        policy,
        max(CASE WHEN estimator IN ('snips', 'on-policy') THEN value END) AS snips,
        -- dr: DR as computed, unclipped ('dr') or with clipped weights ('dr-clip100', the flow's default)
        max(CASE WHEN estimator = 'dr' OR estimator LIKE 'dr-clip%' THEN value END)   AS dr,
        max(CASE WHEN estimator = 'dr' OR estimator LIKE 'dr-clip%' THEN ci_low END)  AS dr_ci_low,
        max(CASE WHEN estimator = 'dr' OR estimator LIKE 'dr-clip%' THEN ci_high END) AS dr_ci_high,
        max(n) AS n,                  -- every estimator of a policy sees the same decisions
        max(ess / n) AS ess_share,    -- and the same (unclipped) weights
        string_agg(DISTINCT propensity_source, ',') AS propensity_source
    FROM ope_estimates
    WHERE run_id = $run_id AND split = 'test'
    GROUP BY policy
), ranking AS (
    SELECT
        policy,
        max(CASE WHEN metric = 'ndcg' AND k = 10 AND target = 'click' THEN value END) AS ndcg10_click,
        max(CASE WHEN metric = 'ndcg' AND k = 10 AND target = 'click' THEN n END)     AS n_click,
        max(CASE WHEN metric = 'hr' AND k = 10 AND target = 'purchase' THEN value END) AS hr10_purchase,
        max(CASE WHEN metric = 'hr' AND k = 10 AND target = 'purchase' THEN n END)     AS n_purchase
    FROM ranking_metrics
    WHERE run_id = $run_id AND split = 'test'
    GROUP BY policy
)
SELECT
    p.policy,
    p.kind,
    p.true_value,
    e.snips,
    e.dr,
    e.dr_ci_low,
    e.dr_ci_high,
    e.n,
    e.ess_share,
    e.propensity_source,
    r.ndcg10_click,
    r.n_click,
    r.hr10_purchase,
    r.n_purchase
FROM policies AS p
LEFT JOIN estimates AS e ON e.policy = p.policy
LEFT JOIN ranking AS r ON r.policy = p.policy
WHERE p.run_id = $run_id
ORDER BY p.true_value DESC NULLS LAST, e.dr DESC NULLS LAST, p.policy;
