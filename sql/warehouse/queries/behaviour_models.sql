-- Builds: the behaviour-model checks of every run, latest first: per decision kind, how well each model
-- of the logging policy predicts the logged items on the valid days (log loss, calibration error) and
-- whether its propensities went into the run's estimates.
-- From: runs, behaviour_model.
SELECT
    b.run_id,
    b.decision_kind,
    b.model,
    b.used,
    b.n,
    round(b.log_loss, 4) AS log_loss,
    round(b.ece, 4) AS ece
FROM behaviour_model AS b
JOIN runs AS r USING (run_id)
ORDER BY r.started_at DESC, b.decision_kind, b.used DESC, b.log_loss;
