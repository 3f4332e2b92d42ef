-- Builds: rows of behaviour_model.
-- From: the Arrow table registered as 'incoming' (columns matched by name).
INSERT INTO behaviour_model BY NAME SELECT * FROM incoming;
