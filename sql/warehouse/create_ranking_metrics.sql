-- Builds: the result table ranking_metrics (idempotent; run on every open of the warehouse).
-- From: nothing; rows arrive through insert_ranking_metrics.sql.
CREATE TABLE IF NOT EXISTS ranking_metrics (
    run_id   VARCHAR NOT NULL,
    policy   VARCHAR NOT NULL,
    split    VARCHAR NOT NULL,
    target   VARCHAR NOT NULL,          -- click | purchase: which logged feedback is the positive
    metric   VARCHAR NOT NULL,          -- hr | ndcg
    k        INTEGER NOT NULL,
    value    DOUBLE,                    -- null when n = 0: no positive decision to rank
    n        BIGINT NOT NULL            -- positive decisions ranked
);
