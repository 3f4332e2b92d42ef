-- Builds: temp table `split_dates`, the split (train / valid / test) of every date present in the log.
-- From: `events`. The last $test_days dates present are test, the $valid_days dates before
--       them are valid, every earlier date is train (dates present in the log, not calendar days).
CREATE OR REPLACE TEMP TABLE split_dates AS
WITH ranked AS (
    SELECT date, dense_rank() OVER (ORDER BY date DESC) AS rank_from_end
    FROM (SELECT DISTINCT date FROM events)
)
SELECT
    date,
    CASE
        WHEN rank_from_end <= $test_days THEN 'test'
        WHEN rank_from_end <= $test_days + $valid_days THEN 'valid'
        ELSE 'train'
    END AS split
FROM ranked
