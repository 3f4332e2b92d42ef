-- Builds: nothing; removes one run's rows of policies so re-running a night replaces, never doubles.
-- From: policies.
DELETE FROM policies WHERE run_id = $run_id;
