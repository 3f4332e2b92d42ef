-- Builds: (user_id, value) for every row of `ids` (distinct user ids): value = the id's user-hash shard
--         (user_shard_macro.sql).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, user_shard(user_id, $n_shards) AS value
FROM ids
