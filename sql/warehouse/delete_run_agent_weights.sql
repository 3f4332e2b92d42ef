-- Builds: nothing; removes one run's rows of agent_weights so re-running a night replaces, never doubles.
-- From: agent_weights.
DELETE FROM agent_weights WHERE run_id = $run_id;
