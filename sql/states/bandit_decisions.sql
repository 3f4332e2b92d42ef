-- Builds: temp view `bandit_decisions`, one row per shown item and position of every logged slate.
-- From: rows with a request_id: per slot, the impression and the click / cart / purchase rows with the
--       same request_id, item_id and position (the feedback that impression earned), gathered by one
--       aggregate over `events` (transitions.sql turns the flags into the reward); per request, one
--       aggregate over `sessioned_events` (only requests need the session).
--       A request belongs to one user and session: the smallest user_id and session_id among its
--       impression rows (a clean log has one of each; the slots take their request's).
--       next_cut bounds the next state: the user's next request in the same session (strictly before),
--       or, at the session's last request (done), just after the request's last event (its feedback).
CREATE OR REPLACE TEMP VIEW bandit_decisions AS
WITH slots AS (
    -- A slot logged twice with different details keeps one row (its earliest ts and the smallest
    -- propensity and policy), so decision ids stay unique; a clean log has one impression per slot.
    -- Feedback counts only where the position is known (a slot without one cannot be matched).
    SELECT
        request_id,
        position,
        item_id,
        min(ts) FILTER (WHERE event_type = 'impression') AS ts,
        min(date) FILTER (WHERE event_type = 'impression') AS date,
        min(propensity) FILTER (WHERE event_type = 'impression') AS propensity,
        min(policy_id) FILTER (WHERE event_type = 'impression') AS policy_id,
        (CASE WHEN position IS NULL THEN 0 ELSE max((event_type = 'click')::TINYINT) END)::TINYINT AS click,
        (CASE WHEN position IS NULL THEN 0 ELSE max((event_type = 'cart')::TINYINT) END)::TINYINT AS cart,
        (CASE WHEN position IS NULL THEN 0 ELSE max((event_type = 'purchase')::TINYINT) END)::TINYINT AS purchase
    FROM events
    WHERE request_id IS NOT NULL
    GROUP BY request_id, position, item_id
    HAVING min(ts) FILTER (WHERE event_type = 'impression') IS NOT NULL
),
requests AS (
    SELECT
        request_id,
        min(user_id) FILTER (WHERE event_type = 'impression') AS user_id,
        min(session_id) FILTER (WHERE event_type = 'impression') AS session_id,
        min(ts) FILTER (WHERE event_type = 'impression') AS request_ts,
        max(ts) AS end_ts
    FROM sessioned_events
    WHERE request_id IS NOT NULL
    GROUP BY request_id
    HAVING min(ts) FILTER (WHERE event_type = 'impression') IS NOT NULL
),
request_cuts AS (
    SELECT
        request_id,
        user_id,
        session_id,
        lead(request_ts) OVER (PARTITION BY user_id, session_id ORDER BY request_ts, request_id) AS next_request_ts,
        end_ts
    FROM requests
)
SELECT
    'bandit:' || s.request_id || ':' || coalesce(s.position::VARCHAR, '') || ':' || s.item_id AS decision_id,
    'bandit' AS kind,
    s.request_id,
    c.user_id,
    c.session_id,
    s.ts,
    s.date,
    s.item_id,
    s.position,
    s.click,
    s.cart,
    s.purchase,
    s.propensity,
    s.policy_id,
    c.next_request_ts IS NULL AS done,
    coalesce(c.next_request_ts, c.end_ts + INTERVAL 1 MICROSECOND) AS next_cut
FROM slots AS s
JOIN request_cuts AS c USING (request_id)
