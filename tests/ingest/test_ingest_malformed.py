"""A table of malformed inputs, each ingested next to a good row, each with its expected reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from ingest_helpers import CSV_HEADER, read_events, read_quarantine, write_csv

import recrl.ingest.run as run
from recrl.cli import main
from recrl.config import IngestConfig
from recrl.ingest import REASONS, ingest, reasons
from recrl.lake import DataLayout

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
    # An object or array is no id: its JSON text must not be accepted as one.
    ("json_user_object", '{"ts": "2026-11-01T10:00:00Z", "user_id": {"a": 1}, "item_id": "i1", "event_type": "click"}', "wrong_type"),
    ("json_session_array", '{"ts": "2026-11-01T10:00:00Z", "user_id": "u1", "session_id": [1], "item_id": "i1", "event_type": "click"}', "wrong_type"),
    ("json_item_array", '{"ts": "2026-11-01T10:00:00Z", "user_id": "u1", "item_id": [], "event_type": "click"}', "wrong_type"),
    ("json_nested_100k", "[" * 100_000 + "]" * 100_000, "malformed_line"),
    ("json_nested_value_100k", '{"user_id": ' + "[" * 100_000 + "]" * 100_000 + "}", "malformed_line"),
    # Valid JSON, but a lone surrogate is no Unicode text: that row, not the file.
    ("json_lone_surrogate", '{"ts": "2026-11-01T10:00:00Z", "user_id": "\\ud800", "item_id": "i1", "event_type": "click"}', "encoding_error"),
    ("json_ts_without_offset", '{"ts": "2026-11-01T10:00:00", "user_id": "u1", "item_id": "i1", "event_type": "click"}', "ts_no_utc_offset"),
]


def _ingest_one(path: Path, layout) -> tuple:
    report = ingest([path], "events", layout, IngestConfig(max_quarantine_share=1.0), now=NOW)
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
    assert rejected["reason_code"] in REASONS and rejected["reason"]
    assert events["position"].to_list() == [2] and events["user_id"].to_list() == ["u1"]


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


def test_cr_only_line_endings_are_line_endings(tmp_path, layout):
    # Old Mac exports end lines in a lone CR: each is a line, not part of one long header.
    path = tmp_path / "mac.csv"
    bad = "2026-11-01T10:00:00Z,u1,s1,i1,like,,,,"
    path.write_bytes("\r".join([CSV_HEADER, GOOD, bad, GOOD.replace("u1", "u2")]).encode() + b"\r")
    record, quarantine, events = _ingest_one(path, layout)
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows, record.duplicate_rows) == (3, 2, 1, 0)
    assert quarantine.select("raw", "line_number", "reason_code").row(0) == (bad, 3, "unknown_event_type")
    assert sorted(events["user_id"]) == ["u1", "u2"]


def test_otto_session_array_and_event_object_ids_are_quarantined(tmp_path, layout):
    path = tmp_path / "otto.jsonl"
    path.write_text(
        '{"session": 7, "events": [{"aid": 1, "ts": 1793527200000, "type": "clicks"}, {"aid": {"x": 1}, "ts": 1793527200000, "type": "clicks"}]}\n'
        '{"session": [1], "events": [{"aid": 2, "ts": 1793527200000, "type": "clicks"}]}\n'
    )
    record = ingest([path], "otto", layout, IngestConfig(max_quarantine_share=1.0), now=NOW).files[0]
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (3, 1, 2)
    quarantine = read_quarantine(layout)
    assert quarantine.select("line_number", "record_index", "reason_code").rows() == [(1, 1, "wrong_type"), (2, 0, "wrong_type")]
    assert read_events(layout)["item_id"].to_list() == ["1"]


def test_duplicated_header_column_is_one_line_naming_it(tmp_path, layout, capsys):
    header = CSV_HEADER.replace("session_id", "user_id")
    path = write_csv(tmp_path / "dup.csv", [GOOD], header=header)
    with pytest.raises(ValueError, match="column 'user_id' twice"):
        ingest([path], "events", layout, IngestConfig(), now=NOW)
    assert not layout.events.exists() and not layout.quarantine.exists()
    assert main(["ingest", str(path), "--format", "events", "--lake", str(layout.root)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "'user_id' twice" in error and "Traceback" not in error


def test_every_reason_code_is_a_constant_of_reasons():
    codes = {value for name, value in vars(reasons).items() if name.isupper() and isinstance(value, str)}
    assert codes == set(REASONS) and reasons.TS_NO_UTC_OFFSET in codes


NAIVE = ["2026-11-01T10:00:00,u1,s1,i2,click,,,,", "2026-11-01 11:00:00.5,u2,s1,i1,click,,,,"]
NAIVE_UTC = [dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, 11, 0, 0, 500_000, tzinfo=dt.UTC)]


def _naive_file(tmp_path, streaming: bool) -> Path:
    """The naive rows with a good one; ``streaming=False`` adds a quoted row, which takes the line path."""
    rows = [GOOD, *NAIVE] + ([] if streaming else ['2026-11-01T12:00:00Z,"u3",s1,i1,click,,,,'])
    return write_csv(tmp_path / f"naive_{streaming}.csv", rows)


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "line_path"])
def test_naive_timestamps_rejected_with_the_fix_in_the_reason(tmp_path, layout, monkeypatch, streaming):
    calls = []
    real = run.stage_plain_csv
    monkeypatch.setattr(run, "stage_plain_csv", lambda *args: calls.append(real(*args)) or calls[-1])
    record = ingest([_naive_file(tmp_path, streaming)], "events", layout, IngestConfig(max_quarantine_share=1.0), now=NOW).files[0]
    assert (calls[0] is not None) if streaming else not calls
    assert (record.accepted_rows, record.quarantined_rows) == (1 + (not streaming), 2)
    quarantine = read_quarantine(layout)
    assert quarantine["reason_code"].to_list() == [reasons.TS_NO_UTC_OFFSET] * 2
    assert quarantine["raw"].to_list() == NAIVE
    assert all("no UTC offset" in text and "naive_timestamps='utc'" in text for text in quarantine["reason"])


def test_a_file_of_naive_timestamps_is_refused_with_the_setting_to_change(tmp_path, layout, capsys):
    """The default quarantine gate stops a batch of mostly naive timestamps and names the fix."""
    path = write_csv(tmp_path / "naive.csv", [GOOD, *NAIVE])
    with pytest.raises(run.QuarantineShareError, match="ts_no_utc_offset: 2 rows") as refused:
        ingest([path], "events", layout, IngestConfig(), now=NOW)
    assert "set ingest.naive_timestamps='utc'" in str(refused.value)
    assert not layout.events.exists() or not any(layout.events.rglob("*.parquet"))
    assert main(["ingest", str(path), "--format", "events", "--lake", str(layout.root)]) == 2
    assert "naive_timestamps='utc'" in capsys.readouterr().err


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "line_path"])
def test_naive_timestamps_read_as_utc_when_configured(tmp_path, layout, monkeypatch, streaming):
    calls = []
    real = run.stage_plain_csv
    monkeypatch.setattr(run, "stage_plain_csv", lambda *args: calls.append(real(*args)) or calls[-1])
    config = IngestConfig(naive_timestamps="utc")
    record = ingest([_naive_file(tmp_path, streaming)], "events", layout, config, now=NOW).files[0]
    assert (calls[0] is not None) if streaming else not calls
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (3 + (not streaming), 3 + (not streaming), 0)
    events = read_events(layout).filter(pl.col("user_id").is_in(["u1", "u2"])).sort("ts")
    # GOOD (u1, i1 at 10:00Z) and the first naive row (u1, i2) read as UTC: the same instant.
    assert events.select("user_id", "ts").rows() == [("u1", NAIVE_UTC[0]), ("u1", NAIVE_UTC[0]), ("u2", NAIVE_UTC[1])]


def test_naive_parquet_timestamps_follow_the_setting(tmp_path):
    path = tmp_path / "naive.parquet"
    pl.DataFrame({"ts": [dt.datetime(2026, 11, 1, 10)], "user_id": ["u1"], "item_id": ["i1"], "event_type": ["click"]}).write_parquet(path)
    rejected = DataLayout(tmp_path / "reject")
    assert ingest([path], "events", rejected, IngestConfig(max_quarantine_share=1.0), now=NOW).files[0].quarantined_rows == 1
    assert read_quarantine(rejected)["reason_code"].to_list() == [reasons.TS_NO_UTC_OFFSET]
    utc = DataLayout(tmp_path / "utc")
    assert ingest([path], "events", utc, IngestConfig(naive_timestamps="utc"), now=NOW).files[0].accepted_rows == 1
    assert read_events(utc)["ts"].to_list() == [dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)]


def _slate_rows(positions: list[int], user: str = "u1") -> list[str]:
    return [f"2026-11-01T10:00:{second:02d}Z,{user},s1,i{second},impression,{p},r1,0.5,p" for second, p in enumerate(positions)]


@pytest.mark.parametrize("kind", ["csv_streaming", "csv_line_path", "jsonl"])
def test_one_based_positions_are_refused_before_anything_is_published(tmp_path, layout, kind):
    rows = _slate_rows([1, 2, 3, 1, 2, 3])
    if kind == "jsonl":
        path = tmp_path / "slates.jsonl"
        path.write_text("".join(f'{{"ts": "{r.split(",")[0]}", "user_id": "u1", "item_id": "i", "event_type": "impression", "position": {r.split(",")[5]}}}\n' for r in rows))
    else:
        path = write_csv(tmp_path / "slates.csv", rows + ([] if kind == "csv_streaming" else ['2026-11-01T12:00:00Z,"u3",s1,i1,click,,,,']))
    zero_based = write_csv(tmp_path / "fine.csv", _slate_rows([0, 1, 2], "u9"))
    with pytest.raises(ValueError, match=r"positions look 1-based \(1\.\.3, no 0\): set ingest.positions='one-based'") as error:
        ingest([zero_based, path], "events", layout, IngestConfig(), now=NOW)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert not layout.events.exists() and not layout.quarantine.exists() and not layout.reconciliation.exists()
    staging = layout.lake / "_staging"
    assert not staging.exists() or not any(staging.iterdir())


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "line_path"])
def test_one_based_positions_are_stored_zero_based_and_a_zero_is_quarantined(tmp_path, layout, streaming):
    rows = _slate_rows([1, 2, 3, 0, 3]) + ([] if streaming else ['2026-11-01T12:00:00Z,"u3",s1,i1,click,,,,'])
    path = write_csv(tmp_path / "one_based.csv", rows)
    record = ingest([path], "events", layout, IngestConfig(positions="one-based"), now=NOW).files[0]
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows) == (len(rows), len(rows) - 1, 1)
    quarantine = read_quarantine(layout)
    assert quarantine.select("line_number", "reason_code").rows() == [(5, reasons.ZERO_POSITION_ONE_BASED)]
    events = read_events(layout).sort("ts")
    assert events["position"].to_list()[:4] == [0, 1, 2, 2]


@pytest.mark.parametrize("positions", [[2, 3, 4], [1, 1, 1], [1, 3, 4]], ids=["from_2", "only_1", "gap"])
def test_positions_that_are_not_exactly_1_to_k_are_kept(tmp_path, layout, positions):
    path = write_csv(tmp_path / "slots.csv", _slate_rows(positions))
    assert ingest([path], "events", layout, IngestConfig(), now=NOW).files[0].accepted_rows == 3


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "line_path"])
@pytest.mark.parametrize("setting", [{"naive_timestamps": "UTC"}, {"positions": "1-based"}])
def test_unknown_setting_values_are_refused_on_both_paths(tmp_path, layout, streaming, setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        ingest([_naive_file(tmp_path, streaming)], "events", layout, IngestConfig(**setting), now=NOW)
