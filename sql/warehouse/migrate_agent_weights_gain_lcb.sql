-- Builds: the gain_lcb column of agent_weights in a warehouse written before it existed (idempotent; run
-- on every writer's open, after create_agent_weights.sql). Old rows keep null.
-- From: agent_weights.
ALTER TABLE agent_weights ADD COLUMN IF NOT EXISTS gain_lcb DOUBLE;
