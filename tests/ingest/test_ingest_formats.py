"""Golden tests: each format ingests its fixture and yields exactly the expected canonical rows."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
from ingest_helpers import FIXTURES, read_events, read_quarantine, shared

from recrl.config import IngestConfig
from recrl.ingest import ingest
from recrl.schema import EVENT_SCHEMA

UTC = dt.UTC


def _only(frame: pl.DataFrame, **equal: object) -> dict:
    rows = frame.filter(*(pl.col(name) == value for name, value in equal.items()))
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_lake_columns_are_the_event_schema_plus_batch_id(layout):
    ingest([FIXTURES / "retailrocket_events.csv"], "retailrocket", layout, IngestConfig())
    part = next(layout.events.glob("date=*/shard=*/part-*.parquet"))
    schema = pl.read_parquet_schema(part)
    assert list(schema) == [*EVENT_SCHEMA.names, "ingest_batch_id"]
    assert schema["ts"] == pl.Datetime("us", "UTC") and schema["position"] == pl.Int16


def test_obd_random_all_golden(layout):
    path = shared("obd/random/all/all.csv")
    raw = pl.read_csv(path)
    report = ingest([path], "obd", layout, IngestConfig())
    events = read_events(layout)
    n_clicks = int(raw["click"].sum())
    assert report.files[0].input_rows == 10_000 + n_clicks
    assert report.files[0].accepted_rows == events.height == 10_000 + n_clicks
    assert events.filter(pl.col("event_type") == "impression").height == 10_000
    assert events.filter(pl.col("event_type") == "click").height == n_clicks
    first = _only(events, request_id="obd-random-all-0", event_type="impression")
    assert first["ts"] == dt.datetime(2019, 11, 24, 0, 0, 34, 762830, tzinfo=UTC)
    assert (first["item_id"], first["position"], first["propensity"]) == ("14", 2, 0.0125)
    assert first["policy_id"] == "obd-random" and first["session_id"] is None
    assert first["user_id"].startswith("obd-") and len(first["user_id"]) == 20
    # Same four user features -> same user id; row 1 differs in features 2 and 3.
    second = _only(events, request_id="obd-random-all-1", event_type="impression")
    assert second["user_id"] != first["user_id"]
    assert set(events["position"].unique()) == {0, 1, 2}
    # Every click shares ts, item, position and request with its impression.
    clicks = events.filter(pl.col("event_type") == "click").drop("event_type")
    impressions = events.filter(pl.col("event_type") == "impression").drop("event_type")
    assert clicks.join(impressions, on=clicks.columns, how="anti", nulls_equal=True).height == 0
    clicked_rows = raw.with_row_index("row").filter(pl.col("click") == 1)["row"].to_list()
    assert sorted(int(r.rsplit("-", 1)[1]) for r in clicks["request_id"]) == clicked_rows


def test_obd_items_from_item_context(layout):
    path = shared("obd/bts/men/men.csv")
    ingest([path], "obd", layout, IngestConfig())
    items = pl.read_parquet(layout.items / "**/*.parquet")
    assert items.columns[:3] == ["item_id", "title", "category"]
    assert items.height == 34 and items["item_id"].n_unique() == 34
    assert {"item_feature_0", "item_feature_3"} <= set(items.columns)
    assert set(read_events(layout)["policy_id"]) == {"obd-bts"}


def test_otto_sessions_golden(layout):
    path = shared("otto/sessions_sample.jsonl")
    report = ingest([path], "otto", layout, IngestConfig())
    events = read_events(layout)
    assert report.files[0].input_rows == 862 and report.files[0].accepted_rows == 862
    counts = dict(events.group_by("event_type").len().iter_rows())
    assert counts == {"click": 800, "cart": 52, "purchase": 10}
    first_line = json.loads(path.read_text().splitlines()[0])
    first_event = first_line["events"][0]
    row = _only(events, session_id=str(first_line["session"]), item_id=str(first_event["aid"]),
                ts=dt.datetime.fromtimestamp(first_event["ts"] / 1000, tz=UTC))
    assert row["user_id"] == row["session_id"] == "0" and row["event_type"] == "click"
    assert events["position"].null_count() == events.height
    assert events["item_id"].n_unique() == 510


def test_retailrocket_golden(layout):
    report = ingest([FIXTURES / "retailrocket_events.csv"], "retailrocket", layout, IngestConfig())
    events = read_events(layout)
    assert (report.files[0].input_rows, report.files[0].accepted_rows, report.files[0].quarantined_rows) == (7, 6, 1)
    row = _only(events, item_id="367447")
    assert row["user_id"] == "951259" and row["event_type"] == "purchase"
    assert row["ts"] == dt.datetime.fromtimestamp(1433223236.124, tz=UTC)
    assert _only(events, item_id="318965")["event_type"] == "cart"
    assert _only(events, item_id="355908")["event_type"] == "click"
    rejected = read_quarantine(layout).row(0, named=True)
    assert rejected["reason_code"] == "unknown_event_type" and rejected["line_number"] == 8
    assert rejected["raw"] == "1433222531378,810725,click,443030,"


def test_taobao_golden_fav_is_quarantined_and_categories_become_items(layout):
    path = FIXTURES / "taobao_user_behavior.csv"
    report = ingest([path], "taobao", layout, IngestConfig())
    events = read_events(layout)
    record = report.files[0]
    assert (record.input_rows, record.accepted_rows, record.quarantined_rows, record.duplicate_rows) == (7, 6, 1, 0)
    buy = _only(events, item_id="1603476")
    assert buy["event_type"] == "purchase" and buy["user_id"] == "100"
    assert buy["ts"] == dt.datetime.fromtimestamp(1511686208, tz=UTC)
    assert set(events["event_type"]) == {"click", "cart", "purchase"}
    fav = read_quarantine(layout).row(0, named=True)
    assert fav["reason_code"] == "unmapped_event_type" and fav["raw"] == "100,4954999,411153,fav,1511753316"
    items = pl.read_parquet(layout.items / "**/*.parquet").sort("item_id")
    assert items.height == 6
    assert _only(items, item_id="2268318")["category"] == "2520377"


def test_canonical_csv_jsonl_and_parquet_give_the_same_events(tmp_path):
    from ingest_helpers import write_csv

    from recrl.lake import DataLayout

    rows = ["2026-11-01T10:00:00.5Z,u1,s1,i1,impression,0,r1,0.25,p", "2026-11-01T10:00:01+00:00,u1,s1,i1,click,0,r1,,p",
            "2026-11-02 09:00:00+0100,u2,,i2,purchase,,,,"]
    csv_path = write_csv(tmp_path / "e.csv", rows)
    canonical = pl.read_csv(csv_path, infer_schema=False)
    jsonl_path = tmp_path / "e.jsonl"
    canonical.with_columns(pl.col("position").cast(pl.Int64), pl.col("propensity").cast(pl.Float64)).write_ndjson(jsonl_path)
    parquet_path = tmp_path / "e.parquet"
    canonical.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC", time_unit="us")).write_parquet(parquet_path)
    lakes = []
    for path in (csv_path, jsonl_path, parquet_path):
        layout = DataLayout(tmp_path / path.suffix[1:])
        assert ingest([path], "events", layout, IngestConfig()).files[0].accepted_rows == 3
        lakes.append(read_events(layout).drop("ingest_batch_id"))
    assert lakes[0].equals(lakes[1]) and lakes[0].equals(lakes[2])
    assert lakes[0]["ts"].to_list()[2] == dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
