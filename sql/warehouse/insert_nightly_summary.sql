-- Builds: rows of nightly_summary.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO nightly_summary BY NAME SELECT * FROM incoming;
