"""``recrl status``: the last runs (status, times, each stage's seconds) and the deployed policy.

Reads the warehouse read-only (``warehouse.connect(path, read_only=True)``), so it never blocks a
running flow's writer for longer than the read. Columns the ``runs`` table may not have yet (per-stage
seconds) and a missing ``deployments`` table are shown as absent, not as errors.
"""

from __future__ import annotations

import argparse
import json

from recrl.cli import add_config_options, layout_of, pipeline_config

STAGE_SECONDS_SUFFIX = "_seconds"
"""``runs`` columns named ``<stage>_seconds`` hold a stage's wall time."""
STAGE_SECONDS_JSON = ("stage_seconds", "stages_json", "stage_seconds_json", "timings_json")
"""``runs`` columns that may hold every stage's seconds as one JSON object ``{stage: seconds}``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the last runs (status, times, stage seconds) and the deployed policy",
        description=__doc__.split("\n\n")[0],
    )
    add_config_options(parser)
    parser.add_argument(
        "--last", type=int, default=5, metavar="N", help="runs shown, newest first (default 5)"
    )
    parser.set_defaults(func=run)


def stage_seconds(row: dict) -> dict[str, float]:
    """Each stage's seconds in one ``runs`` row, from ``<stage>_seconds`` columns or a JSON column."""
    seconds = {
        name.removesuffix(STAGE_SECONDS_SUFFIX): value
        for name, value in row.items()
        if name.endswith(STAGE_SECONDS_SUFFIX)
        and name not in STAGE_SECONDS_JSON
        and isinstance(value, int | float)
    }
    for name in STAGE_SECONDS_JSON:
        text = row.get(name)
        if text:
            parsed = json.loads(text) if isinstance(text, str) else text
            if isinstance(parsed, dict):
                seconds |= {str(k): v for k, v in parsed.items() if isinstance(v, int | float)}
    return seconds


def status_text(con, last: int) -> str:
    """The lines ``recrl status`` prints, from an open warehouse connection."""
    tables = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    lines = []
    if "runs" not in tables:
        lines.append("runs: none (no runs table)")
    else:
        cursor = con.execute("select * from runs order by started_at desc limit ?", [last])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        (total,) = con.execute("select count(*) from runs").fetchone()
        lines.append(f"runs: {total} in the warehouse" + (f", the last {len(rows)}:" if rows else ""))
        for row in rows:
            started, finished = row.get("started_at"), row.get("finished_at")
            duration = f"{(finished - started).total_seconds():.0f} s" if started and finished else "-"
            stages = stage_seconds(row)
            lines.append(
                f"  {row['run_id']}  {row.get('status', '-')}  started {started:%Y-%m-%d %H:%M:%S}  finished "
                + (f"{finished:%Y-%m-%d %H:%M:%S}" if finished else "-")
                + f"  took {duration}"
                + ("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) if stages else "")
            )
    if "deployments" not in tables:
        lines.append("deployed policy: none")
    else:
        cursor = con.execute("select * from deployments")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        order = next((n for n in ("deployed_at", "created_at", "started_at") if n in names), None)
        if order is not None:
            rows.sort(key=lambda r: (r[order] is not None, r[order]))
        if not rows:
            lines.append("deployed policy: none")
        else:
            latest = rows[-1]
            lines.append(
                "deployed policy: " + ", ".join(f"{k}={v}" for k, v in latest.items() if v is not None)
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise ValueError(f"--last must be at least 1, got {args.last}")
    layout = layout_of(pipeline_config(args))
    from recrl.store import warehouse

    with warehouse.connect(layout.warehouse, read_only=True) as con:
        print(status_text(con, args.last))
    return 0
