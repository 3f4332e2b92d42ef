-- Builds: temp table `history_events` (pos, user_id, ts, item_index, type_code): every click / cart /
--         purchase, numbered pos = 0, 1, ... in one total order (user, ts, then every other column),
--         so each user's feedback is one contiguous run of pos, oldest first. A state is a slice of it:
--         the last N events of the run with ts strictly before the decision (state_bounds.sql).
-- From: click / cart / purchase rows of `sessioned_events`, items mapped through `vocab` (unknown = 1),
--       types coded as recrl.schema.HISTORY_TYPE_CODE. The order breaks every tie, so rebuilds agree.
CREATE OR REPLACE TEMP TABLE history_events AS
SELECT
    row_number() OVER (
        ORDER BY e.user_id, e.ts, e.event_type, e.item_id, e.request_id, e.position, e.session_id, e.propensity,
            e.policy_id
    ) - 1 AS pos,
    e.user_id,
    e.ts,
    coalesce(v.item_index, 1)::INTEGER AS item_index,
    (CASE e.event_type WHEN 'click' THEN 1 WHEN 'cart' THEN 2 ELSE 3 END)::TINYINT AS type_code
FROM sessioned_events AS e
LEFT JOIN vocab AS v USING (item_id)
WHERE e.event_type IN ('click', 'cart', 'purchase')
