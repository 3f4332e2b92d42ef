-- Builds: one row per row of `ids` (distinct user ids): user_id, _user_out (the id kept as is) and
--         _shard, its user-hash shard (user_shard_macro.sql).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, user_id AS _user_out, user_shard(user_id, $n_shards) AS _shard
FROM ids
