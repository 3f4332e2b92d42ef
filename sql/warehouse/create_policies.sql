-- Builds: the result table policies (idempotent; run on every open of the warehouse).
-- From: nothing; rows arrive through insert_policies.sql.
CREATE TABLE IF NOT EXISTS policies (
    run_id         VARCHAR NOT NULL,
    policy         VARCHAR NOT NULL,    -- e.g. actor-critic, item-knn, popularity, logging, oracle
    kind           VARCHAR NOT NULL,    -- agent | baseline | logging | oracle
    temperature    DOUBLE,              -- softmax temperature served (chosen on valid)
    true_value     DOUBLE,              -- simulator: expected reward per impression on the test contexts
    checkpoint     VARCHAR,             -- safetensors path, when the policy has one
    config_json    VARCHAR,             -- the policy's own settings
    PRIMARY KEY (run_id, policy)
);
