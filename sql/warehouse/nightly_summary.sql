-- Builds: the closed loop's nights in order (recrl demo prints it).
-- From: nightly_summary.
SELECT night, run_id, test_date, served_policy, served_true_value, served_estimate, served_ci_low,
       served_ci_high, candidate, candidate_true_value, candidate_estimate, candidate_lower_bound,
       decision, deployed, seconds
FROM nightly_summary
ORDER BY night
