-- Builds: ranking metrics of one run, one row per policy, target and metric@k.
-- From: ranking_metrics.
SELECT policy, target, metric, k, value, n
FROM ranking_metrics
WHERE run_id = $run_id AND split = 'test'
ORDER BY target, metric, k, value DESC;
