-- Builds: every test-split estimate of one run with the policy's true value beside it.
-- From: ope_estimates, policies.
SELECT e.policy, p.kind, e.estimator, e.value, e.ci_low, e.ci_high, e.ess, e.max_weight, e.share_clipped,
       e.n, e.propensity_source, p.true_value, p.temperature
FROM ope_estimates AS e
JOIN policies AS p ON p.run_id = e.run_id AND p.policy = e.policy
WHERE e.run_id = $run_id AND e.split = 'test'
ORDER BY p.true_value DESC NULLS LAST, e.policy, e.estimator;
