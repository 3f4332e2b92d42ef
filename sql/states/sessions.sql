-- Builds: temp table `sessioned_events`, `events` with every row given a session id.
-- From: `events`. Rows that carry the log's own session id keep it. Rows without one are cut into
--       sessions per user by inactivity: a gap of more than $gap_minutes minutes since the user's
--       previous id-less event starts a new session. Such a session's id is
--       'gap:<user_id>:<start ts>' so it does not change when later nights append events.
--       The windows run over the distinct (user, ts) moments only (two narrow columns, and rows at
--       the same ts fall into one session by construction); the rows get their session by a join.
CREATE OR REPLACE TEMP TABLE sessioned_events AS
WITH moments AS (
    SELECT DISTINCT user_id, ts
    FROM events
    WHERE session_id IS NULL
),
gaps AS (
    SELECT
        user_id,
        ts,
        us,
        -- In whole microseconds: integer arithmetic is cheaper than timestamp-with-zone intervals.
        coalesce(us - lag(us) OVER (PARTITION BY user_id ORDER BY us) > $gap_minutes::BIGINT * 60000000, true)
            AS starts_session
    FROM (SELECT user_id, ts, epoch_us(ts) AS us FROM moments)
),
gap_sessions AS (
    SELECT
        user_id,
        ts,
        max(CASE WHEN starts_session THEN us END)
            OVER (PARTITION BY user_id ORDER BY us ROWS UNBOUNDED PRECEDING) AS session_start_us
    FROM gaps
)
SELECT
    e.ts,
    e.user_id,
    -- make_timestamp(µs) is the UTC wall time as a zone-less timestamp: no time-zone lookup per row.
    'gap:' || e.user_id || ':' || strftime(make_timestamp(g.session_start_us), '%Y-%m-%dT%H:%M:%S.%fZ')
        AS session_id,
    e.item_id,
    e.event_type,
    e.position,
    e.request_id,
    e.propensity,
    e.policy_id,
    e.date
FROM events AS e
JOIN gap_sessions AS g USING (user_id, ts)
WHERE e.session_id IS NULL
UNION ALL
SELECT ts, user_id, session_id, item_id, event_type, position, request_id, propensity, policy_id, date
FROM events
WHERE session_id IS NOT NULL
