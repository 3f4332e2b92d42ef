-- Builds: the item vocabulary Parquet file at $out_path (item_index, item_id, count, first_seen_date).
-- From: `vocab`, in index order (the reserved indices 0 and 1 are not stored).
COPY (SELECT item_index, item_id, count, first_seen_date FROM vocab ORDER BY item_index) TO $out_path (FORMAT parquet)
