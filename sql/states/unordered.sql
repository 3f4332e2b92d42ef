-- Builds: nothing; lets DuckDB store and return rows in any order. No statement of the build relies on
--         insertion order (every order that matters is an ORDER BY), and keeping it would serialise the
--         parallel scans, joins and table writes.
-- From: the connection's settings (reads no table).
SET preserve_insertion_order = false
