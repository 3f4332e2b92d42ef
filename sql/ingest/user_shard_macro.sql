-- Builds: the temp macro user_shard(user_id, n_shards), the user-hash shard of an id: the first 8 hex
--         digits of md5(user_id) read as an integer, modulo n_shards (recrl.lake.user_shard, vectorised).
-- From: nothing (a definition; the queries of sql/ingest/ call it).
CREATE OR REPLACE TEMP MACRO user_shard(user_id, n_shards) AS
    (('0x' || left(md5(user_id), 8))::UBIGINT % n_shards)::INTEGER
