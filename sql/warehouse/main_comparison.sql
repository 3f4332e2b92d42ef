-- Builds: the main comparison of one run: per policy its true value (simulator), on-policy or
-- off-policy estimates with 95% intervals (the logging policy's on-policy mean in the snips column),
-- ESS, NDCG@10 on clicks and HR@10 on purchases, best true value first.
-- From: policies, ope_estimates, ranking_metrics.
SELECT
    p.policy,
    p.kind,
    p.true_value,
    max(CASE WHEN e.estimator IN ('snips', 'on-policy') THEN e.value END) AS snips,
    max(CASE WHEN e.estimator = 'dr' THEN e.value END)      AS dr,
    max(CASE WHEN e.estimator = 'dr' THEN e.ci_low END)     AS dr_ci_low,
    max(CASE WHEN e.estimator = 'dr' THEN e.ci_high END)    AS dr_ci_high,
    max(CASE WHEN e.estimator = 'ips' THEN e.value END)     AS ips,
    max(CASE WHEN e.estimator = 'ips' THEN e.ess END)       AS ess,
    max(CASE WHEN m.metric = 'ndcg' AND m.k = 10 AND m.target = 'click' THEN m.value END) AS ndcg10_click,
    max(CASE WHEN m.metric = 'hr' AND m.k = 10 AND m.target = 'purchase' THEN m.value END) AS hr10_purchase
FROM policies AS p
LEFT JOIN ope_estimates AS e ON e.run_id = p.run_id AND e.policy = p.policy AND e.split = 'test'
LEFT JOIN ranking_metrics AS m ON m.run_id = p.run_id AND m.policy = p.policy AND m.split = 'test'
WHERE p.run_id = $run_id
GROUP BY p.policy, p.kind, p.true_value
ORDER BY p.true_value DESC NULLS LAST, dr DESC NULLS LAST;
