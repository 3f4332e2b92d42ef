-- Builds: how well each estimator finds each policy's true value across every run with a truth (the
-- simulator): mean error, mean absolute error, and the share of runs whose 95% interval holds the truth.
-- From: ope_estimates.
SELECT
    policy,
    estimator,
    count(*) AS runs,
    round(avg(value - true_value), 4) AS mean_error,
    round(avg(abs(value - true_value)), 4) AS mean_abs_error,
    round(avg(CASE WHEN true_value BETWEEN ci_low AND ci_high THEN 1.0 ELSE 0.0 END), 2) AS ci_coverage
FROM ope_estimates
WHERE split = 'test' AND true_value IS NOT NULL
GROUP BY policy, estimator
ORDER BY policy, mean_abs_error;
