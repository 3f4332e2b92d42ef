-- Builds: every run, latest first: its status, when it ran and for how long, its source, the decisions
-- per split and how many policies it judged.
-- From: runs, policies.
SELECT
    r.run_id,
    r.status,
    r.started_at,
    r.finished_at - r.started_at AS duration,
    r.source,
    r.n_train,
    r.n_valid,
    r.n_test,
    count(p.policy) AS policies
FROM runs AS r
LEFT JOIN policies AS p USING (run_id)
GROUP BY ALL
ORDER BY r.started_at DESC;
