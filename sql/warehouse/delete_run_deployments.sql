-- Builds: nothing; removes one run's rows of deployments so re-running a night replaces, never doubles.
-- From: deployments.
DELETE FROM deployments WHERE run_id = $run_id;
