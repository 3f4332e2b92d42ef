-- Builds: the result table ope_estimates (idempotent; run on every open of the warehouse).
-- From: nothing; rows arrive through insert_ope_estimates.sql.
CREATE TABLE IF NOT EXISTS ope_estimates (
    run_id        VARCHAR NOT NULL,
    policy        VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,     -- test (valid only for model selection)
    estimator     VARCHAR NOT NULL,     -- ips | snips | dm | dr | sndr | switch-dr | dr-os | on-policy;
                                        -- ips-clip100 / dr-clip100: weights clipped at lambda (recrl.ope.rows)
    value         DOUBLE NOT NULL,      -- estimated expected reward per impression
    ci_low        DOUBLE,
    ci_high       DOUBLE,
    ci_method     VARCHAR,              -- how ci_low/ci_high were made: bootstrap (percentile), or
                                        -- bootstrap+model-floor (joined with value -/+ z model_std_err)
    normal_ci_low  DOUBLE,              -- normal-approximation interval from the influence function
    normal_ci_high DOUBLE,
    std_err       DOUBLE,               -- max(empirical, model_std_err): what the LCBs and the gate read
    n             BIGINT NOT NULL,      -- logged decisions used
    ess           DOUBLE,               -- Kish effective sample size of the weights
    max_weight    DOUBLE,
    share_clipped DOUBLE,
    lambda_       DOUBLE,
    true_value    DOUBLE,               -- simulator truth beside the estimate, null on real logs
    created_at    TIMESTAMPTZ NOT NULL,
    propensity_source VARCHAR,          -- logged | estimated (behaviour_model); null on rows written before it
    model_std_err DOUBLE                -- the reward model's standard error (recrl.ope.api.model_standard_error);
                                        -- null without a reward model and on rows written before it
);
