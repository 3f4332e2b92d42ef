-- Builds: one row (vocab_size, new_items): indices including the reserved 0 and 1, and items this build appended.
-- From: `vocab` and `previous_vocab`.
SELECT
    count(*)::BIGINT + 2 AS vocab_size,
    (count(*) - (SELECT count(*) FROM previous_vocab))::BIGINT AS new_items
FROM vocab
