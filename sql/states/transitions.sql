-- Builds: the transitions' rows (columns of recrl.states.TRANSITION_SCHEMA without the four history
--         lists) with the `history_events` slices of their state and next state: history_end /
--         history_length and next_history_end / next_history_length (recrl.states.write gathers them).
-- From: `decisions` and `state_bounds` (the state at the decision's ts, the next state at its next_cut).
SELECT
    d.* EXCLUDE (next_cut),
    s.history_end,
    s.history_length,
    n.history_end AS next_history_end,
    n.history_length AS next_history_length
FROM decisions AS d
JOIN state_bounds AS s ON s.user_id = d.user_id AND s.cut = d.ts
JOIN state_bounds AS n ON n.user_id = d.user_id AND n.cut = d.next_cut
