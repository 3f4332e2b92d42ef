-- Builds: the model_std_err column of ope_estimates in a warehouse written before it existed
-- (idempotent; run on every writer's open, after create_ope_estimates.sql). Old rows keep null.
-- From: ope_estimates.
ALTER TABLE ope_estimates ADD COLUMN IF NOT EXISTS model_std_err DOUBLE;
