"""Deployments of the nightly flow: one on a nightly cron schedule, one run by hand with parameters.

Two ways to run them:

- On a work pool (the Prefect way, ``prefect.yaml`` at the repository root): ``prefect deploy --all``
  registers both, ``prefect worker start --pool recrl`` runs them; README "Deployments" has the commands.
- In one process, without a pool or worker (this module)::

    python -m pipelines.deploy [--config data/configs/demo.json] [--cron "0 2 * * *"] [--timezone UTC]

  serves both from this process (it needs a Prefect API: ``prefect server start`` elsewhere and
  ``PREFECT_API_URL`` pointing at it). Stopping it (Ctrl-C, SIGTERM) pauses the nightly schedule: a
  schedule left active with no process serving it would pile up Late runs that nothing executes.
  Starting it again resumes the schedule.

Trigger the manual one with parameters:

    prefect deployment run 'recrl-nightly/manual' --param run_id=backfill-2026-11-01 \
        --param config='{"data_root": "data", "source": "/logs/2026-11-01", "source_format": "otto"}'

Both check their parameters before anything is created: a bad ``--config`` (or a ``config`` given to
``build_deployments``) exits 2 naming the field, and both deployments enforce the parameter schema, so a
run created with a bad ``--param config=...`` is refused by the server (types, ranges, choices, unknown
keys) or fails Prefect's parameter validation before its first task (dates, paths, cross-field checks).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from pipelines.nightly import nightly
from recrl.config import ConfigError, PipelineConfig, from_dict

NIGHTLY_CRON = "0 2 * * *"
"""02:00 every night, after the day's logs have landed (the same as ``prefect.yaml``'s, kept equal by a test)."""


def build_deployments(config: PipelineConfig | dict, cron: str = NIGHTLY_CRON,
                      timezone: str = "UTC") -> list[RunnerDeployment]:
    """The scheduled ``nightly`` deployment and the unscheduled ``manual`` one, sharing default parameters.

    ``config`` (a dict is validated into a ``PipelineConfig``; ``ConfigError`` naming the field) is checked
    before any deployment is built.
    """
    if not isinstance(config, PipelineConfig):
        config = from_dict(PipelineConfig, config)
    parameters = {"config": dataclasses.asdict(config)}
    scheduled = nightly.to_deployment(
        name="nightly",
        schedules=[Cron(cron, timezone=timezone)],
        parameters=parameters,
        tags=["recrl", "nightly"],
        description="Nightly recrl run: ingest, states, actor-critic, off-policy evaluation, report.",
        enforce_parameter_schema=True,
    )
    manual = nightly.to_deployment(
        name="manual",
        parameters=parameters,
        tags=["recrl", "manual"],
        description="recrl run by hand: pass run_id and config (e.g. another source or settings).",
        enforce_parameter_schema=True,
    )
    return [scheduled, manual]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the nightly and manual recrl deployments.")
    parser.add_argument("--config", type=Path, help="PipelineConfig JSON used as default parameters")
    parser.add_argument("--cron", default=NIGHTLY_CRON)
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args(argv)
    try:
        config = PipelineConfig.from_file(args.config) if args.config else PipelineConfig()
    except ConfigError as error:
        for problem in error.problems:
            print(f"deploy: error: {problem}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"deploy: error: {error}", file=sys.stderr)
        return 2
    serve(*build_deployments(config, args.cron, args.timezone), pause_on_shutdown=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
