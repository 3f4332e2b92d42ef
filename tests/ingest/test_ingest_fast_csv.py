"""The fast CSV pipeline gives exactly the lake of the block path, and hands every other file to it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random

import polars as pl
import pytest
from ingest_helpers import CSV_HEADER, lake_content, write_csv

import recrl.ingest.run as run
from recrl.config import IngestConfig
from recrl.ingest import fast_csv, ingest
from recrl.ingest.fast_csv import profile_file
from recrl.ingest.keys import user_key_table
from recrl.ingest.validate import ISO_T, validation_columns
from recrl.lake import DataLayout, user_shard

NOW = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
# Bad rows that keep a file plain: the pipeline itself must find their reasons.
PLAIN_BAD = [
    "yesterday,u1,s1,i1,click,,,,",
    "2026-11-01T10:00:00,u1,s1,i1,click,,,,",
    "1999-12-31T23:59:59Z,u1,s1,i1,click,,,,",
    "2026-11-30T00:00:00Z,u1,s1,i1,click,,,,",
    "2026-11-01T10:00:00Z,,s1,i1,click,,,,",
    "2026-11-01T10:00:00Z,u1,s1,  ,click,,,,",
    "2026-11-01T10:00:00Z,u1,s1,i1,like,,,,",
    "2026-11-01T10:00:00Z,u1,s1,i1,click,first,r1,0.5,p",
    "2026-11-01T10:00:00Z,u1,s1,i1,click,40000,r1,0.5,p",
    "2026-11-01T10:00:00Z,u1,s1,i1,impression,-1,r1,0.5,p",
    "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,1.5,p",
    "2026-11-01T10:00:00Z,u1,s1,i1,impression,0,r1,high,p",
]


def _rows(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"2026-11-0{1 + rng.randrange(4)}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}+00:00,"
        f"user{rng.randrange(40)},{rng.choice(['', f's{rng.randrange(9)}'])},item{rng.randrange(30)},"
        f"{rng.choice(['impression', 'click', 'cart', 'purchase'])},{rng.choice(['', str(rng.randrange(3))])},"
        f"r{rng.randrange(50)},{rng.choice(['', f'{rng.uniform(0.01, 1):.3f}'])},{rng.choice(['', 'p'])}"
        for _ in range(n)
    ]


def _mixed(seed: int) -> list[str]:
    rows = _rows(400, seed) + PLAIN_BAD
    rows += rows[:40]  # duplicates inside the file, good and bad
    random.Random(seed).shuffle(rows)
    return rows


@pytest.fixture
def fast_calls(monkeypatch) -> list:
    """Results of every fast-path staging call (None = the file was handed to the block path)."""
    calls: list = []
    real = run.stage_plain_csv

    def spy(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(run, "stage_plain_csv", spy)
    return calls


def _nights(tmp_path, name: str, fast: bool, nights: list[list], config: IngestConfig | None = None) -> tuple[dict, pl.DataFrame]:
    """Ingest ``nights`` (lists of input files) in turn into a fresh lake; its content and reconciliation.

    ``fast=False`` keeps every file off the streaming pipeline (no user table: the line path reads it).
    """
    layout = DataLayout(tmp_path / name)
    config = config or IngestConfig(n_shards=3, max_quarantine_share=1.0, skip_ingested=False)
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(run, "_user_table_or_none", lambda *args: None)
        for files in nights:
            ingest(files, "events", layout, config, now=NOW)
    records = pl.read_parquet(layout.reconciliation / "*.parquet").drop("started_at").sort("ingest_batch_id", "source_file")
    return lake_content(layout), records


def _assert_same_lake(left: tuple[dict, pl.DataFrame], right: tuple[dict, pl.DataFrame]) -> None:
    assert left[0].keys() == right[0].keys()
    for name, frame in left[0].items():
        assert frame.equals(right[0][name]), name
    assert left[1].equals(right[1])


def test_fast_path_lake_equals_block_path_lake_over_nights(tmp_path, fast_calls):
    night_1 = [write_csv(tmp_path / "a.csv", _mixed(0)), write_csv(tmp_path / "b.csv", _mixed(1))]
    # A second night re-exports part of the first (lake duplicates) with new rows.
    night_2 = [write_csv(tmp_path / "c.csv", _mixed(0)[100:] + _rows(200, 2))]
    fast = _nights(tmp_path, "fast", True, [night_1, night_2])
    assert len(fast_calls) == 3 and all(call is not None for call in fast_calls)
    block = _nights(tmp_path, "block", False, [night_1, night_2])
    assert len(fast_calls) == 3
    _assert_same_lake(fast, block)
    records = fast[1]
    assert (records["input_rows"] == records["accepted_rows"] + records["quarantined_rows"] + records["duplicate_rows"]).all()
    assert records["quarantined_rows"].sum() > 2 * len(PLAIN_BAD) and records["duplicate_rows"].min() > 0
    quarantine = pl.concat([frame for name, frame in fast[0].items() if name.startswith("quarantine")])
    assert set(quarantine["reason_code"]) >= {"bad_timestamp", "timestamp_out_of_range", "missing_field", "unknown_event_type",
                                              "wrong_type", "negative_position", "propensity_out_of_range"}
    assert set(quarantine["raw"]) == set(PLAIN_BAD)


def test_fast_path_writes_the_same_bytes_for_the_same_input(tmp_path, fast_calls):
    source = write_csv(tmp_path / "night.csv", _mixed(3))
    lakes = [DataLayout(tmp_path / name) for name in ("x", "y")]
    for layout in lakes:
        ingest([source], "events", layout, IngestConfig(max_quarantine_share=1.0), now=NOW)
    files = [sorted(p.relative_to(layout.lake) for p in layout.lake.glob("[eq]*/**/*.parquet")) for layout in lakes]
    assert files[0] == files[1] and files[0]
    for relative in files[0]:
        assert (lakes[0].lake / relative).read_bytes() == (lakes[1].lake / relative).read_bytes(), relative


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("quoted", f'{CSV_HEADER}\n"2026-11-01T10:00:00Z",u1,,i1,click,,,,\n2026-11-01T10:00:01Z,u2,,i1,click,,,,\n'.encode()),
        ("crlf", f"{CSV_HEADER}\r\n2026-11-01T10:00:00Z,u1,,i1,click,,,,\r\n".encode()),
        ("blank_line", f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,\n\n2026-11-01T10:00:01Z,u2,,i1,click,,,,\n".encode()),
        # The comma total balances: the blank line's missing commas sit on a line with too many.
        (
            "blank_and_too_many",
            f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,,,,,,\n\n"
            "2026-11-01T10:00:01Z,u2,,i1,click,,,,\n".encode(),
        ),
        ("too_few", f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,\n2026-11-01T10:00:01Z,u2,,i1,click,,,,,\n".encode()),
        ("too_many", f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,,\n".encode()),
        ("bad_utf8", f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,\n".encode() + b"2026-11-01T10:00:01Z,\xff,,i1,click,,,,\n"),
        ("bom", f"\ufeff{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,\n".encode()),
        ("space_ts", f"{CSV_HEADER}\n2026-11-01 10:00:00Z,u1,,i1,click,,,,\n2026-11-01T10:00:01Z,u2,,i1,click,,,,\n".encode()),
        ("no_final_newline", f"{CSV_HEADER}\n2026-11-01T10:00:00Z,u1,,i1,click,,,,\n2026-11-01T10:00:01Z,u2,,i1,like,,,,".encode()),
    ],
)
def test_files_the_pipeline_cannot_take_fall_back_with_the_same_result(tmp_path, fast_calls, name, content):
    source = tmp_path / f"{name}.csv"
    source.write_bytes(content)
    fast = _nights(tmp_path, "fast", True, [[source]])
    block = _nights(tmp_path, "block", False, [[source]])
    _assert_same_lake(fast, block)
    if name == "no_final_newline":
        assert fast_calls == [(1, 1)]  # plain: the pipeline took it
    else:
        assert all(call is None for call in fast_calls)  # refused (or never tried): the block path ran
    lines = content.count(b"\n") + (not content.endswith(b"\n"))
    assert fast[1]["input_rows"].item() == lines - 1 - content.count(b"\n\n")  # header and blank lines


def test_profile_reads_line_count_and_refuses_unplain_bytes(tmp_path):
    plain = write_csv(tmp_path / "p.csv", _rows(25, 4))
    profile = profile_file(plain, block_bytes=64)  # chunk boundaries inside lines
    assert profile.plain and profile.data_lines == 25 and profile.header == tuple(CSV_HEADER.split(","))
    assert profile.sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()
    blank_at_boundary = tmp_path / "blank.csv"
    text = plain.read_text()
    blank_at_boundary.write_text(text[:64] + "\n" + text[64:] if text[63] == "\n" else text.replace("\n", "\n\n", 1))
    assert not profile_file(blank_at_boundary, block_bytes=64).plain


@pytest.mark.parametrize("salt", [None, b"pepper", b"s" * 100])
def test_user_key_table_agrees_with_the_references(salt):
    ids = pl.Series([f"user-{index}" for index in range(300)] + ["", "\u00e9"])
    table = user_key_table(ids, 7, salt)
    assert table["user_id"].to_list() == ids.to_list()
    expected_out = [uid if salt is None else hmac.new(salt, uid.encode(), hashlib.sha256).hexdigest()[:32] for uid in ids]
    assert table["_user_out"].to_list() == expected_out
    assert table["_shard"].to_list() == [user_shard(uid, 7) for uid in expected_out]


def test_salted_fast_path_equals_salted_block_path(tmp_path, monkeypatch, fast_calls):
    monkeypatch.setenv("RECRL_USER_SALT", "pepper-77")
    source = write_csv(tmp_path / "night.csv", _mixed(5))
    fast = _nights(tmp_path, "fast", True, [[source]])
    block = _nights(tmp_path, "block", False, [[source]])
    assert fast_calls and fast_calls[0] is not None
    _assert_same_lake(fast, block)


@pytest.mark.parametrize("salt", [None, "pepper-3"])
def test_user_key_collisions_fall_back_to_joining_on_the_id(tmp_path, monkeypatch, fast_calls, salt):
    if salt is not None:
        monkeypatch.setenv("RECRL_USER_SALT", salt)
    source = write_csv(tmp_path / "night.csv", _mixed(6))
    header = tuple(CSV_HEADER.split(","))
    assert fast_csv.user_table(source, header, 3, None)["_user_key"].dtype == pl.UInt64
    # A "hash" that collides for every pair of ids of equal length: the table must notice.
    real_key = fast_csv._user_key
    monkeypatch.setattr(fast_csv, "_user_key", lambda hashed: pl.col("user_id").str.len_bytes().cast(pl.UInt64).alias("_user_key") if hashed else real_key(hashed))
    assert fast_csv.user_table(source, header, 3, None)["_user_key"].dtype == pl.String
    fast = _nights(tmp_path, "fast", True, [[source]])
    block = _nights(tmp_path, "block", False, [[source]])
    assert fast_calls and fast_calls[0] is not None
    _assert_same_lake(fast, block)


def test_a_clean_file_is_read_once_and_equals_the_block_path(tmp_path, monkeypatch, fast_calls):
    source = write_csv(tmp_path / "clean.csv", _rows(300, 7))

    def no_second_pass(*args, **kwargs):
        raise AssertionError("a file without bad rows must not be scanned for rejected rows")

    monkeypatch.setattr(fast_csv, "_rejected_rows", no_second_pass)
    fast = _nights(tmp_path, "fast", True, [[source]])
    block = _nights(tmp_path, "block", False, [[source]])
    assert fast_calls == [(300, 0)]
    _assert_same_lake(fast, block)


def test_rows_sharing_ts_and_user_are_kept_and_exact_repeats_dropped(tmp_path, fast_calls):
    # Same (ts, user_id), different item: distinct rows, both kept; the exact repeat is a duplicate.
    rows = ["2026-11-01T10:00:00Z,u1,s1,i1,click,,,,", "2026-11-01T10:00:00Z,u1,s1,i2,click,,,,"]
    rows += [rows[0], "2026-11-01T10:00:00Z,u2,s1,i1,click,,,,"]
    source = write_csv(tmp_path / "night.csv", rows)
    fast = _nights(tmp_path, "fast", True, [[source]])
    block = _nights(tmp_path, "block", False, [[source]])
    assert fast_calls == [(4, 0)]
    _assert_same_lake(fast, block)
    assert fast[1]["accepted_rows"].item() == 3 and fast[1]["duplicate_rows"].item() == 1
    distinct = [row for row in _rows(50, 8) if row.startswith("2026-11-01")]
    fast = _nights(tmp_path, "fast_distinct", True, [[write_csv(tmp_path / "distinct.csv", distinct)]])
    records = fast[1]
    assert records["accepted_rows"].item() == len(set(distinct))
    assert records["duplicate_rows"].item() == len(distinct) - len(set(distinct))


def test_accepted_flag_is_exactly_no_reason_code():
    config = IngestConfig()
    checks = validation_columns("iso", config, NOW)
    fields = [row.split(",") for row in _rows(200, 9) + PLAIN_BAD]
    frame = pl.DataFrame(fields, schema=CSV_HEADER.split(","), orient="row")
    frame = frame.with_columns(
        pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in frame.columns
    ).with_columns(
        _reason=pl.when(pl.col("user_id") == "user3").then(pl.lit("malformed_line")),
        _detail=pl.lit(None, dtype=pl.String),
        _ts=pl.col("ts").str.to_datetime(ISO_T, strict=False, time_zone="UTC", time_unit="us"),
    ).with_columns(*checks.typed)
    result = frame.select(checks.accepted, checks.reason_code)
    assert result["_accepted"].to_list() == result["reason_code"].is_null().to_list()
    assert 0 < result["_accepted"].sum() < frame.height and (result["reason_code"] == "malformed_line").any()


def test_both_paths_stage_the_same_kind_of_file(tmp_path, monkeypatch, fast_calls):
    # One batch: a plain file (the pipeline) and one with a quoted field (the block path), both with bad rows.
    plain = write_csv(tmp_path / "a_plain.csv", _mixed(1))
    quoted = write_csv(tmp_path / "b_quoted.csv", [*_mixed(2), '2026-11-01T10:00:00Z,"u3",s1,i1,click,,,,'])
    staged: dict[str, dict[int, set]] = {}
    real_prepare = run.BatchWriter.prepare

    def snapshot(writer):
        assert not any((writer.staging / "scratch").rglob("*")), "the fast path adopted every file it sank"
        for path in writer.staging.rglob("*"):
            if path.is_file():
                relative = path.relative_to(writer.staging)
                kind = relative.parts[0]
                assert kind in ("events", "quarantine") and path.suffix == ".parquet", relative
                depth = 3 if kind == "events" else 2  # date=/shard=/file, date=/file
                assert len(relative.parts) == depth + 1 and relative.parts[1].startswith("date="), relative
                file_index, chunk = path.stem.split("-")
                assert len(file_index) == 6 and len(chunk) == 8
                schema = tuple(pl.read_parquet_schema(path).items())
                staged.setdefault(kind, {}).setdefault(int(file_index), set()).add(schema)
        return real_prepare(writer)

    monkeypatch.setattr(run.BatchWriter, "prepare", snapshot)
    ingest([plain, quoted], "events", DataLayout(tmp_path / "data"), IngestConfig(max_quarantine_share=1.0), now=NOW)
    assert len(fast_calls) == 1 and fast_calls[0] is not None  # the quoted file is not plain: the block path
    for kind in ("events", "quarantine"):
        assert staged[kind].keys() == {0, 1}
        assert len(staged[kind][0] | staged[kind][1]) == 1, (kind, staged[kind])  # same columns, same types
