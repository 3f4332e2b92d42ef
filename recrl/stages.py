"""The one shape of a stage entry point, and the pipeline as a list of those calls.

Every stage package exposes ``run_stage(layout: DataLayout, config: PipelineConfig, **stage_args) -> Summary``:

    recrl.simulate.run_stage(layout, config)                   -> SimulateSummary  (event files written)
    recrl.ingest.run_stage(layout, config, paths=..., fmt=...)  -> IngestSummary    (reconciliation totals)
    recrl.states.run_stage(layout, config)                     -> StatesSummary    (transitions per split)
    recrl.agents.run_stage(layout, config, run_id=...)         -> TrainSummary     (checkpoint, epochs)
    recrl.evaluate.run_stage(layout, config, run_id=...)       -> EvaluateSummary  (rows written, report)

(``run_stage``, not ``run``: ``recrl.ingest.run`` is a module, and a package attribute cannot be both.)

A summary is a small frozen dataclass holding what the next stage and the ``runs`` row need (counts,
paths) plus ``seconds``, the stage's wall time; ``as_dict()`` gives it as JSON-ready values. Each
``run_stage`` announces itself with a start and a finish line (``stage_clock``): on a terminal they go
to stderr like the training progress bars, so ``make demo`` shows them at any log level; elsewhere they
are ``logging`` INFO records of ``recrl.stages``.

This module stays light (no numpy, torch, polars, duckdb): ``recrl --help`` imports it.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout


@dataclasses.dataclass(frozen=True)
class StageSummary:
    """Base of every stage's summary: its name (a class constant) and its wall time."""

    stage: ClassVar[str] = "stage"
    seconds: float = dataclasses.field(default=0.0, kw_only=True)
    """Wall time of the stage's ``run_stage``, seconds."""

    def as_dict(self) -> dict[str, Any]:
        """``{"stage": ..., field: value}`` with paths and dates as strings (JSON-ready)."""
        return {"stage": self.stage} | {
            f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Path | date | datetime):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class StageRun(Protocol):
    """``run_stage(layout, config, **stage_args) -> StageSummary``: the entry point of every stage package."""

    def __call__(self, layout: DataLayout, config: PipelineConfig, **stage_args: Any) -> StageSummary: ...


log = logging.getLogger("recrl.stages")


def say(line: str) -> None:
    """One progress line: on a terminal, printed to stderr (flushed, beside tqdm's bars, whatever the
    log level); otherwise logged at INFO, so pipes, captured output and one-line errors stay clean."""
    if sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
    else:
        log.info(line)


class Clock:
    """Seconds since a stage started (``stage_clock``)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stopped: float | None = None

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds so far, or from start to ``stop`` once stopped (what the finish line says)."""
        return round((self.stopped or time.perf_counter()) - self.started, 3)


@contextmanager
def stage_clock(stage: str, detail: str = "") -> Iterator[Clock]:
    """``recrl <stage>: started`` ... ``recrl <stage>: done in 1.2 s`` (or ``failed after``), through ``say``."""
    say(f"recrl {stage}: started" + (f" ({detail})" if detail else ""))
    clock = Clock()
    try:
        yield clock
    except BaseException:
        clock.stop()
        say(f"recrl {stage}: failed after {clock.seconds:.1f} s")
        raise
    clock.stop()
    say(f"recrl {stage}: done in {clock.seconds:.1f} s")


def run_pipeline(layout: DataLayout, config: PipelineConfig, run_id: str) -> list[StageSummary]:
    """The nightly flow in-process, without Prefect: the same stage calls, in order, one after the other.

    ``config.source``: 'simulator' simulates then ingests; 'lake' skips both; a path is ingested.
    Returns every stage's summary (the flow in ``pipelines/nightly.py`` makes these calls as tasks).
    """
    from recrl import agents, evaluate, ingest, simulate, states
    from recrl.store import runs

    config.check_source()
    started_at = datetime.now(UTC)
    summaries: list[StageSummary] = []
    current = "simulate"
    try:
        if config.source == "simulator":
            simulated = simulate.run_stage(layout, config)
            summaries.append(simulated)
            current = "ingest"
            paths = [str(p) for p in simulated.event_files]
            summaries.append(ingest.run_stage(layout, config, paths=paths, fmt="events"))
        elif config.source != "lake":
            current = "ingest"
            summaries.append(ingest.run_stage(layout, config, paths=[config.source], fmt=config.source_format))
        current = "states"
        built = states.run_stage(layout, config)
        summaries.append(built)
        current = "train"
        trained = agents.run_stage(layout, config, run_id=run_id)
        summaries.append(trained)
        current = "evaluate"
        seconds = {summary.stage: summary.seconds for summary in summaries}
        summaries.append(evaluate.run_stage(layout, config, run_id=run_id, checkpoint=trained.checkpoint,
                                            counts=built.split_totals, started_at=started_at, stage_seconds=seconds))
    except Exception as error:  # the run's failed row: the stage and the error's first line
        runs.record_failed(config, run_id, started_at, {s.stage: s.seconds for s in summaries}, current, error)
        raise
    return summaries
