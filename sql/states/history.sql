-- Builds: every click / cart / purchase as (user_key, ts_us, item_index, type_code), ordered by user,
--         then ts, so each user's feedback is one contiguous run, oldest first. A state is a slice of it:
--         the last N events of the run with ts strictly before the decision (recrl.states.history).
--         Ties inside a ts are ordered by event type, then item id; rows tied on both hold the same
--         item and type, so every slice's lists are fully determined and rebuilds agree.
-- From: click / cart / purchase rows of `events`, users numbered by `users`, items mapped
--       through `vocab` (unknown = 1), types coded as recrl.schema.HISTORY_TYPE_CODE.
SELECT
    u.user_key,
    epoch_us(e.ts) AS ts_us,
    coalesce(v.item_index, 1)::INTEGER AS item_index,
    (CASE e.event_type WHEN 'click' THEN 1 WHEN 'cart' THEN 2 ELSE 3 END)::TINYINT AS type_code
FROM events AS e
JOIN users AS u USING (user_id)
LEFT JOIN vocab AS v USING (item_id)
WHERE e.event_type IN ('click', 'cart', 'purchase')
ORDER BY u.user_key, e.ts, e.event_type, e.item_id
