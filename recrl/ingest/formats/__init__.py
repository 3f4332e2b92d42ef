"""Input formats: each module maps one log format to candidate canonical events.

A format module exposes ``TS_FORMAT`` (how its timestamps are written, see
``recrl.ingest.validate.parse_timestamp``) and ``read(path, block_bytes) -> Iterator[Candidates]``.
"""

from __future__ import annotations

from types import ModuleType

from recrl.ingest.formats import events, obd, otto, retailrocket, taobao

FORMATS: dict[str, ModuleType] = {
    "events": events,
    "obd": obd,
    "otto": otto,
    "retailrocket": retailrocket,
    "taobao": taobao,
}
"""Format name (``recrl ingest --format``) -> its reader module."""


def get_format(name: str) -> ModuleType:
    """The reader module of format ``name``; ValueError naming the choices otherwise."""
    if name not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {name!r}")
    return FORMATS[name]
