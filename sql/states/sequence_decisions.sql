-- Builds: temp view `sequence_decisions`, one row per step of every session of organic feedback.
-- From: click / cart / purchase rows of `sessioned_events` without a request_id (implicit logs). A step
--       is one item at one ts in one session; its action is that item, its flags the event types it
--       holds (transitions.sql gives it the largest of their weights). No propensity is logged.
--       next_cut bounds the next state: the session's next step (strictly before), or just after this
--       step at the session's last step (done).
CREATE OR REPLACE TEMP VIEW sequence_decisions AS
WITH steps AS (
    SELECT
        user_id,
        session_id,
        ts,
        date,
        item_id,
        max((event_type = 'click')::TINYINT) AS click,
        max((event_type = 'cart')::TINYINT) AS cart,
        max((event_type = 'purchase')::TINYINT) AS purchase
    FROM sessioned_events
    WHERE event_type IN ('click', 'cart', 'purchase') AND request_id IS NULL
    GROUP BY user_id, session_id, ts, date, item_id
),
ordered AS (
    SELECT
        *,
        lead(ts) OVER (PARTITION BY user_id, session_id ORDER BY ts, item_id) AS next_step_ts
    FROM steps
)
SELECT
    'sequence:' || user_id || ':' || session_id || ':' || epoch_us(ts)::VARCHAR || ':' || item_id AS decision_id,
    'sequence' AS kind,
    NULL::VARCHAR AS request_id,
    user_id,
    session_id,
    ts,
    date,
    item_id,
    NULL::SMALLINT AS position,
    click,
    cart,
    purchase,
    NULL::DOUBLE AS propensity,
    NULL::VARCHAR AS policy_id,
    next_step_ts IS NULL AS done,
    coalesce(next_step_ts, ts + INTERVAL 1 MICROSECOND) AS next_cut
FROM ordered
