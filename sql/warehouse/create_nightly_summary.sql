-- Builds: the result table nightly_summary (idempotent; run on every open of the warehouse): one row per
--         night of the closed loop on the simulator (recrl demo, recrl.loop).
-- From: nothing; rows arrive through insert_nightly_summary.sql.
CREATE TABLE IF NOT EXISTS nightly_summary (
    night                 INTEGER NOT NULL,   -- 1, 2, ...
    run_id                VARCHAR NOT NULL,
    test_date             DATE,               -- the day the served policy logged and was judged on
    served_policy         VARCHAR NOT NULL,   -- the deployed policy that served that day
    served_true_value     DOUBLE,             -- its simulator truth per impression that day
    served_estimate       DOUBLE,             -- its on-policy mean reward per impression
    served_ci_low         DOUBLE,             -- 95% bootstrap interval of that mean
    served_ci_high        DOUBLE,
    candidate             VARCHAR NOT NULL,   -- tonight's candidate (run_id/policy)
    candidate_true_value  DOUBLE,
    candidate_estimate    DOUBLE,             -- the gate's estimator (e.g. dr-clip100)
    candidate_ci_low      DOUBLE,
    candidate_ci_high     DOUBLE,
    candidate_lower_bound DOUBLE,             -- the gate's one-sided bound
    decision              VARCHAR NOT NULL,   -- deploy | keep (deployments.decision)
    deployed              VARCHAR NOT NULL,   -- who serves tomorrow
    seconds               DOUBLE,             -- wall time of the night
    PRIMARY KEY (run_id)
);
