-- Builds: temp table `history_at` (user_id, ts, items, types): for every user and every ts at which the
--         user had feedback, the last $history_len feedback events at or before that ts, oldest first.
-- From: click / cart / purchase rows of `sessioned_events`, items mapped through `vocab` (unknown = 1),
--       types coded as recrl.schema.HISTORY_TYPE_CODE. A state "strictly before t" is the row with the
--       greatest ts < t (an ASOF join), so no state can hold an event at or after its decision time.
CREATE OR REPLACE TEMP TABLE history_at AS
WITH feedback AS (
    SELECT
        e.user_id,
        e.ts,
        coalesce(v.item_index, 1)::INTEGER AS item_index,
        (CASE e.event_type WHEN 'click' THEN 1 WHEN 'cart' THEN 2 ELSE 3 END)::TINYINT AS type_code,
        -- A total order, so the list kept at each ts is the same on every run.
        row_number() OVER (
            PARTITION BY e.user_id
            ORDER BY e.ts, e.event_type, e.item_id, e.request_id, e.position, e.session_id, e.propensity, e.policy_id
        ) AS seq
    FROM sessioned_events AS e
    LEFT JOIN vocab AS v USING (item_id)
    WHERE e.event_type IN ('click', 'cart', 'purchase')
),
rolling AS (
    SELECT
        user_id,
        ts,
        seq,
        list(item_index) OVER recent AS items,
        list(type_code) OVER recent AS types,
        max(seq) OVER (PARTITION BY user_id, ts) AS last_seq_at_ts
    FROM feedback
    WINDOW recent AS (PARTITION BY user_id ORDER BY seq ROWS BETWEEN $history_len - 1 PRECEDING AND CURRENT ROW)
)
SELECT user_id, ts, items, types
FROM rolling
WHERE seq = last_seq_at_ts
