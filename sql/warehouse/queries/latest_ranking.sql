-- Builds: the latest run's ranking metrics on logged feedback, one row per policy and target (click or
-- purchase), best NDCG@10 first; n is the positive decisions ranked (metrics null when n = 0).
-- From: runs, ranking_metrics.
WITH latest AS (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)
SELECT
    policy,
    target,
    round(max(value) FILTER (metric = 'hr' AND k = 10), 4) AS hr10,
    round(max(value) FILTER (metric = 'ndcg' AND k = 10), 4) AS ndcg10,
    round(max(value) FILTER (metric = 'hr' AND k = 20), 4) AS hr20,
    round(max(value) FILTER (metric = 'ndcg' AND k = 20), 4) AS ndcg20,
    max(n) AS n
FROM ranking_metrics
JOIN latest USING (run_id)
WHERE split = 'test'
GROUP BY policy, target
ORDER BY target, ndcg10 DESC NULLS LAST, policy;
