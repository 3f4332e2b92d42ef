-- Builds: temp table `vocab` (item_index, item_id, count, first_seen_date), the item vocabulary.
-- From: `events` of the train split (`split_dates`), `previous_vocab` (last night's vocabulary, empty on
--       the first night) and `catalogue` (item ids of the lake's items table, empty without one).
--       Items of `previous_vocab` keep their index; train items it lacks that occur at least
--       $min_item_count times are appended after its largest index, in order of first train date, then
--       item id; then catalogue items that neither holds and that never occur in train (new items with
--       titles but no history yet: count 0, first_seen_date the last train date), in item id order.
--       Indices 0 (padding) and 1 (unknown) are reserved.
CREATE OR REPLACE TEMP TABLE vocab AS
WITH train_counts AS (
    SELECT e.item_id, count(*)::BIGINT AS count, min(e.date) AS first_seen_date
    FROM events AS e
    JOIN split_dates AS s USING (date)
    WHERE s.split = 'train'
    GROUP BY e.item_id
),
kept AS (
    SELECT p.item_index, p.item_id, coalesce(c.count, 0)::BIGINT AS count, p.first_seen_date
    FROM previous_vocab AS p
    LEFT JOIN train_counts AS c USING (item_id)
),
fresh AS (
    SELECT c.*, 0 AS block
    FROM train_counts AS c
    ANTI JOIN previous_vocab AS p USING (item_id)
    WHERE c.count >= $min_item_count
),
catalogued AS (
    SELECT DISTINCT
        c.item_id,
        0::BIGINT AS count,
        (SELECT max(date) FROM split_dates WHERE split = 'train') AS first_seen_date,
        1 AS block
    FROM catalogue AS c
    ANTI JOIN previous_vocab AS p USING (item_id)
    ANTI JOIN train_counts AS t USING (item_id)
),
appended AS (
    SELECT * FROM fresh
    UNION ALL
    SELECT * FROM catalogued
)
SELECT item_index::INTEGER AS item_index, item_id, count, first_seen_date
FROM kept
UNION ALL
SELECT
    ((SELECT coalesce(max(item_index), 1) FROM previous_vocab)
        + row_number() OVER (ORDER BY block, first_seen_date, item_id))::INTEGER AS item_index,
    item_id,
    count,
    first_seen_date
FROM appended
