"""Fast paths agree exactly with the slow, obviously-correct ones they stand in for."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import polars as pl
import pytest

from recrl.ingest.formats.common import split_csv_lines, split_plain_csv_block
from recrl.ingest.keys import hash_user_ids
from recrl.ingest.lines import block_to_frame
from recrl.ingest.writer import _first_distinct

NAMES = ["ts", "user_id", "item_id", "event_type"]
PLAIN = "2026-11-01T00:00:00Z,u1,i1,click\n2026-11-01T00:00:01Z,,i2,cart\n2026-11-01T00:00:02Z,u é,i3,\n"


def test_plain_csv_block_splits_like_the_line_path():
    block = PLAIN.encode()
    fast = split_plain_csv_block(block, 7, NAMES)
    slow = split_csv_lines(block_to_frame(block, 7, first=False), NAMES)
    assert fast is not None
    assert fast.select(slow.columns).equals(slow)
    assert fast["_line"].to_list() == [7, 8, 9] and fast["user_id"][1] == ""


def test_plain_csv_block_without_final_newline_keeps_its_last_line():
    fast = split_plain_csv_block(PLAIN.encode().rstrip(b"\n"), 1, NAMES)
    assert fast is not None and fast.height == 3


@pytest.mark.parametrize(
    "block",
    [
        PLAIN + '"2026-11-01T00:00:03Z",u,i,click\n',  # quoting
        PLAIN.replace("\n", "\r\n"),  # CRLF
        PLAIN + "\n" + PLAIN,  # blank line
        PLAIN + "2026-11-01T00:00:03Z,u,i\n",  # too few fields
        PLAIN + "2026-11-01T00:00:03Z,u,i,click,extra\n",  # too many fields
        PLAIN + "2026-11-01T00:00:03Z,u\x1f,i,click\n",  # the line-separator probe byte
    ],
)
def test_blocks_that_are_not_plain_take_the_line_path(block):
    assert split_plain_csv_block(block.encode(), 1, NAMES) is None


def test_invalid_utf8_block_takes_the_line_path():
    assert split_plain_csv_block(PLAIN.encode() + b"2026-11-01T00:00:03Z,\xff,i,click\n", 1, NAMES) is None


@pytest.mark.parametrize("salt", [b"k", "sel-\u00fc".encode(), b"s" * 100])
def test_vectorised_salted_hash_is_hmac_sha256(salt):
    ids = pl.Series("user_id", ["a", "\u00e9", "", None, "a", "x" * 300])
    expected = [None if uid is None else hmac.new(salt, uid.encode(), hashlib.sha256).hexdigest()[:32] for uid in ids]
    assert hash_user_ids(ids, salt).to_list() == expected


def test_hashed_dedup_equals_its_reference():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = 200
        frame = pl.DataFrame(
            {
                "ts": rng.integers(0, 25, n),
                "user_id": pl.Series(rng.integers(0, 3, n)).cast(pl.String),
                "position": rng.integers(0, 3, n),
            }
        ).with_columns(
            ts=pl.when(pl.col("ts") < 2).then(None).otherwise(pl.col("ts")),
            user_id=pl.when(pl.col("position") == 0).then(None).otherwise(pl.col("user_id")),
        )
        reference = frame.select(pl.struct(frame.columns).is_first_distinct()).to_series()
        assert _first_distinct(frame, frame.columns).to_list() == reference.to_list()
