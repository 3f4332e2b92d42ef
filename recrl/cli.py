"""``recrl`` command line: one sub-command per stage, each registered by its stage's ``cli`` module.

Every command reads one ``PipelineConfig``: ``--config FILE`` (JSON; defaults without it), then the
options given, which are the config's own fields: ``--field-name`` for the command's own section
(``recrl states --history-len 5``), ``--section.field-name`` for the other sections it reads
(``recrl run --agent.epochs 1 --sim.n-users 500``). ``--data DIR`` is the data root (``data_root``)
everywhere. Bad values are one line each naming the field (exit 2), as in a config file.

Only argparse and the config are imported here and in the ``cli`` modules; each command imports its
stage when it runs, so ``recrl --help`` does not load torch, polars or Prefect.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from recrl.config import ConfigError, PipelineConfig, add_options, options_config

STAGE_CLI_MODULES: tuple[str, ...] = (
    "recrl.simulate.cli",
    "recrl.ingest.cli",
    "recrl.states.cli",
    "recrl.agents.cli",
    "recrl.evaluate.cli",
    "recrl.ope.cli",
    "recrl.cli",
    "recrl.loop.cli",
    "recrl.store.cli",
)
"""Modules exposing ``register(subparsers)``; each adds its sub-command(s) with ``func`` set."""

SECTIONS: tuple[str, ...] = ("sim", "ingest", "states", "agent", "sequential", "baselines", "eval")
"""Sections of ``PipelineConfig``, in pipeline order."""


def _section_class(section: str) -> type:
    return type(getattr(PipelineConfig(), section))


def add_config_options(
    parser: argparse.ArgumentParser,
    own: str | None = None,
    others: tuple[str, ...] = (),
    data_aliases: tuple[str, ...] = (),
) -> None:
    """``--config``, ``--data`` (and deprecated ``data_aliases`` of it), ``own``'s fields as
    ``--field-name`` and each of ``others``' as ``--section.field-name``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="PipelineConfig JSON (every field documented in recrl/config.py); options override it",
    )
    parser.add_argument(
        "--data",
        *data_aliases,
        dest="data",
        type=Path,
        default=None,
        metavar="DIR",
        help="data root: raw/, lake/, states/, models/, reports/, warehouse.duckdb "
        "(default: the config's data_root, 'data')",
    )
    if own is not None:
        add_options(parser.add_argument_group(f"{own} settings"), _section_class(own))
    for section in others:
        add_options(
            parser.add_argument_group(f"{section} settings"), _section_class(section), prefix=f"{section}."
        )


def pipeline_config(
    args: argparse.Namespace,
    own: str | None = None,
    others: tuple[str, ...] = (),
    base=None,
    **root_fields: object,
) -> PipelineConfig:
    """The config of ``add_config_options``: the file (or the defaults), changed by ``base(config)`` if
    given, then the options given, then ``root_fields`` (e.g. ``source``) where not None.
    ``ConfigError`` names every bad field."""
    config = PipelineConfig.from_file(args.config) if args.config is not None else PipelineConfig()
    if base is not None:
        config = base(config)
    sections = {}
    problems: list[str] = []
    for section, prefix in [(own, ""), *((s, f"{s}.") for s in others)]:
        if section is None:
            continue
        try:
            sections[section] = options_config(
                _section_class(section), args, getattr(config, section), prefix
            )
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    given = {name: value for name, value in root_fields.items() if value is not None}
    if args.data is not None:
        given["data_root"] = str(args.data)
    return dataclasses.replace(config, **sections, **given)


def layout_of(config: PipelineConfig):
    """The ``DataLayout`` of ``config.data_root``."""
    from recrl.lake import DataLayout

    return DataLayout(Path(config.data_root))


def existing_data_root(config: PipelineConfig):
    """``layout_of(config)``, or ``FileNotFoundError`` naming ``--data`` when the folder is missing."""
    layout = layout_of(config)
    if not layout.root.is_dir():
        raise FileNotFoundError(f"--data directory not found: {layout.root}")
    return layout


def default_run_id(prefix: str = "manual") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


# --- recrl run: the whole nightly flow once -------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` (this module is one of ``STAGE_CLI_MODULES``)."""
    parser = subparsers.add_parser(
        "run",
        help="the whole nightly flow once: simulate/ingest, states, train, evaluate, report",
        description="Run the nightly flow once. By default through Prefect (pipelines.nightly: tasks, "
        "retries, caching, the run recorded in the Prefect API); --no-prefect runs the same stage calls "
        "in this process (recrl.stages.run_pipeline), with no Prefect server.",
    )
    add_config_options(parser, others=SECTIONS)
    parser.add_argument(
        "--source", default=None, help="'simulator', 'lake', or logs to ingest (file, folder, glob)"
    )
    parser.add_argument("--source-format", default=None, help="format of --source when it is a path")
    parser.add_argument(
        "--run-id",
        default=None,
        help="results of an existing run id are replaced (default: nightly-<UTC date>)",
    )
    parser.add_argument(
        "--no-prefect",
        dest="prefect",
        action="store_false",
        help="run the stages in-process, without Prefect",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = pipeline_config(args, others=SECTIONS, source=args.source, source_format=args.source_format)
    config.check_source()
    layout = layout_of(config)
    run_id = args.run_id or f"nightly-{datetime.now(UTC):%Y-%m-%d}"
    if args.prefect:
        from pipelines.nightly import nightly

        run_id = nightly(config=config, run_id=run_id)
    else:
        from recrl.stages import run_pipeline

        summaries = run_pipeline(layout, config, run_id)
        print("stages: " + ", ".join(f"{s.stage} {s.seconds:.1f} s" for s in summaries))
    from recrl.evaluate.report import comparison_text
    from recrl.store import warehouse

    print(comparison_text(warehouse.main_comparison(layout.warehouse, run_id), run_id))
    print(f"warehouse: {layout.warehouse}   report: {layout.reports / run_id / 'report.html'}")
    return 0


# --- the program ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recrl",
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in STAGE_CLI_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:  # options are validated by the config models: one line per bad field
        for problem in error.problems:
            print(f"recrl {args.command}: error: {problem}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError) as error:
        # Bad input gets one clear line (a refused ingest batch adds its reasons below), not a traceback.
        print(f"recrl {args.command}: error: {error or type(error).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"recrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
