-- Builds: (user_id, value) for every row of `ids` (distinct user ids): value = the id's user-hash shard,
--         the first 8 hex digits of md5(user_id) read as an integer, modulo $n_shards
--         (recrl.lake.user_shard, vectorised).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, (('0x' || left(md5(user_id), 8))::UBIGINT % $n_shards)::INTEGER AS value
FROM ids
