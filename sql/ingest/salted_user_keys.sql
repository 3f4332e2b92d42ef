-- Builds: one row per row of `ids` (distinct user ids): user_id, _user_out (its salted hash, as in
--         salted_user_ids.sql) and _shard, the user-hash shard of that hash (as in user_shards.sql).
-- From: `ids` (user_id), a registered Arrow table.
WITH salted AS (
    SELECT user_id, left(sha256($outer_pad || unhex(sha256($inner_pad || encode(user_id)))), 32) AS _user_out
    FROM ids
)
SELECT user_id, _user_out, (('0x' || left(md5(_user_out), 8))::UBIGINT % $n_shards)::INTEGER AS _shard
FROM salted
