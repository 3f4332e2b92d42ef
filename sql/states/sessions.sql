-- Builds: temp table `gap_sessions` (user_id, ts, session_id), the session of every (user, ts) moment
--         of the `events` rows without a session id (`sessioned_events` attaches it to the rows).
-- From: `events`. Rows that carry the log's own session id keep it. Rows without one are cut into
--       sessions per user by inactivity: a gap of more than $gap_minutes minutes since the user's
--       previous id-less event starts a new session. Such a session's id is
--       'gap:<user_id>:<start ts>' so it does not change when later nights append events.
--       The windows run over the distinct (user, ts) moments only (two narrow columns, and rows at
--       the same ts fall into one session by construction).
CREATE OR REPLACE TEMP TABLE gap_sessions AS
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
gap_starts AS (
    SELECT
        user_id,
        ts,
        max(CASE WHEN starts_session THEN us END)
            OVER (PARTITION BY user_id ORDER BY us ROWS UNBOUNDED PRECEDING) AS session_start_us
    FROM gaps
)
SELECT
    user_id,
    ts,
    -- make_timestamp(µs) is the UTC wall time as a zone-less timestamp: no time-zone lookup per row.
    'gap:' || user_id || ':' || strftime(make_timestamp(session_start_us), '%Y-%m-%dT%H:%M:%S.%fZ')
        AS session_id
FROM gap_starts
