-- Builds: the result table agent_weights (idempotent; run on every open of the warehouse): per run, the
-- best candidate of every fusion the coordinator tried on the valid days, one row per agent, and which
-- fusion was served (recrl.agents.coordinator: score = valid_lcb - kappa * weak_mass picks each fusion's
-- best; the served one has the best gain_lcb over the anchor, if above coordinator.anchor_margin).
-- From: nothing; rows arrive through insert_agent_weights.sql.
CREATE TABLE IF NOT EXISTS agent_weights (
    run_id      VARCHAR NOT NULL,
    fusion      VARCHAR NOT NULL,       -- average | borda | gate
    agent       VARCHAR NOT NULL,       -- the member (policy name in policies)
    weight      DOUBLE NOT NULL,        -- static weight; the gate's mean weight over the valid states
    temperature DOUBLE NOT NULL,        -- the team's serving temperature with these weights
    valid_dr    DOUBLE NOT NULL,        -- DR estimate of the fused policy on the valid days
    valid_lcb   DOUBLE NOT NULL,        -- one-sided lower confidence bound of valid_dr
    weak_mass   DOUBLE NOT NULL,        -- served mass on items weakly supported on the valid days
    score       DOUBLE NOT NULL,        -- valid_lcb - support_penalty * weak_mass: each fusion's best maximises it
    chosen      BOOLEAN NOT NULL,       -- the candidate served as the team
    gain_lcb    DOUBLE,                 -- paired lower bound of its gain in score over the anchor (null: no anchor)
    anchor      VARCHAR                 -- the agent the team starts from (coordinator.anchor; null: none)
);
