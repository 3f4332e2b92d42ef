-- Builds: (user_id, value) for every row of `ids` (distinct user ids): value = HMAC-SHA256(salt, user_id),
--         first 32 hex digits. HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)) (RFC 2104); the padded
--         keys $inner_pad and $outer_pad are computed from the salt by the caller (recrl.ingest.keys).
-- From: `ids` (user_id), a registered Arrow table.
SELECT user_id, left(sha256($outer_pad || unhex(sha256($inner_pad || encode(user_id)))), 32) AS value
FROM ids
