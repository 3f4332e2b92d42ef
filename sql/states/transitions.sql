-- Builds: the transitions Parquet dataset at $out_dir, partitioned split=/date= (both also kept as columns).
-- From: `bandit_decisions` and `sequence_decisions` (the decisions), `history_at` (states: the row with the
--       greatest ts strictly before the decision's ts, and strictly before next_cut for the next state),
--       `vocab` (action index, unknown = 1) and `split_dates` (each decision's split by its date).
COPY (
    WITH decisions AS (
        SELECT * FROM bandit_decisions
        UNION ALL
        SELECT * FROM sequence_decisions
    ),
    -- The ASOF joins pick only the matching history row's ts; its lists are joined once, at the end.
    with_state AS (
        SELECT d.*, h.ts AS state_ts
        FROM decisions AS d
        ASOF LEFT JOIN (SELECT user_id, ts FROM history_at) AS h ON d.user_id = h.user_id AND d.ts > h.ts
    ),
    with_next_state AS (
        SELECT s.*, n.ts AS next_state_ts
        FROM with_state AS s
        ASOF LEFT JOIN (SELECT user_id, ts FROM history_at) AS n ON s.user_id = n.user_id AND s.next_cut > n.ts
    )
    SELECT
        t.decision_id,
        t.kind,
        t.request_id,
        t.user_id,
        t.session_id,
        t.ts,
        t.date,
        p.split,
        coalesce(h.items, [])::INTEGER[] AS history_items,
        coalesce(h.types, [])::TINYINT[] AS history_types,
        coalesce(v.item_index, 1)::INTEGER AS action,
        t.item_id AS action_item_id,
        t.position::SMALLINT AS position,
        t.click,
        t.cart,
        t.purchase,
        t.reward,
        t.propensity,
        t.policy_id,
        coalesce(n.items, [])::INTEGER[] AS next_history_items,
        coalesce(n.types, [])::TINYINT[] AS next_history_types,
        t.done
    FROM with_next_state AS t
    JOIN split_dates AS p USING (date)
    LEFT JOIN vocab AS v ON v.item_id = t.item_id
    LEFT JOIN history_at AS h ON h.user_id = t.user_id AND h.ts = t.state_ts
    LEFT JOIN history_at AS n ON n.user_id = t.user_id AND n.ts = t.next_state_ts
) TO $out_dir (FORMAT parquet, PARTITION_BY (split, date), WRITE_PARTITION_COLUMNS true)
