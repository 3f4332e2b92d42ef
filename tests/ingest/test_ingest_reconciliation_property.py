"""Property: for any mixture of good and bad rows, input = accepted + quarantined + duplicates, per file."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import read_events, write_csv

from recrl.config import IngestConfig
from recrl.ingest import ingest
from recrl.lake import DataLayout

NOW = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
GOOD = st.builds(
    lambda day, user, item, kind, pos: f"2026-11-0{day}T10:00:00Z,u{user},,i{item},{kind},{pos},,,",
    st.integers(1, 3), st.integers(0, 5), st.integers(0, 5),
    st.sampled_from(["impression", "click", "cart", "purchase"]), st.integers(0, 2),
)
BAD = st.sampled_from([
    "2026-11-01T10:00:00Z,,,i1,click,,,,",
    "nope,u1,,i1,click,,,,",
    "2026-11-01T10:00:00Z,u1,,i1,wave,,,,",
    "2026-11-01T10:00:00Z,u1,,i1,click,-3,,,",
    "2026-11-01T10:00:00Z,u1,,i1,click,0,,7,",
    "only,three,fields",
])
SLOT_ZERO = "2026-11-01T09:00:00Z,u0,,i0,impression,0,,,"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(st.one_of(GOOD, BAD), min_size=1, max_size=25), min_size=1, max_size=3))
def test_reconciliation_holds_for_random_mixtures(files):
    # Each file holds a slot-0 row: positions 1..K with no 0 would be refused as 1-based.
    files = [[SLOT_ZERO, *rows] for rows in files]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_csv(Path(tmp) / f"f{index}.csv", rows) for index, rows in enumerate(files)]
        layout = DataLayout(Path(tmp) / "data")
        report = ingest(paths, "events", layout, IngestConfig(max_quarantine_share=1.0, skip_ingested=False), now=NOW)
        for record, rows in zip(report.files, files, strict=True):
            assert record.input_rows == len(rows)
            assert record.input_rows == record.accepted_rows + record.quarantined_rows + record.duplicate_rows
        good_rows = {row for rows in files for row in rows if row.count(",") == 8 and row.split(",")[1] and row.split(",")[0] != "nope" and ",wave," not in row and ",-3," not in row and ",7," not in row}
        assert sum(r.accepted_rows for r in report.files) == len(good_rows) == read_events(layout).height
