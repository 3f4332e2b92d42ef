-- Builds: a nullable value column of ranking_metrics in a warehouse written before a target without
-- positives was stored as NULL with n = 0 (idempotent; run on every writer's open).
-- From: ranking_metrics.
ALTER TABLE ranking_metrics ALTER COLUMN value DROP NOT NULL;
