-- Builds: every table, view and row of the published warehouse inside the staging catalog `warehouse`,
-- in the staging file's storage format (migrates a file written in a newer one).
-- From: the catalogs `published` (attach_published.sql) and `warehouse` (attach_staging.sql).
COPY FROM DATABASE published TO warehouse;
