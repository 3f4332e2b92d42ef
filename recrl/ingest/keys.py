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

from recrl.sql import run_sql, stream_sql

SHA256_BLOCK_BYTES = 64
"""Block size of SHA-256: the HMAC key is padded (or first hashed) to this length (RFC 2104)."""


def salt_from_env(env_var: str) -> bytes | None:
    """The salt in environment variable ``env_var``; None when unset or empty (ids kept as given)."""
    value = os.environ.get(env_var, "")
    return value.encode("utf-8") if value else None


def _per_id(sql_name: str, user_ids: pl.Series, params: dict[str, object]) -> pl.DataFrame:
    """The rows of ``sql/ingest/<sql_name>.sql`` over the table ``ids`` (column ``user_id``)."""
    with duckdb.connect() as con:
        run_sql(con, "ingest/user_shard_macro")
        run_sql(con, "ingest/salted_id_macro")
        con.register("ids", user_ids.rename("user_id").to_frame().to_arrow())
        return pl.from_arrow(stream_sql(con, f"ingest/{sql_name}", **params).read_all())


def _map_distinct(user_ids: pl.Series, sql_name: str, params: dict[str, object], dtype: pl.DataType) -> pl.Series:
    """(rows,) ``value`` of ``sql_name`` evaluated once per distinct non-null id, joined back onto the rows."""
    values = _per_id(sql_name, user_ids.drop_nulls().unique(), params)  # (distinct, 2)
    rows = user_ids.rename("user_id").to_frame()
    joined = rows.join(values, on="user_id", how="left", maintain_order="left")  # (rows, 2)
    return joined["value"].cast(dtype).rename(user_ids.name)


def _hmac_params(salt: bytes) -> dict[str, object]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104) for ``salt``."""
    key = hashlib.sha256(salt).digest() if len(salt) > SHA256_BLOCK_BYTES else salt
    key = key.ljust(SHA256_BLOCK_BYTES, b"\0")
    return {"inner_pad": bytes(b ^ 0x36 for b in key), "outer_pad": bytes(b ^ 0x5C for b in key)}


def user_key_table(distinct_ids: pl.Series, n_shards: int, salt: bytes | None) -> pl.DataFrame:
    """Per distinct id: ``user_id``, ``_user_out`` (salted hash, or the id) and ``_shard`` of ``_user_out``.

    One DuckDB query over the distinct ids (no join back): what ``hash_user_ids`` and ``user_shards``
    give row by row, for a lookup table.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    params: dict[str, object] = {"n_shards": n_shards}
    if salt is None:
        table = _per_id("user_keys", distinct_ids, params)
    else:
        table = _per_id("salted_user_keys", distinct_ids, params | _hmac_params(salt))
    return table.with_columns(pl.col("_shard").cast(pl.Int32))


def hash_user_ids(user_ids: pl.Series, salt: bytes) -> pl.Series:
    """HMAC-SHA256(salt, user_id), first 32 hex digits: stable per salt, not reversible without it.

    The salt is only a key here (a bound query parameter): it is never stored, so ids cannot be
    re-linked from the lake alone.
    """
    return _map_distinct(user_ids, "salted_user_ids", _hmac_params(salt), pl.String)


def user_shards(user_ids: pl.Series, n_shards: int) -> pl.Series:
    """(rows,) Int32 shard of each user id, equal to ``recrl.lake.user_shard`` row by row."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    return _map_distinct(user_ids, "user_shards", {"n_shards": n_shards}, pl.Int32)
