-- Builds: the transitions' rows (columns of recrl.states.TRANSITION_SCHEMA without the four history
--         lists) plus where their states are cut: user_key (`users`, 0 for a user without feedback),
--         state_cut_us (the decision's ts) and next_cut_us (the next state holds feedback strictly
--         before it), in epoch microseconds. recrl.states.write gathers the lists from `history`.
-- From: `bandit_decisions` and `sequence_decisions` (the decisions), `vocab` (action index, unknown = 1),
--       `split_dates` (each decision's split by its date) and `users`.
--       Reward: bandit = $reward_click * click + $reward_cart * cart + $reward_purchase * purchase (the
--       feedback that impression earned); sequence = the largest weight among the step's event types
--       (with the default weights, its strongest event).
WITH both_kinds AS (
    SELECT * FROM bandit_decisions
    UNION ALL
    SELECT * FROM sequence_decisions
)
SELECT
    d.decision_id,
    d.kind,
    d.request_id,
    d.user_id,
    d.session_id,
    d.ts,
    d.date,
    p.split,
    coalesce(v.item_index, 1)::INTEGER AS action,
    d.item_id AS action_item_id,
    d.position::SMALLINT AS position,
    d.click,
    d.cart,
    d.purchase,
    CASE d.kind
        WHEN 'bandit' THEN $reward_click * d.click + $reward_cart * d.cart + $reward_purchase * d.purchase
        ELSE greatest($reward_click * d.click, $reward_cart * d.cart, $reward_purchase * d.purchase)
    END::DOUBLE AS reward,
    d.propensity,
    d.policy_id,
    d.done,
    coalesce(u.user_key, 0) AS user_key,
    epoch_us(d.ts) AS state_cut_us,
    epoch_us(d.next_cut) AS next_cut_us
FROM both_kinds AS d
JOIN split_dates AS p USING (date)
LEFT JOIN vocab AS v ON v.item_id = d.item_id
LEFT JOIN users AS u ON u.user_id = d.user_id
