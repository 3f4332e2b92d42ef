-- Builds: the latest run's comparison, one row per policy, best true value first: the simulator's true
-- value (null on real logs) beside SNIPS and DR (95% bootstrap interval) and NDCG@10 on clicks.
-- From: runs, policies, ope_estimates, ranking_metrics.
WITH latest AS (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)
SELECT
    p.policy,
    p.kind,
    round(p.true_value, 4) AS true_value,
    round(max(e.value) FILTER (e.estimator IN ('snips', 'on-policy')), 4) AS snips,
    round(max(e.value) FILTER (e.estimator = 'dr' OR e.estimator LIKE 'dr-clip%'), 4) AS dr,
    round(max(e.ci_low) FILTER (e.estimator = 'dr' OR e.estimator LIKE 'dr-clip%'), 4) AS dr_ci_low,
    round(max(e.ci_high) FILTER (e.estimator = 'dr' OR e.estimator LIKE 'dr-clip%'), 4) AS dr_ci_high,
    round(max(r.value), 4) AS ndcg10_click
FROM policies AS p
JOIN latest USING (run_id)
LEFT JOIN ope_estimates AS e ON e.run_id = p.run_id AND e.policy = p.policy AND e.split = 'test'
LEFT JOIN ranking_metrics AS r ON r.run_id = p.run_id AND r.policy = p.policy AND r.split = 'test'
    AND r.metric = 'ndcg' AND r.k = 10 AND r.target = 'click'
GROUP BY p.policy, p.kind, p.true_value
ORDER BY p.true_value DESC NULLS LAST, dr DESC NULLS LAST, p.policy;
