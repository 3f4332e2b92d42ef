-- Builds: temp view `sessioned_events`, `events` with every row given its session id: the log's own,
--         else its moment's gap session. A view, not a table: only the request and step aggregates
--         need sessions, and copying every row with its session string cost more than the join.
-- From: `events` and `gap_sessions` (one row per (user_id, ts), so the join adds no rows).
CREATE OR REPLACE TEMP VIEW sessioned_events AS
SELECT e.* EXCLUDE (session_id), coalesce(e.session_id, g.session_id) AS session_id
FROM events AS e
LEFT JOIN gap_sessions AS g ON g.user_id = e.user_id AND g.ts = e.ts
