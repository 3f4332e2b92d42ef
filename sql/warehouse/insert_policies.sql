-- Builds: rows of policies.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO policies BY NAME SELECT * FROM incoming;
