-- Builds: the summary rows (split, kind, transitions) of the decisions about to be written.
-- From: `bandit_decisions`, `sequence_decisions` and `split_dates`.
SELECT p.split, d.kind, count(*)::BIGINT AS transitions
FROM (
    SELECT kind, date FROM bandit_decisions
    UNION ALL
    SELECT kind, date FROM sequence_decisions
) AS d
JOIN split_dates AS p USING (date)
GROUP BY p.split, d.kind
ORDER BY p.split, d.kind
