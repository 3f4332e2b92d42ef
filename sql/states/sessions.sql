-- Builds: temp table `sessioned_events`, `events` with every row given a session id.
-- From: `events`. Rows that carry the log's own session id keep it. Rows without one are cut into
--       sessions per user by inactivity: a gap of more than $gap_minutes minutes since the user's
--       previous id-less event starts a new session. Such a session's id is
--       'gap:<user_id>:<start ts>' so it does not change when later nights append events.
CREATE OR REPLACE TEMP TABLE sessioned_events AS
WITH gaps AS (
    SELECT
        *,
        coalesce(ts - lag(ts) OVER by_user > to_minutes($gap_minutes), true) AS starts_session
    FROM events
    WHERE session_id IS NULL
    WINDOW by_user AS (PARTITION BY user_id ORDER BY ts)
),
cut AS (
    SELECT
        * EXCLUDE (session_id, starts_session),
        'gap:' || user_id || ':' || strftime(
            -- RANGE frame (the default): rows at the same ts see each other, so ties share one session.
            max(CASE WHEN starts_session THEN ts END) OVER (PARTITION BY user_id ORDER BY ts),
            '%Y-%m-%dT%H:%M:%S.%fZ'
        ) AS session_id
    FROM gaps
)
SELECT ts, user_id, session_id, item_id, event_type, position, request_id, propensity, policy_id, date
FROM cut
UNION ALL
SELECT ts, user_id, session_id, item_id, event_type, position, request_id, propensity, policy_id, date
FROM events
WHERE session_id IS NOT NULL
