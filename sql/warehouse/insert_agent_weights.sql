-- Builds: rows of agent_weights.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO agent_weights BY NAME SELECT * FROM incoming;
