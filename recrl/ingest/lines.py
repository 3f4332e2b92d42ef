"""Read a text log as blocks of exact lines, so every record keeps its original text and line number.

Files are read in byte blocks cut at the last line ending, so memory holds one block whatever the
file size. Each block becomes a polars frame ``(_line, _raw, _bad_encoding)``: ``_line`` is the
1-based physical line number, ``_raw`` the line without its line ending (``\\n``, ``\\r\\n``, or a
lone ``\\r`` in a file whose first line ends so: old Mac exports), and ``_bad_encoding`` marks lines
that are not valid UTF-8 (their text is decoded with U+FFFD replacements so they can still be
quarantined). Blank lines are not records and are skipped; line numbers still count them.

``parse_header`` is the one reader of a CSV header line, for every format and both ingest paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

DEFAULT_BLOCK_BYTES = 32 << 20
"""Bytes read per block: bounds memory, large enough that per-block overhead is negligible."""
NEWLINE_PROBE_BYTES = 1 << 20
"""Bytes read to find a file's line ending (the first ``\\n`` or ``\\r`` decides)."""

LINE_SCHEMA = {"_line": pl.Int64, "_raw": pl.String, "_bad_encoding": pl.Boolean}


def parse_header(first_line: str, source: Path | str) -> tuple[str, ...]:
    """The column names of a CSV header line (BOM and line ending removed, names stripped).

    A name given twice is refused with a ValueError naming it: which column holds the value would
    otherwise depend on the reader. Empty names (an unnamed index column) are allowed and ignored.
    """
    names = tuple(name.strip() for name in first_line.removeprefix("\ufeff").rstrip("\r\n").split(","))
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ValueError(f"{source}: CSV header names column '{name}' twice; rename or drop one of them")
        seen.add(name)
    return names


def line_ending(path: Path) -> bytes:
    """``b"\\r"`` when the file's first line ends in a lone carriage return, else ``b"\\n"``."""
    with open(path, "rb") as handle:
        head = handle.read(NEWLINE_PROBE_BYTES)
    cr, lf = head.find(b"\r"), head.find(b"\n")
    if cr >= 0 and (lf < 0 or cr < lf) and head[cr + 1 : cr + 2] != b"\n":
        return b"\r"
    return b"\n"


class LineReader:
    """Iterate over a text file as frames of lines (re-iterable: each pass reads the file again)."""

    def __init__(self, path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
        self.path = path
        self.block_bytes = block_bytes
        self.newline = line_ending(path)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        for block, first_line in self.blocks():
            frame = block_to_frame(block, first_line, first=first_line == 1, newline=self.newline)
            if frame.height:
                yield frame

    def blocks(self) -> Iterator[tuple[bytes, int]]:
        """(bytes, line number of its first line): blocks of whole lines, the last one maybe unterminated."""
        newline = self.newline
        next_line = 1
        carry = b""
        with open(self.path, "rb") as handle:
            while True:
                chunk = handle.read(self.block_bytes)
                data = carry + chunk
                if chunk:
                    cut = data.rfind(newline)
                    if cut < 0:
                        # One line longer than a block: keep reading until it ends.
                        carry = data
                        continue
                    block, carry = data[: cut + 1], data[cut + 1 :]
                else:
                    block, carry = data, b""
                if block:
                    yield block, next_line
                    next_line += block.count(newline) + (0 if block.endswith(newline) else 1)
                if not chunk:
                    break


def block_to_frame(block: bytes, first_line: int, first: bool, newline: bytes = b"\n") -> pl.DataFrame:
    """Lines of one block (ends at a line ending or at end of file) as ``LINE_SCHEMA``."""
    separator = newline.decode()
    try:
        lines = block.decode("utf-8").split(separator)
        bad = None
    except UnicodeDecodeError:
        lines, bad = _decode_per_line(block, newline)
    if block.endswith(newline):
        lines.pop()
        if bad is not None:
            bad.pop()
    if first and lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    raw = pl.Series("_raw", lines, dtype=pl.String).str.strip_suffix("\r")
    frame = pl.DataFrame(
        {
            "_line": pl.int_range(first_line, first_line + len(lines), dtype=pl.Int64, eager=True),
            "_raw": raw,
            "_bad_encoding": pl.Series(bad, dtype=pl.Boolean) if bad is not None else pl.repeat(
                False, len(lines), dtype=pl.Boolean, eager=True
            ),
        }
    )
    return frame.filter(pl.col("_raw") != "")


def _decode_per_line(block: bytes, newline: bytes) -> tuple[list[str], list[bool]]:
    """Slow path for a block with invalid UTF-8: find which lines are bad, keep the rest exact."""
    lines: list[str] = []
    bad: list[bool] = []
    for raw_line in block.split(newline):
        try:
            lines.append(raw_line.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            lines.append(raw_line.decode("utf-8", errors="replace"))
            bad.append(True)
    return lines, bad
