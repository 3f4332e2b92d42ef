-- Builds: the result table runs (idempotent; run on every open of the warehouse).
-- From: nothing; rows arrive through insert_runs.sql.
CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,  -- one nightly or manual run
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,     -- running | succeeded | failed
    source        VARCHAR NOT NULL,     -- 'simulator' or the ingested path
    data_root     VARCHAR NOT NULL,
    n_train       BIGINT,               -- decisions per split
    n_valid       BIGINT,
    n_test        BIGINT,
    config_json   VARCHAR NOT NULL      -- resolved PipelineConfig
);
