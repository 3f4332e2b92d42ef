-- Builds: one row per row of `ids` (distinct user ids): user_id, _user_out (its salted hash,
--         salted_id_macro.sql) and _shard, the user-hash shard of that hash (user_shard_macro.sql).
-- From: `ids` (user_id), a registered Arrow table.
WITH salted AS (
    SELECT user_id, salted_id(user_id, $inner_pad, $outer_pad) AS _user_out
    FROM ids
)
SELECT user_id, _user_out, user_shard(_user_out, $n_shards) AS _shard
FROM salted
