-- Builds: nothing; removes one run's rows of nightly_summary so re-running a night replaces, never doubles.
-- From: nightly_summary.
DELETE FROM nightly_summary WHERE run_id = $run_id;
