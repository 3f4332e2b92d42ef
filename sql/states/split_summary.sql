-- Builds: the dates of each split, oldest first.
-- From: `split_dates`.
SELECT split, list(date ORDER BY date) AS dates
FROM split_dates
GROUP BY split
ORDER BY split
