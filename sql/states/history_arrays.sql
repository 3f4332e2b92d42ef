-- Builds: the columns (item_index, type_code) of `history_events` in pos order, the values every
--         state slice points into.
-- From: `history_events`.
SELECT item_index, type_code
FROM history_events
ORDER BY pos
