-- Builds: the result table behaviour_model (idempotent; run on every open of the warehouse): how well
-- each behaviour model beta_hat(a | x, k) predicts the logged items on the valid days.
-- From: nothing; rows arrive through insert_behaviour_model.sql.
CREATE TABLE IF NOT EXISTS behaviour_model (
    run_id           VARCHAR NOT NULL,
    decision_kind    VARCHAR NOT NULL,  -- bandit (logged item at its slot) | sequence (next item interacted with)
    model            VARCHAR NOT NULL,  -- estimated (conditional logit) | popularity (per-slot shares) | logged
    split            VARCHAR NOT NULL,  -- valid: fitted on train, checked here
    n_fit            BIGINT,            -- train decisions the model was fitted on (null for logged)
    n                BIGINT NOT NULL,   -- valid decisions scored
    log_loss         DOUBLE,            -- mean -log beta_hat(a_i | x_i, k_i); for logged: of the logged propensities
    ece              DOUBLE,            -- sum over reliability bins |predicted - observed| / n (0 = calibrated)
    used             BOOLEAN NOT NULL,  -- its propensities went into this run's ope_estimates
    reliability_json VARCHAR            -- [{bin, low, high, cells, predicted, observed}] over deciles of beta_hat
);
