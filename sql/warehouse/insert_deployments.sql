-- Builds: rows of deployments.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO deployments BY NAME SELECT * FROM incoming;
