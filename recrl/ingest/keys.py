"""User keys at ingest: optional salted hashing of user ids, and the user shard of each row.

Both hash each distinct user id of a block once, vectorised in DuckDB (``md5``, ``sha256``), and map
the rows back through a join, so they agree exactly with the scalar references
(``recrl.lake.user_shard``; ``hmac``-SHA256) while costing one native hash per distinct user.
"""

from __future__ import annotations

import hashlib
import os

import duckdb
import polars as pl

SHA256_BLOCK_BYTES = 64
"""Block size of SHA-256: the HMAC key is padded (or first hashed) to this length (RFC 2104)."""

SHARD_SQL = "SELECT user_id, (('0x' || left(md5(user_id), 8))::UBIGINT % $n_shards)::INTEGER AS value FROM ids"
"""Shard = first 8 hex digits of md5(user_id) modulo n_shards: ``recrl.lake.user_shard``, vectorised."""

HMAC_SQL = "SELECT user_id, left(sha256($outer_pad || unhex(sha256($inner_pad || encode(user_id)))), 32) AS value FROM ids"
"""HMAC-SHA256(key, m) = H((K ^ opad) || H((K ^ ipad) || m)) (RFC 2104), first 32 hex digits."""

KEY_TABLE_SQL = (
    "SELECT user_id, user_id AS _user_out, (('0x' || left(md5(user_id), 8))::UBIGINT % $n_shards)::INTEGER AS _shard FROM ids"
)
"""Per distinct id: the id kept as is and its shard (``SHARD_SQL``)."""

SALTED_KEY_TABLE_SQL = (
    "WITH salted AS (SELECT user_id, left(sha256($outer_pad || unhex(sha256($inner_pad || encode(user_id)))), 32) AS _user_out FROM ids) "
    "SELECT user_id, _user_out, (('0x' || left(md5(_user_out), 8))::UBIGINT % $n_shards)::INTEGER AS _shard FROM salted"
)
"""Per distinct id: its salted hash (``HMAC_SQL``) and the shard of that hash (``SHARD_SQL``)."""


def salt_from_env(env_var: str) -> bytes | None:
    """The salt in environment variable ``env_var``; None when unset or empty (ids kept as given)."""
    value = os.environ.get(env_var, "")
    return value.encode("utf-8") if value else None


def _map_distinct(user_ids: pl.Series, sql: str, params: dict[str, object], dtype: pl.DataType) -> pl.Series:
    """(rows,) ``value`` of ``sql`` evaluated once per distinct non-null id, joined back onto the rows."""
    ids = user_ids.drop_nulls().unique().to_frame("user_id")  # (distinct,)
    with duckdb.connect() as con:
        con.register("ids", ids.to_arrow())
        values = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    rows = user_ids.rename("user_id").to_frame()
    joined = rows.join(values, on="user_id", how="left", maintain_order="left")  # (rows, 2)
    return joined["value"].cast(dtype).rename(user_ids.name)


def _hmac_params(salt: bytes) -> dict[str, object]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104) for ``salt``."""
    key = hashlib.sha256(salt).digest() if len(salt) > SHA256_BLOCK_BYTES else salt
    key = key.ljust(SHA256_BLOCK_BYTES, b"\0")
    return {"inner_pad": bytes(b ^ 0x36 for b in key), "outer_pad": bytes(b ^ 0x5C for b in key)}


def user_key_table(distinct_ids: pl.Series, n_shards: int, salt: bytes | None) -> pl.DataFrame:
    """Per distinct user id: ``user_id``, ``_user_out`` (salted hash, or the id) and ``_shard`` of ``_user_out``.

    One DuckDB query over the distinct ids (no join back): what ``hash_user_ids`` and ``user_shards``
    give row by row, for a lookup table.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    params: dict[str, object] = {"n_shards": n_shards}
    sql = KEY_TABLE_SQL
    if salt is not None:
        params |= _hmac_params(salt)
        sql = SALTED_KEY_TABLE_SQL
    with duckdb.connect() as con:
        con.register("ids", distinct_ids.rename("user_id").to_frame().to_arrow())
        table = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    return table.with_columns(pl.col("_shard").cast(pl.Int32))


def hash_user_ids(user_ids: pl.Series, salt: bytes) -> pl.Series:
    """HMAC-SHA256(salt, user_id), first 32 hex digits: stable per salt, not reversible without it.

    The salt is only a key here (a bound query parameter): it is never stored, so ids cannot be
    re-linked from the lake alone.
    """
    return _map_distinct(user_ids, HMAC_SQL, _hmac_params(salt), pl.String)


def user_shards(user_ids: pl.Series, n_shards: int) -> pl.Series:
    """(rows,) Int32 shard of each user id, equal to ``recrl.lake.user_shard`` row by row."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    return _map_distinct(user_ids, SHARD_SQL, {"n_shards": n_shards}, pl.Int32)
