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
) -> EvaluateSummary:
    """Judge every policy of ``run_id`` on the test days and write the results to ``layout.warehouse``.

    ``checkpoint``: the actor-critic's folder (default ``layout.models / run_id``). ``counts``:
    decisions per split for the ``runs`` row (``StatesSummary.split_totals``; null columns without).
    ``started_at``: the run's start (default: now). ``report``: also write ``layout.reports / run_id``.
    """
    from recrl.evaluate.stage import evaluate_run
    from recrl.store import warehouse

    checkpoint = Path(checkpoint) if checkpoint is not None else layout.models / run_id
    if not checkpoint.is_dir():
        raise FileNotFoundError(
            f"no checkpoint for run {run_id!r}: {checkpoint} (train it first: recrl train)"
        )
    started_at = started_at or datetime.now(UTC)
    with stage_clock("evaluate", f"run {run_id}") as clock:
        import polars as pl

        frames = evaluate_run(layout, config, run_id, str(checkpoint))
        counts = counts or {}
        frames["runs"] = pl.DataFrame(
            [
                {
                    "run_id": run_id,
                    "started_at": started_at,
                    "finished_at": datetime.now(UTC),
                    "status": "succeeded",
                    "source": config.source,
                    "data_root": str(layout.root),
                    "config_json": config.to_json(),
                    "n_train": counts.get("train"),
                    "n_valid": counts.get("valid"),
                    "n_test": counts.get("test"),
                }
            ],
            schema_overrides={"n_train": pl.Int64, "n_valid": pl.Int64, "n_test": pl.Int64},
        )
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
