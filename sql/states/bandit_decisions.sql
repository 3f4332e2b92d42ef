-- Builds: temp table `bandit_decisions`, one row per shown item and position of every logged slate.
-- From: impression rows of `sessioned_events` (those with a request_id) and the click / cart / purchase
--       rows with the same request_id, item_id and position (the feedback that impression earned).
--       reward = $reward_click * click + $reward_cart * cart + $reward_purchase * purchase.
--       next_cut bounds the next state: the user's next request in the same session (strictly before),
--       or, at the session's last request (done), just after the request's last event (its feedback).
CREATE OR REPLACE TEMP TABLE bandit_decisions AS
WITH impressions AS (
    -- A slot logged twice with different details keeps one row (its earliest ts and the smallest of
    -- each detail), so decision ids stay unique; a clean log has one row per slot already.
    SELECT
        request_id,
        position,
        item_id,
        min(ts) AS ts,
        min(date) AS date,
        min(user_id) AS user_id,
        min(session_id) AS session_id,
        min(propensity) AS propensity,
        min(policy_id) AS policy_id
    FROM sessioned_events
    WHERE event_type = 'impression' AND request_id IS NOT NULL
    GROUP BY request_id, position, item_id
),
feedback AS (
    SELECT
        request_id,
        item_id,
        position,
        max((event_type = 'click')::TINYINT) AS click,
        max((event_type = 'cart')::TINYINT) AS cart,
        max((event_type = 'purchase')::TINYINT) AS purchase
    FROM sessioned_events
    WHERE event_type IN ('click', 'cart', 'purchase') AND request_id IS NOT NULL
    GROUP BY request_id, item_id, position
),
requests AS (
    SELECT request_id, any_value(user_id) AS user_id, any_value(session_id) AS session_id, min(ts) AS request_ts
    FROM impressions
    GROUP BY request_id
),
request_ends AS (
    SELECT request_id, max(ts) AS end_ts
    FROM sessioned_events
    WHERE request_id IS NOT NULL
    GROUP BY request_id
),
request_cuts AS (
    SELECT
        r.request_id,
        lead(r.request_ts) OVER (PARTITION BY r.user_id, r.session_id ORDER BY r.request_ts, r.request_id)
            AS next_request_ts,
        e.end_ts
    FROM requests AS r
    JOIN request_ends AS e USING (request_id)
)
SELECT
    'bandit:' || i.request_id || ':' || coalesce(i.position::VARCHAR, '') || ':' || i.item_id AS decision_id,
    'bandit' AS kind,
    i.request_id,
    i.user_id,
    i.session_id,
    i.ts,
    i.date,
    i.item_id,
    i.position,
    coalesce(f.click, 0)::TINYINT AS click,
    coalesce(f.cart, 0)::TINYINT AS cart,
    coalesce(f.purchase, 0)::TINYINT AS purchase,
    ($reward_click * coalesce(f.click, 0) + $reward_cart * coalesce(f.cart, 0)
        + $reward_purchase * coalesce(f.purchase, 0))::DOUBLE AS reward,
    i.propensity,
    i.policy_id,
    c.next_request_ts IS NULL AS done,
    coalesce(c.next_request_ts, c.end_ts + INTERVAL 1 MICROSECOND) AS next_cut
FROM impressions AS i
JOIN request_cuts AS c USING (request_id)
LEFT JOIN feedback AS f USING (request_id, item_id, position)
