-- Builds: the closing state of a run row.
-- From: the run's id, status and counts.
UPDATE runs
SET finished_at = now(), status = $status, n_train = $n_train, n_valid = $n_valid, n_test = $n_test
WHERE run_id = $run_id;
