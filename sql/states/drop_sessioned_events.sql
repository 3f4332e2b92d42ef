-- Builds: nothing; drops temp table `sessioned_events` once `decisions` and `history_events` hold
--         what the transitions need, freeing its memory before they are written.
-- From: `sessioned_events`.
DROP TABLE sessioned_events
