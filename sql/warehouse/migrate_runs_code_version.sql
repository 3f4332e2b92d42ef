-- Builds: the code_version column of runs in a warehouse written before it existed (idempotent; run on
-- every writer's open, after create_runs.sql). Old rows keep null.
-- From: runs.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS code_version VARCHAR;
