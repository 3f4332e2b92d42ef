-- Builds: temp table `decisions`, every transition's columns except the four history lists, plus
--         next_cut (the next state holds feedback strictly before it).
-- From: `bandit_decisions` and `sequence_decisions` (the decisions), `vocab` (action index, unknown = 1)
--       and `split_dates` (each decision's split by its date).
--       Reward: bandit = $reward_click * click + $reward_cart * cart + $reward_purchase * purchase (the
--       feedback that impression earned); sequence = the largest weight among the step's event types
--       (with the default weights, its strongest event).
CREATE OR REPLACE TEMP TABLE decisions AS
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
    d.next_cut
FROM both_kinds AS d
JOIN split_dates AS p USING (date)
LEFT JOIN vocab AS v ON v.item_id = d.item_id
