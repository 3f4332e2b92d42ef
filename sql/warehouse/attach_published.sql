-- Builds: the catalog `published`, the file readers see now, opened read-only so that its tables can be
-- copied into a staging file in another storage format (its WAL, if one was left, is replayed in memory).
-- From: the published warehouse file.
ATTACH $path AS published (READ_ONLY);
