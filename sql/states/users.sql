-- Builds: temp table `users` (user_id, user_key): every user with click / cart / purchase events,
--         numbered 1, 2, ... in user_id order. States are looked up by this integer (recrl.states.history);
--         a user without feedback has no key (the transitions give 0: every state of theirs is empty).
-- From: click / cart / purchase rows of `events`.
CREATE OR REPLACE TEMP TABLE users AS
SELECT user_id, (row_number() OVER (ORDER BY user_id))::INTEGER AS user_key
FROM (SELECT DISTINCT user_id FROM events WHERE event_type IN ('click', 'cart', 'purchase'))
