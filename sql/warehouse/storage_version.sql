-- Builds: the storage format of the attached warehouse file, e.g. 'v1.5.0+' (the oldest DuckDB that reads it).
-- From: duckdb_databases().
SELECT tags['storage_version'] AS storage_version FROM duckdb_databases() WHERE database_name = 'warehouse';
