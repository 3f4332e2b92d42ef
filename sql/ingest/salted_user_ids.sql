-- Builds: (user_id, value) for every row of `ids` (distinct user ids): value = the id's salted hash
--         (salted_id_macro.sql).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, salted_id(user_id, $inner_pad, $outer_pad) AS value
FROM ids
