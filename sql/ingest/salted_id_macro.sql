-- Builds: the temp macro salted_id(user_id, inner_pad, outer_pad) = HMAC-SHA256(salt, user_id), first 32
--         hex digits. HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)) (RFC 2104); the padded keys are
--         computed from the salt by the caller (recrl.ingest.keys) and bound as parameters.
-- From: nothing (a definition; the queries of sql/ingest/ call it).
CREATE OR REPLACE TEMP MACRO salted_id(user_id, inner_pad, outer_pad) AS
    left(sha256(outer_pad || unhex(sha256(inner_pad || encode(user_id)))), 32)
