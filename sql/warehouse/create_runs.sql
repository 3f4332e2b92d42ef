-- Builds: the result table runs (idempotent; run on every open of the warehouse).
-- From: nothing; rows arrive through insert_runs.sql, built by recrl.store.runs.
CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,  -- one nightly or manual run (also the Prefect flow run's name)
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,     -- succeeded | failed
    source        VARCHAR NOT NULL,     -- 'simulator', 'lake' or the ingested path
    data_root     VARCHAR NOT NULL,
    n_train       BIGINT,               -- decisions per split
    n_valid       BIGINT,
    n_test        BIGINT,
    config_json   VARCHAR NOT NULL,     -- resolved PipelineConfig
    failed_stage  VARCHAR,              -- the stage (task name) that failed; null when succeeded
    error         VARCHAR,              -- the failure's first line; null when succeeded
    stage_seconds VARCHAR,              -- JSON {stage: wall seconds} of the stages that finished
    code_version  VARCHAR,              -- recrl's package version + git commit ('0.1.0+g3142a94[.dirty]')
    data_version  VARCHAR               -- SHA-256 of the lake's reconciliation records (what was ingested)
);
