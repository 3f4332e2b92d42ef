-- Builds: the result table deployments (idempotent; run on every open of the warehouse): one row per
--         decision of the safe deployment gate (recrl.evaluate.gate), with the numbers behind it.
-- From: nothing; rows arrive through insert_deployments.sql.
CREATE TABLE IF NOT EXISTS deployments (
    run_id                 VARCHAR NOT NULL,   -- the run whose evaluation the gate read
    candidate              VARCHAR NOT NULL,   -- run_id/policy put to the gate
    incumbent              VARCHAR NOT NULL,   -- the policy serving before the decision
    candidate_estimator    VARCHAR NOT NULL,   -- e.g. dr-clip100
    candidate_estimate     DOUBLE,             -- expected reward per decision
    candidate_std_err      DOUBLE,
    candidate_lower_bound  DOUBLE,             -- estimate - z_{1-alpha} std_err
    incumbent_estimator    VARCHAR NOT NULL,   -- on-policy when the incumbent logged the decisions
    incumbent_estimate     DOUBLE,
    incumbent_std_err      DOUBLE,
    alpha                  DOUBLE NOT NULL,    -- 1 - level of the one-sided bound
    margin                 DOUBLE NOT NULL,
    decision               VARCHAR NOT NULL,   -- deploy | keep
    deployed               VARCHAR NOT NULL,   -- who serves next
    reason                 VARCHAR NOT NULL,
    candidate_true_value   DOUBLE,             -- simulator truth, never read by the gate
    incumbent_true_value   DOUBLE,
    created_at             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id)
);
