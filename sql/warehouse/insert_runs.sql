-- Builds: rows of runs.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO runs BY NAME SELECT * FROM incoming;
