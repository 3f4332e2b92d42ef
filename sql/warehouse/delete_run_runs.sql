-- Builds: nothing; removes one run's rows of runs so re-running a night replaces, never doubles.
-- From: runs.
DELETE FROM runs WHERE run_id = $run_id;
