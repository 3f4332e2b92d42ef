"""Fast paths agree exactly with the slow, obviously-correct ones they stand in for."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import polars as pl
import pytest

from recrl.ingest.keys import hash_user_ids
from recrl.ingest.writer import _first_distinct


@pytest.mark.parametrize("salt", [b"k", "sel-\u00fc".encode(), b"s" * 100])
def test_vectorised_salted_hash_is_hmac_sha256(salt):
    ids = pl.Series("user_id", ["a", "\u00e9", "", None, "a", "x" * 300])
    expected = [
        None if uid is None else hmac.new(salt, uid.encode(), hashlib.sha256).hexdigest()[:32] for uid in ids
    ]
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
