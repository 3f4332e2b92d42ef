"""The nightly flow: logs -> lake -> states -> actor-critic -> evaluation -> warehouse -> report.

Each task is one stage of ``recrl``; tasks hand each other paths and small summaries, never data
frames, so any stage can later fan out over date/shard partitions on a Ray or Dask task runner.

    python -m pipelines.nightly --config data/configs/demo.json [--run-id ID]

Operations (settings in ``PipelineConfig.flow``):

- The flow run is named by its run id.
- Every stage has a time limit; the I/O stages retry an I/O error with exponential backoff.
- The data stages (simulate, ingest, states, both trainings) are cached by the content digests of their
  inputs: their config section's JSON and the SHA-256 of the files they read (plus the run id for the
  checkpoints). A rerun after a failure finds them ``Cached`` and resumes at the failed stage, without
  retraining. A cached result naming a path that no longer exists is refused and the stage runs again.
  Evaluation and report always run (their rows replace the run's rows). Records live in Prefect's
  result storage (``PREFECT_HOME/storage``); ``PREFECT_TASKS_REFRESH_CACHE=true`` reruns every stage.
- Every run leaves a ``runs`` row (``recrl.store.runs``): ``succeeded``, or ``failed`` with the stage
  and the error's first line, written by the flow on an error or time-out, and by the ``on_crashed``
  hook when the flow's process died (killed, out of memory; the worker runs the hook).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from prefect import Flow, Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, State, StateType, TaskRun
from prefect.context import TaskRunContext
from prefect.runtime import flow_run as current_flow_run
from prefect.tasks import exponential_backoff

from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.agents.specialists import fit_specialists
from recrl.config import ConfigError, FlowConfig, PipelineConfig, from_dict
from recrl.evaluate.report import PLOT_FILE, comparison_text, write_report
from recrl.evaluate.stage import evaluate_run
from recrl.ingest import ingest
from recrl.ingest.run import check_lake_has_events, resolve_sources
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.stages import stage_clock
from recrl.states import build_states
from recrl.store import runs, warehouse

log = logging.getLogger(__name__)

RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, duckdb.IOException)
"""Errors an I/O stage retries (a file system hiccup, the warehouse file locked by a reader); any other
error is a bug or bad data, and retrying would only repeat it."""


def retry_on_io_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect's ``retry_condition_fn``: retry only a run that failed with one of ``RETRYABLE_ERRORS``."""
    try:
        state.result()
    except RETRYABLE_ERRORS:
        return True
    except BaseException:  # noqa: BLE001 - any other failure is final
        return False
    return False


# --- cache keys: content digests of a stage's inputs ---------------------------------------------

def section_json(section: Any) -> str:
    return json.dumps(dataclasses.asdict(section), sort_keys=True)


def paths_in(value: Any) -> list[Path]:
    """The absolute paths a stage's result names (strings in it, at any depth, that are absolute paths)."""
    if isinstance(value, str):
        return [Path(value)] if os.path.isabs(value) else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [path for item in value for path in paths_in(item)]
    return []


def digest_cache_key(inputs: Callable[[dict[str, Any]], list[str]]) -> Callable[[TaskRunContext, dict], str]:
    """A ``cache_key_fn``: SHA-256 of the task's name and ``inputs(parameters)``.

    A record under that key whose result names a path that no longer exists is refused: the key moves
    on to ``<key>-1``, ``<key>-2``, ... (the first one without a record, or whose paths all exist), so
    the stage runs again and its fresh result is cached beside the stale one.
    """

    def cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        base = hashlib.sha256("\n".join([context.task.name, *inputs(parameters)]).encode()).hexdigest()
        store = context.result_store
        for attempt in range(100):
            key = base if attempt == 0 else f"{base}-{attempt}"
            if not store.exists(key):
                return key
            if all(path.exists() for path in paths_in(store.read(key).result)):
                return key
            log.info("cached result of %s names a missing path; running it again", context.task.name)
        raise RuntimeError(f"{context.task.name}: 100 stale cache records under {base}")

    return cache_key


def _root(config: PipelineConfig) -> Path:
    return Path(config.data_root).resolve()


def _simulate_inputs(p: dict[str, Any]) -> list[str]:
    config = p["config"]
    return [str(_root(config)), section_json(config.sim), f"{config.states.reward_click} {config.states.reward_purchase}"]


def _ingest_inputs(p: dict[str, Any]) -> list[str]:
    config = p["config"]
    return [str(_root(config)), p["fmt"], section_json(config.ingest),
            runs.content_digest(resolve_sources(p["paths"], p["fmt"]))]


def _states_inputs(p: dict[str, Any]) -> list[str]:
    config = p["config"]
    return [str(_root(config)), section_json(config.states), str(runs.data_version(DataLayout(_root(config))))]


def _training_inputs(*sections: str) -> Callable[[dict[str, Any]], list[str]]:
    def inputs(p: dict[str, Any]) -> list[str]:
        config = p["config"]
        return [str(_root(config)), p["run_id"], section_json(config.states),
                *(section_json(getattr(config, section)) for section in sections),
                runs.content_digest([DataLayout(_root(config)).states])]

    return inputs


CACHED = {"persist_result": True, "result_serializer": "json"}
"""Cached stages keep their small summary (counts and absolute paths) as JSON in Prefect's result storage."""


# --- the stages --------------------------------------------------------------------------------

@task(name="simulate-logs", task_run_name="simulate-logs", cache_key_fn=digest_cache_key(_simulate_inputs), **CACHED)
def simulate_logs(config: PipelineConfig) -> list[str]:
    """Write the simulator's logs (and its ground truth) under ``{data}/raw`` and ``{data}/truth``."""
    layout = DataLayout(_root(config))
    paths = write_logs(config.sim, layout.raw / "sim", layout.truth,
                       reward_click=config.states.reward_click, reward_purchase=config.states.reward_purchase)
    return [str(p) for p in paths if p.name.startswith("events-")]


@task(name="ingest", task_run_name="ingest", cache_key_fn=digest_cache_key(_ingest_inputs), **CACHED)
def ingest_logs(paths: list[str], fmt: str, config: PipelineConfig) -> dict:
    """Validated, partitioned Parquet lake from files, folders or globs; returns the reconciliation totals
    and the lake's events folder.

    Prints the one-line reconciliation (stdout: shown at any log level). A batch refused by the
    quarantine gate raises, failing the flow.
    """
    layout = DataLayout(_root(config))
    report = ingest(paths, fmt, layout, config.ingest)
    print(report.summary(), flush=True)
    files = report.files
    return {"batch_id": report.batch_id, "files": len(files), "skipped": len(report.skipped),
            "input": sum(f.input_rows for f in files),
            "accepted": sum(f.accepted_rows for f in files), "quarantined": sum(f.quarantined_rows for f in files),
            "duplicates": sum(f.duplicate_rows for f in files), "lake": str(layout.events)}


@task(name="build-states", task_run_name="build-states", cache_key_fn=digest_cache_key(_states_inputs), **CACHED)
def build_state_sequences(config: PipelineConfig) -> dict:
    """DuckDB SQL: vocabulary and transitions per split; returns counts per split and the states folder."""
    layout = DataLayout(_root(config))
    summary = build_states(layout, config.states)
    return {split: sum(by_kind.values()) for split, by_kind in summary.counts.items()} | {"states": str(layout.states)}


@task(name="train-actor-critic", task_run_name="train-actor-critic",
      cache_key_fn=digest_cache_key(_training_inputs("agent")), **CACHED)
def train_actor_critic(config: PipelineConfig, run_id: str) -> str:
    """Off-policy actor-critic on the train split; returns the checkpoint folder."""
    return str(fit_actor_critic(DataLayout(_root(config)), config.states, config.agent, run_id,
                                baselines=config.baselines, text=config.text))


@task(name="train-sequential", task_run_name="train-sequential",
      cache_key_fn=digest_cache_key(_training_inputs("sequential")), **CACHED)
def train_sequential_baseline(config: PipelineConfig, run_id: str) -> str:
    """The supervised SASRec-style baseline on the same encoder; returns the checkpoint folder."""
    return str(fit_sequential(DataLayout(_root(config)), config.states, config.sequential, run_id))


@task(name="train-specialists", task_run_name="train-specialists",
      cache_key_fn=digest_cache_key(_training_inputs("agent", "coordinator")), **CACHED)
def train_specialists(config: PipelineConfig, run_id: str) -> list[str]:
    """Click and purchase specialists (actor-critics on one objective's reward); returns their folders."""
    layout = DataLayout(_root(config))
    folders = fit_specialists(layout, config.states, config.agent, config.coordinator, run_id,
                              config.baselines, config.text)
    return [str(folder) for folder in folders.values()]


@task(name="evaluate", task_run_name="evaluate")
def evaluate(config: PipelineConfig, run_id: str, checkpoint: str, started_at: datetime,
             stage_seconds: dict[str, float], counts: dict) -> str:
    """Every policy on the test days; the results and the run's ``succeeded`` row (``recrl.store.runs``,
    with the seconds of every stage up to this one) replace this run's rows in one publish, so a reader
    never sees results without their run."""
    layout = DataLayout(_root(config))
    clock = time.perf_counter()
    frames = evaluate_run(layout, config, run_id, checkpoint)
    seconds = dict(stage_seconds) | {"evaluate": time.perf_counter() - clock}
    frames["runs"] = runs.run_row(config, run_id, "succeeded", started_at, seconds, counts)
    warehouse.replace_run(layout.warehouse, run_id, frames)
    return str(layout.warehouse)


@task(name="report", task_run_name="report")
def publish_report(config: PipelineConfig, run_id: str) -> str:
    """Markdown + HTML + PNG report under ``{data}/reports/{run_id}``; in Prefect, a table artifact of the
    main comparison and a Markdown artifact with the plot embedded (a data URI: the UI cannot load a
    relative or ``file://`` image)."""
    layout = DataLayout(_root(config))
    markdown_path = write_report(layout, run_id)
    comparison = warehouse.main_comparison(layout.warehouse, run_id)
    create_table_artifact(key="recrl-comparison", table=comparison.fill_nan(None).to_dicts(),
                          description=f"recrl run {run_id}: main comparison (expected reward per test decision)")
    plot = base64.b64encode((markdown_path.parent / PLOT_FILE).read_bytes()).decode()
    markdown = markdown_path.read_text().replace(f"]({PLOT_FILE})", f"](data:image/png;base64,{plot})")
    create_markdown_artifact(key="recrl-report", markdown=markdown, description=f"recrl run {run_id}")
    return str(markdown_path)


IO_STAGES = frozenset({"simulate-logs", "ingest", "evaluate", "report"})
"""Stages that retry an I/O error (``FlowConfig.io_retries``)."""
TRAINING_STAGES = frozenset({"train-actor-critic", "train-sequential", "train-specialists"})
"""Stages under ``FlowConfig.train_timeout_minutes`` (the others under ``timeout_minutes``)."""


def configured(stage: Task, settings: FlowConfig) -> Task:
    """``stage`` with the run's time limit, and for an I/O stage its retries with exponential backoff."""
    minutes = settings.train_timeout_minutes if stage.name in TRAINING_STAGES else settings.timeout_minutes
    if stage.name not in IO_STAGES or settings.io_retries == 0:
        return stage.with_options(timeout_seconds=minutes * 60)
    return stage.with_options(timeout_seconds=minutes * 60, retries=settings.io_retries,
                              retry_delay_seconds=exponential_backoff(settings.retry_delay_seconds)(settings.io_retries),
                              retry_condition_fn=retry_on_io_error)


@dataclasses.dataclass
class StageClock:
    """The stage now running and each finished stage's wall seconds (a cached stage's are near 0)."""

    settings: FlowConfig
    current: str | None = None
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def run(self, stage: Task, *args: Any) -> Any:
        self.current = stage.name
        with stage_clock(stage.name) as clock:  # the stage lines every recrl stage prints
            result = configured(stage, self.settings)(*args)
        self.seconds[stage.name] = clock.seconds
        self.current = None
        return result


# --- the flow ----------------------------------------------------------------------------------

def check_source(config: PipelineConfig) -> None:
    """Fail fast, in one line naming it, when ``config.source`` gives nothing to work on.

    'simulator' always works; 'lake' needs events in the lake; anything else must resolve to input
    files (a file, a folder with files, a glob with matches).
    """
    if config.source == "lake":
        check_lake_has_events(DataLayout(Path(config.data_root)))
    elif config.source != "simulator":
        resolve_sources(config.source, config.source_format)


def default_run_id() -> str:
    """``nightly-<UTC date>`` of the run's scheduled start (a late nightly run keeps its night's id)."""
    return f"nightly-{current_flow_run.scheduled_start_time.astimezone(UTC):%Y-%m-%d}"


def flow_run_name() -> str:
    """The flow run's name: its run id."""
    return current_flow_run.parameters.get("run_id") or default_run_id()


def record_crashed_run(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """``on_crashed`` hook: the ``failed`` row of a run whose process died mid-stage (run by the worker
    or ``serve()`` after the process ended, or in-process on an interrupt). The stage is the task run
    left ``Running``; finished stages' times come from their task runs. The run id is the flow run's
    name as the flow set it (the hook's ``flow_run`` may predate the renaming)."""
    config = from_dict(PipelineConfig, flow_run.parameters.get("config", {}))
    with get_client(sync_client=True) as client:
        run_id = client.read_flow_run(flow_run.id).name
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    running = [t.name for t in task_runs if t.state is not None and t.state.type == StateType.RUNNING]
    finished = {t.name: t.total_run_time.total_seconds() for t in task_runs
                if t.state is not None and t.state.type == StateType.COMPLETED}
    started_at = flow_run.start_time or flow_run.expected_start_time or datetime.now(UTC)
    runs.record_failed(config, run_id, started_at, finished, running[0] if running else "flow",
                       runs.error_line(state.message or "crashed"))


DEFAULT_CONFIG = PipelineConfig()
"""Frozen, so sharing it as the flow's default parameter is safe."""


@flow(name="recrl-nightly", flow_run_name=flow_run_name, on_crashed=[record_crashed_run])
def nightly(config: PipelineConfig = DEFAULT_CONFIG, run_id: str | None = None) -> str:
    """One night: (simulate or take the given logs), ingest, build states, train, evaluate, report.

    ``config.source``: 'simulator' simulates then ingests; 'lake' skips both (the lake must hold
    events); a file, folder or glob is ingested as given (files ingested before are skipped).

    ``run_id`` defaults to ``nightly-<UTC date>``: re-running a night replaces its results (its cached
    stages are reused). A dict or JSON ``config`` is validated into a ``PipelineConfig`` by Prefect before
    the flow starts (a bad value fails the run naming its field); the input logs are checked again here,
    before the first stage (a run refused there writes nothing).
    """
    check_source(config)
    started_at = datetime.now(UTC)
    run_id = run_id or default_run_id()
    logger = get_run_logger()
    clock = StageClock(config.flow)
    try:
        if config.source == "simulator":
            reconciliation = clock.run(ingest_logs, clock.run(simulate_logs, config), "events", config)
            logger.info("ingest: %s", reconciliation)
        elif config.source != "lake":  # a file, folder or glob: ingest resolves it
            reconciliation = clock.run(ingest_logs, [config.source], config.source_format, config)
            logger.info("ingest: %s", reconciliation)
        counts = clock.run(build_state_sequences, config)
        logger.info("states: %s", counts)
        checkpoint = clock.run(train_actor_critic, config, run_id)
        clock.run(train_sequential_baseline, config, run_id)
        if config.coordinator.enabled and config.coordinator.specialists:
            clock.run(train_specialists, config, run_id)
        clock.run(evaluate, config, run_id, checkpoint, started_at, dict(clock.seconds), counts)
        clock.run(publish_report, config, run_id)
    except BaseException as error:
        try:
            runs.record_failed(config, run_id, started_at, clock.seconds, clock.current or "flow", error)
        except Exception:  # the run's own error matters more than the missing row
            logger.exception("could not write the failed runs row of %s", run_id)
        raise
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
