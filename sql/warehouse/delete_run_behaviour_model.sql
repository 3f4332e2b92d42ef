-- Builds: nothing; removes one run's rows of behaviour_model so re-running a night replaces, never doubles.
-- From: behaviour_model.
DELETE FROM behaviour_model WHERE run_id = $run_id;
