-- Builds: temp table `events`, the lake's canonical events with exact duplicates dropped, each with its UTC date.
-- From: every Parquet file of the lake's events ($events_glob). The hive folders (date=, shard=) are not
--       read as columns: the date is recomputed from ts (the connection runs in UTC).
CREATE OR REPLACE TEMP TABLE events AS
SELECT DISTINCT
    ts,
    user_id,
    session_id,
    item_id,
    event_type,
    position,
    request_id,
    propensity,
    policy_id,
    CAST(ts AS DATE) AS date
FROM read_parquet($events_glob, hive_partitioning = false, union_by_name = true)
WHERE event_type IN ('impression', 'click', 'cart', 'purchase')
