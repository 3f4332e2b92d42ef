-- Builds: nothing; removes one run's rows of ranking_metrics so re-running a night replaces, never doubles.
-- From: ranking_metrics.
DELETE FROM ranking_metrics WHERE run_id = $run_id;
