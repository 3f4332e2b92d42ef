-- Builds: one row per row of `ids` (distinct user ids): user_id, _user_out (the id kept as is) and
--         _shard, its user-hash shard (as in user_shards.sql).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, user_id AS _user_out, (('0x' || left(md5(user_id), 8))::UBIGINT % $n_shards)::INTEGER AS _shard
FROM ids
