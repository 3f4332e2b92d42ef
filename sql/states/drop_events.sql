-- Builds: nothing; drops temp table `events` once `sessioned_events` holds every row, freeing its memory.
-- From: `events`.
DROP TABLE events
