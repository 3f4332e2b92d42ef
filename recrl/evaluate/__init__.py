"""Evaluation stage: off-policy estimates, ground truth and ranking metrics for every policy.

``run_stage`` is the stage's entry point (``recrl.stages``): ``recrl.evaluate.stage.evaluate_run`` builds
the rows, ``run_stage`` writes them to the warehouse (replacing the run's earlier rows) with the run's
``runs`` row, then the report. Heavy modules are imported only when ``run_stage`` is called.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recrl.stages import StageSummary, stage_clock

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout


@dataclasses.dataclass(frozen=True)
class EvaluateSummary(StageSummary):
    """What one evaluation wrote."""

    stage = "evaluate"
    run_id: str
    policies: tuple[str, ...]
    """Policies judged, in the order of the ``policies`` rows (agents, baselines, logging, oracle)."""
    rows: dict[str, int]
    """Rows written per warehouse table."""
    warehouse: Path
    report: Path | None
    """``{data}/reports/{run_id}/report.md``; None when the report was not asked for."""


def run_stage(
    layout: DataLayout,
    config: PipelineConfig,
    run_id: str,
    checkpoint: str | Path | None = None,
    counts: dict[str, int] | None = None,
    started_at: datetime | None = None,
    report: bool = True,
    stage_seconds: dict[str, float] | None = None,
) -> EvaluateSummary:
    """Judge every policy of ``run_id`` on the test days and write the results to ``layout.warehouse``.

    ``checkpoint``: the actor-critic's folder (default ``layout.models / run_id``). ``counts``:
    decisions per split for the ``runs`` row (``StatesSummary.split_totals``; null columns without).
    ``started_at``: the run's start (default: now); ``stage_seconds``: the earlier stages' seconds, for the
    ``runs`` row. ``report``: also write ``layout.reports / run_id``.
    """
    from recrl.evaluate.stage import evaluate_run
    from recrl.store import runs, warehouse

    checkpoint = Path(checkpoint) if checkpoint is not None else layout.models / run_id
    if not checkpoint.is_dir():
        raise FileNotFoundError(
            f"no checkpoint for run {run_id!r}: {checkpoint} (train it first: recrl train)"
        )
    started_at = started_at or datetime.now(UTC)
    with stage_clock("evaluate", f"run {run_id}") as clock:
        frames = evaluate_run(layout, config, run_id, str(checkpoint))
        # The run's row (recrl.store.runs) goes in with its results: replace_run removes the old one.
        frames["runs"] = runs.run_row(config, run_id, "succeeded", started_at, stage_seconds or {}, counts)
        warehouse.replace_run(layout.warehouse, run_id, frames)
        report_path = None
        if report:
            from recrl.evaluate.report import write_report

            report_path = write_report(layout, run_id)
    return EvaluateSummary(
        run_id=run_id,
        policies=tuple(frames["policies"]["policy"].to_list()),
        rows={table: frame.height for table, frame in frames.items()},
        warehouse=layout.warehouse,
        report=report_path,
        seconds=clock.seconds,
    )


__all__ = ["EvaluateSummary", "run_stage"]
