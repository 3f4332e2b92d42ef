-- Builds: rows of ranking_metrics.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO ranking_metrics BY NAME SELECT * FROM incoming;
