"""The nightly flow: logs -> lake -> states -> actor-critic -> evaluation -> warehouse -> report.

Each task is one stage of ``recrl``; tasks hand each other paths and small summaries, never data
frames, so any stage can later fan out over date/shard partitions on a Ray or Dask task runner.

    python -m pipelines.nightly --config data/configs/demo.json [--run-id ID]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.agents.specialists import fit_specialists
from recrl.config import ConfigError, PipelineConfig
from recrl.evaluate.report import comparison_text, write_report
from recrl.evaluate.stage import evaluate_run
from recrl.ingest import ingest
from recrl.ingest.run import check_lake_has_events, resolve_sources
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.states import build_states
from recrl.store import warehouse


@task(name="simulate-logs")
def simulate_logs(config: PipelineConfig) -> list[str]:
    """Write the simulator's logs (and its ground truth) under ``{data}/raw`` and ``{data}/truth``."""
    layout = DataLayout(Path(config.data_root))
    paths = write_logs(config.sim, layout.raw / "sim", layout.truth,
                       reward_click=config.states.reward_click, reward_purchase=config.states.reward_purchase)
    return [str(p) for p in paths if p.name.startswith("events-")]


@task(name="ingest")
def ingest_logs(paths: list[str], fmt: str, config: PipelineConfig) -> dict:
    """Validated, partitioned Parquet lake from files, folders or globs; returns the reconciliation totals.

    Prints the one-line reconciliation (stdout: shown at any log level). A batch refused by the
    quarantine gate raises, failing the flow.
    """
    report = ingest(paths, fmt, DataLayout(Path(config.data_root)), config.ingest)
    print(report.summary(), flush=True)
    files = report.files
    return {"batch_id": report.batch_id, "files": len(files), "skipped": len(report.skipped),
            "input": sum(f.input_rows for f in files),
            "accepted": sum(f.accepted_rows for f in files), "quarantined": sum(f.quarantined_rows for f in files),
            "duplicates": sum(f.duplicate_rows for f in files)}


@task(name="build-states")
def build_state_sequences(config: PipelineConfig) -> dict:
    """DuckDB SQL: vocabulary and transitions per split; returns counts."""
    summary = build_states(DataLayout(Path(config.data_root)), config.states)
    return {split: sum(by_kind.values()) for split, by_kind in summary.counts.items()}


@task(name="train-actor-critic")
def train_actor_critic(config: PipelineConfig, run_id: str) -> str:
    """Off-policy actor-critic on the train split; returns the checkpoint folder."""
    layout = DataLayout(Path(config.data_root))
    return str(fit_actor_critic(layout, config.states, config.agent, run_id))


@task(name="train-sequential")
def train_sequential_baseline(config: PipelineConfig, run_id: str) -> str:
    """The supervised SASRec-style baseline on the same encoder; returns the checkpoint folder."""
    layout = DataLayout(Path(config.data_root))
    return str(fit_sequential(layout, config.states, config.sequential, run_id))


@task(name="train-specialists")
def train_specialists(config: PipelineConfig, run_id: str) -> list[str]:
    """Click and purchase specialists (actor-critics on one objective's reward); returns their folders."""
    layout = DataLayout(Path(config.data_root))
    folders = fit_specialists(layout, config.states, config.agent, config.coordinator, run_id)
    return [str(folder) for folder in folders.values()]


@task(name="evaluate")
def evaluate(config: PipelineConfig, run_id: str, checkpoint: str, counts: dict, started_at: datetime) -> str:
    """Every policy on the test days; results replace this run's rows in the warehouse."""
    layout = DataLayout(Path(config.data_root))
    frames = evaluate_run(layout, config, run_id, checkpoint)
    frames["runs"] = pl.DataFrame([{
        "run_id": run_id, "started_at": started_at, "finished_at": datetime.now(UTC), "status": "succeeded",
        "source": config.source, "data_root": str(layout.root), "config_json": config.to_json(),
        "n_train": counts.get("train", 0), "n_valid": counts.get("valid", 0), "n_test": counts.get("test", 0),
    }])
    warehouse.replace_run(layout.warehouse, run_id, frames)
    return str(layout.warehouse)


@task(name="report")
def publish_report(config: PipelineConfig, run_id: str) -> str:
    """Markdown + HTML + PNG report under ``{data}/reports/{run_id}``, also a Prefect artifact."""
    layout = DataLayout(Path(config.data_root))
    markdown_path = write_report(layout, run_id)
    create_markdown_artifact(key="recrl-report", markdown=markdown_path.read_text(),
                             description=f"recrl run {run_id}")
    return str(markdown_path)


def check_source(config: PipelineConfig) -> None:
    """Fail fast, in one line naming it, when ``config.source`` gives nothing to work on.

    'simulator' always works; 'lake' needs events in the lake; anything else must resolve to input
    files (a file, a folder with files, a glob with matches).
    """
    if config.source == "lake":
        check_lake_has_events(DataLayout(Path(config.data_root)))
    elif config.source != "simulator":
        resolve_sources(config.source, config.source_format)


DEFAULT_CONFIG = PipelineConfig()
"""Frozen, so sharing it as the flow's default parameter is safe."""


@flow(name="recrl-nightly")
def nightly(config: PipelineConfig = DEFAULT_CONFIG, run_id: str | None = None) -> str:
    """One night: (simulate or take the given logs), ingest, build states, train, evaluate, report.

    ``config.source``: 'simulator' simulates then ingests; 'lake' skips both (the lake must hold
    events); a file, folder or glob is ingested as given (files ingested before are skipped).

    ``run_id`` defaults to ``nightly-<UTC date>``: re-running a night replaces its results. A dict or
    JSON ``config`` is validated into a ``PipelineConfig`` by Prefect before the flow starts (a bad value
    fails the run naming its field); the input logs are checked again here, before the first task.
    """
    check_source(config)
    started_at = datetime.now(UTC)
    run_id = run_id or f"nightly-{started_at:%Y-%m-%d}"
    logger = get_run_logger()
    if config.source == "simulator":
        reconciliation = ingest_logs(simulate_logs(config), "events", config)
        logger.info("ingest: %s", reconciliation)
    elif config.source != "lake":  # a file, folder or glob: ingest resolves it
        reconciliation = ingest_logs([config.source], config.source_format, config)
        logger.info("ingest: %s", reconciliation)
    counts = build_state_sequences(config)
    logger.info("states: %s", counts)
    checkpoint = train_actor_critic(config, run_id)
    train_sequential_baseline(config, run_id)
    if config.coordinator.enabled and config.coordinator.specialists:
        train_specialists(config, run_id)
    evaluate(config, run_id, checkpoint, counts, started_at)
    publish_report(config, run_id)
    return run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the recrl nightly flow once.")
    parser.add_argument("--config", type=Path, help="PipelineConfig JSON (defaults when omitted)")
    parser.add_argument("--run-id", help="results of an existing run id are replaced")
    args = parser.parse_args(argv)
    try:  # every setting is checked here, before Prefect or any stage starts
        config = PipelineConfig.from_file(args.config) if args.config else PipelineConfig()
        check_source(config)
    except ConfigError as error:
        for problem in error.problems:
            print(f"nightly: error: {problem}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        print(f"nightly: error: {error}", file=sys.stderr)
        return 2
    run_id = nightly(config=config, run_id=args.run_id)
    layout = DataLayout(Path(config.data_root))
    print(comparison_text(warehouse.main_comparison(layout.warehouse, run_id), run_id))
    print(f"warehouse: {layout.warehouse}   report: {layout.reports / run_id / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
