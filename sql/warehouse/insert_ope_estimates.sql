-- Builds: rows of ope_estimates.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO ope_estimates BY NAME SELECT * FROM incoming;
