"""A table of malformed inputs, each ingested next to a good row, each with its expected reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from ingest_helpers import read_events, read_quarantine, write_csv

from recrl.config import IngestConfig
from recrl.ingest import REASONS, ingest

GOOD = "2026-11-01T10:00:00Z,u1,s1,i1,click,,,,"
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)

CSV_CASES = [
    ("missing_user", "2026-11-01T10:00:00Z,,s1,i1,click,,,,", "missing_field"),
    ("blank_item", "2026-11-01T10:00:00Z,u1,s1,  ,click,,,,", "missing_field"),
    ("missing_ts", ",u1,s1,i1,click,,,,", "missing_field"),
    ("missing_event_type", "2026-11-01T10:00:00Z,u1,s1,i1,,,,,", "missing_field"),
    ("garbage_ts", "yesterday,u1,s1,i1,click,,,,", "bad_timestamp"),
    ("ts_without_offset", "2026-11-01T10:00:00,u1,s1,i1,click,,,,", "ts_no_utc_offset"),
    ("ts_space_without_offset", "2026-11-01 10:00:00,u1,s1,i1,click,,,,", "ts_no_utc_offset"),
    ("impossible_date", "2026-02-30T10:00:00Z,u1,s1,i1,click,,,,", "bad_timestamp"),
    ("ts_before_minimum", "1999-12-31T23:59:59Z,u1,s1,i1,click,,,,", "timestamp_out_of_range"),
    ("ts_far_future", "2026-11-05T00:00:00Z,u1,s1,i1,click,,,,", "timestamp_out_of_range"),
    ("unknown_type", "2026-11-01T10:00:00Z,u1,s1,i1,like,,,,", "unknown_event_type"),
    ("type_wrong_case", "2026-11-01T10:00:00Z,u1,s1,i1,Click,,,,", "unknown_event_type"),
    ("position_text", "2026-11-01T10:00:00Z,u1,s1,i1,click,first,r1,0.5,p", "wrong_type"),
    ("position_float", "2026-11-01T10:00:00Z,u1,s1,i1,click,1.5,r1,0.5,p", "wrong_type"),
    ("position_over_int16", "2026-11-01T10:00:00Z,u1,s1,i1,click,40000,r1,0.5,p", "wrong_type"),
    ("propensity_text", "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,high,p", "wrong_type"),
    ("negative_position", "2026-11-01T10:00:00Z,u1,s1,i1,impression,-1,r1,0.5,p", "negative_position"),
    ("propensity_zero", "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,0,p", "propensity_out_of_range"),
    ("propensity_above_one", "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,1.2,p", "propensity_out_of_range"),
    ("propensity_negative", "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,-0.1,p", "propensity_out_of_range"),
    ("propensity_nan", "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,nan,p", "propensity_out_of_range"),
    ("too_few_fields", "2026-11-01T10:00:00Z,u1,s1,i1,click", "malformed_line"),
    ("too_many_fields", "2026-11-01T10:00:00Z,u1,s1,i1,click,,,,,extra", "malformed_line"),
    ("unbalanced_quote", '2026-11-01T10:00:00Z,"u1,s1,i1,click,,,,', "malformed_line"),
]

JSONL_CASES = [
    ("json_not_object", "[1, 2, 3]", "malformed_line"),
    ("json_truncated", '{"ts": "2026-11-01T10:00:00Z", "user_id": "u1"', "malformed_line"),
    ("json_null_user", '{"ts": "2026-11-01T10:00:00Z", "user_id": null, "item_id": "i1", "event_type": "click"}', "missing_field"),
    ("json_position_object", '{"ts": "2026-11-01T10:00:00Z", "user_id": "u1", "item_id": "i1", "event_type": "click", "position": {"a": 1}}', "wrong_type"),
    ("json_ts_number", '{"ts": 1793527200, "user_id": "u1", "item_id": "i1", "event_type": "click"}', "bad_timestamp"),
]


def _ingest_one(path: Path, layout) -> tuple:
    report = ingest([path], "events", layout, IngestConfig(), now=NOW)
    return report.files[0], read_quarantine(layout), read_events(layout)


@pytest.mark.parametrize(("name", "line", "reason"), CSV_CASES, ids=[case[0] for case in CSV_CASES])
def test_malformed_csv_row_is_quarantined_with_reason(tmp_path, layout, name, line, reason):
    path = write_csv(tmp_path / f"{name}.csv", [GOOD, line, GOOD.replace("u1", "u2")])
    record, quarantine, events = _ingest_one(path, layout)
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows, record.duplicate_rows) == (3, 2, 1, 0)
    rejected = quarantine.row(0, named=True)
    assert rejected["reason_code"] == reason, rejected["reason"]
    assert rejected["reason_code"] in REASONS and rejected["reason"]
    assert (rejected["raw"], rejected["line_number"]) == (line, 3)
    assert rejected["source_file"] == str(path.resolve())
    assert sorted(events["user_id"]) == ["u1", "u2"]


@pytest.mark.parametrize(("name", "line", "reason"), JSONL_CASES, ids=[case[0] for case in JSONL_CASES])
def test_malformed_jsonl_record_is_quarantined_with_reason(tmp_path, layout, name, line, reason):
    good = '{"ts": "2026-11-01T10:00:00Z", "user_id": "u1", "item_id": "i1", "event_type": "click", "position": 2}'
    path = tmp_path / f"{name}.jsonl"
    path.write_text(f"{good}\n{line}\n")
    record, quarantine, events = _ingest_one(path, layout)
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (2, 1, 1)
    rejected = quarantine.row(0, named=True)
    assert (rejected["reason_code"], rejected["raw"], rejected["line_number"]) == (reason, line, 2)
    assert events["position"].to_list() == [2]


def test_invalid_utf8_line_is_an_encoding_error_and_neighbours_survive(tmp_path, layout):
    path = tmp_path / "latin1.csv"
    good = GOOD.encode()
    path.write_bytes(b"\n".join([b"ts,user_id,session_id,item_id,event_type,position,request_id,propensity,policy_id",
                                 good, GOOD.replace("u1", "Jos\xe9").encode("latin-1"), "\u00e9,".encode() + good]) + b"\n")
    record, quarantine, events = _ingest_one(path, layout)
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (3, 1, 2)
    assert quarantine["reason_code"].to_list() == ["encoding_error", "malformed_line"]
    assert quarantine["line_number"].to_list() == [3, 4]
    assert "Jos\ufffd" in quarantine["raw"][0]


def test_crlf_blank_lines_and_quoted_fields(tmp_path, layout):
    path = tmp_path / "windows.csv"
    rows = [GOOD, "", '2026-11-01T11:00:00Z,"u,3",s1,i1,click,,,,', "2026-11-01T12:00:00Z,u4,s1,i1,purchase,,,,"]
    path.write_bytes(("\r\n".join(["ts,user_id,session_id,item_id,event_type,position,request_id,propensity,policy_id", *rows]) + "\r\n").encode())
    record, _, events = ingest([path], "events", layout, IngestConfig(), now=NOW).files[0], None, read_events(layout)
    assert (record.input_rows, record.accepted_rows) == (3, 3)
    assert sorted(events["user_id"]) == ["u,3", "u1", "u4"]


def test_missing_required_column_refuses_the_file_and_writes_nothing(tmp_path, layout):
    path = write_csv(tmp_path / "no_item.csv", ["2026-11-01T10:00:00Z,u1,click"], header="ts,user_id,event_type")
    with pytest.raises(ValueError, match="item_id"):
        ingest([path], "events", layout, IngestConfig(), now=NOW)
    assert not layout.events.exists() and not layout.quarantine.exists()
