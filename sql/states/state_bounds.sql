-- Builds: temp table `state_bounds` (user_id, cut, history_end, history_length): for every time a
--         state is taken at (a decision's ts, a decision's next_cut), the slice of `history_events`
--         holding the user's last $history_len feedback events strictly before it:
--         pos in [history_end - history_length, history_end).
-- From: `decisions` (the cut points) and `history_events`. Per user and ts, end_pos is one past the
--       last pos at that ts; an ASOF join picks the greatest ts strictly before the cut, so no state
--       can hold an event at or after its cut. A user without earlier feedback gets an empty slice.
CREATE OR REPLACE TEMP TABLE state_bounds AS
WITH cuts AS (
    SELECT
        user_id,
        ts,
        max(pos) + 1 AS end_pos,
        min(min(pos)) OVER (PARTITION BY user_id) AS first_pos
    FROM history_events
    GROUP BY user_id, ts
),
cut_points AS (
    SELECT user_id, ts AS cut FROM decisions
    UNION
    SELECT user_id, next_cut AS cut FROM decisions
)
SELECT
    p.user_id,
    p.cut,
    coalesce(c.end_pos, 0)::BIGINT AS history_end,
    -- least() skips NULLs, so the empty slice (no ASOF match) is spelled out.
    (CASE WHEN c.end_pos IS NULL THEN 0 ELSE least(c.end_pos - c.first_pos, $history_len) END)::INTEGER
        AS history_length
FROM cut_points AS p
ASOF LEFT JOIN cuts AS c ON p.user_id = c.user_id AND p.cut > c.ts
