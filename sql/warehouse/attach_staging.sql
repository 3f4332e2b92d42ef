-- Builds: the catalog `warehouse`, the staging file a writer fills before it is published. A new file
-- is written in $storage_version's format (so older DuckDB builds such as the 1.5 CLI read it); a
-- copied file keeps the format it has.
-- From: the staging file (recrl.store.warehouse.writing).
ATTACH $path AS warehouse (STORAGE_VERSION $storage_version);
