"""Open Bandit Dataset logs: ``{policy}/{campaign}/{campaign}.csv`` with ``item_context.csv`` beside it.

Each logged row (one item shown at one slot) becomes an ``impression`` candidate, plus a ``click``
candidate with the same ``ts``, ``request_id``, ``item_id`` and ``position`` when ``click`` is 1.

| OBD column / path        | canonical                                                            |
|--------------------------|----------------------------------------------------------------------|
| ``timestamp``            | ``ts`` (ISO 8601 with offset)                                        |
| ``item_id``              | ``item_id``                                                          |
| ``position`` (1..3)      | ``position`` = position - 1 (0-based)                                |
| ``propensity_score``     | ``propensity``                                                       |
| path ``{policy}/{camp}`` | ``policy_id`` = ``obd-{policy}``                                     |
| row index                | ``request_id`` = ``obd-{policy}-{camp}-{index}`` (0-based data row)  |
| ``user_feature_0..3``    | ``user_id`` = ``obd-`` + sha1 of the four values (first 16 hex)      |

OBD has no user ids: the four hashed user features are the only user identity it logs, so users with
identical features share an id. No session id (sessions are cut from gaps downstream).
``item_context.csv`` -> items: ``item_id`` plus ``item_feature_0..3`` (no title or category).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from recrl.ingest.formats.common import Candidates, finish_candidates, split_csv_lines, take_header
from recrl.ingest.lines import LineReader
from recrl.ingest.reasons import WRONG_TYPE

TS_FORMAT = "iso"
POSITIONS = "zero-based"
"""The reader maps OBD's 1..3 to 0..2 itself, so ``IngestConfig.positions`` does not apply."""
POLICIES = ("random", "bts")
USER_FEATURES = tuple(f"user_feature_{index}" for index in range(4))
REQUIRED = ("timestamp", "item_id", "position", "click", "propensity_score", *USER_FEATURES)


def policy_and_campaign(path: Path) -> tuple[str, str]:
    """(policy, campaign) from ``.../{policy}/{campaign}/file.csv``."""
    policy, campaign = path.parent.parent.name, path.parent.name
    if policy not in POLICIES:
        raise ValueError(f"OBD log {path} must sit in a {{random,bts}}/{{campaign}}/ folder; found {policy}/{campaign}")
    return policy, campaign


def user_ids(features: pl.DataFrame) -> pl.Series:
    """Deterministic user id per row from the four user features (hashed once per distinct tuple)."""
    key = pl.concat_str([pl.col(name).fill_null("") for name in USER_FEATURES], separator="|")
    keys = features.select(key.alias("key"))["key"]
    distinct = keys.unique()
    mapping = {value: "obd-" + hashlib.sha1(value.encode("utf-8")).hexdigest()[:16] for value in distinct}
    return keys.replace_strict(mapping, return_dtype=pl.String)


def read(path: Path, block_bytes: int) -> Iterator[Candidates]:
    """Candidates of one OBD log file: impressions and the clicks they earned."""
    policy, campaign = policy_and_campaign(path)
    prefix = f"obd-{policy}-{campaign}-"
    header: tuple[str, ...] | None = None
    for lines in LineReader(path, block_bytes):
        items = None
        if header is None:
            header, lines = take_header(lines, path)
            missing = [name for name in REQUIRED if name not in header]
            if missing:
                raise ValueError(f"OBD log {path} lacks column(s) {missing}")
            items = read_item_context(path.parent / "item_context.csv")
        split = split_csv_lines(lines, header)
        position = pl.col("position").str.strip_chars()
        position_int = position.str.to_integer(strict=False)
        click = pl.col("click").str.strip_chars()
        impressions = split.with_columns(
            _sub=pl.lit(0, dtype=pl.Int32),
            ts=pl.col("timestamp"),
            user_id=user_ids(split),
            event_type=pl.lit("impression"),
            # Keep unparsable positions as text so validation reports them as wrong_type.
            position=pl.when(position_int.is_not_null()).then((position_int - 1).cast(pl.String)).otherwise(position),
            request_id=pl.format("{}{}", pl.lit(prefix), pl.col("_line") - 2),
            propensity=pl.col("propensity_score"),
            policy_id=pl.lit(f"obd-{policy}"),
            _reason=pl.when(pl.col("_reason").is_null() & ~click.is_in(["0", "1"]).fill_null(False))
            .then(pl.lit(WRONG_TYPE))
            .otherwise(pl.col("_reason")),
            _detail=pl.when(pl.col("_reason").is_null() & ~click.is_in(["0", "1"]).fill_null(False))
            .then(pl.format("click '{}' is not 0 or 1", click))
            .otherwise(pl.col("_detail")),
        )
        clicks = impressions.filter(pl.col("_reason").is_null() & (click == "1")).with_columns(
            _sub=pl.lit(1, dtype=pl.Int32), event_type=pl.lit("click")
        )
        events = finish_candidates(pl.concat([impressions, clicks]).sort("_line", "_sub"))
        yield Candidates(events, items)


def read_item_context(path: Path) -> pl.DataFrame:
    """OBD ``item_context.csv`` as an items table (``ITEM_SCHEMA`` columns first)."""
    if not path.is_file():
        raise FileNotFoundError(f"OBD item context not found beside the log: {path}")
    context = pl.read_csv(path, infer_schema=False)
    features = [name for name in context.columns if name.startswith("item_feature_")]
    return context.select(
        pl.col("item_id").str.strip_chars(),
        pl.lit(None, dtype=pl.String).alias("title"),
        pl.lit(None, dtype=pl.String).alias("category"),
        *features,
    ).unique(maintain_order=True)
