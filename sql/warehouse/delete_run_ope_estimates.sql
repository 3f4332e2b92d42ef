-- Builds: nothing; removes one run's rows of ope_estimates so re-running a night replaces, never doubles.
-- From: ope_estimates.
DELETE FROM ope_estimates WHERE run_id = $run_id;
