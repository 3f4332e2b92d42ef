"""Built-in e-commerce simulator: the default data source and the ground truth of every estimate.

``run_stage`` is the stage's entry point (``recrl.stages``): the config's world written as raw logs under
``{data}/raw/sim`` and its hidden truth under ``{data}/truth``. ``write_logs`` does the writing;
``Simulator`` / ``true_value`` give the true value of any policy on the logged decisions;
``online_value`` rolls a policy out in ``EcommerceEnv``. The user model lives in ``dynamics`` (one
implementation for all of them).

Names are imported on first use (PEP 562), so ``recrl --help`` does not load numpy or gymnasium.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from recrl.lazy import lazy_exports
from recrl.stages import StageSummary, stage_clock

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout

_EXPORTS = {
    "EcommerceEnv": "recrl.simulate.env",
    "SlateSpace": "recrl.simulate.env",
    "LOGGING_POLICY_ID": "recrl.simulate.logging_policy",
    "LoggingPolicy": "recrl.simulate.logging_policy",
    "logging_probs": "recrl.simulate.logging_policy",
    "sample_slates": "recrl.simulate.logging_policy",
    "write_logs": "recrl.simulate.logs",
    "PolicyFn": "recrl.simulate.truth",
    "Simulator": "recrl.simulate.truth",
    "online_value": "recrl.simulate.truth",
    "true_value": "recrl.simulate.truth",
    "World": "recrl.simulate.world",
    "build_world": "recrl.simulate.world",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


@dataclasses.dataclass(frozen=True)
class SimulateSummary(StageSummary):
    """What one simulation wrote."""

    stage = "simulate"
    event_files: tuple[Path, ...]
    """``{data}/raw/sim/events-YYYY-MM-DD.csv``, in date order (what ingest reads next)."""
    raw_dir: Path
    """Folder of the event files and ``items.csv``."""
    truth_dir: Path
    """Folder of ``decisions.parquet`` and ``requests.parquet`` (the ground truth)."""


def run_stage(layout: DataLayout, config: PipelineConfig) -> SimulateSummary:
    """Write ``config.sim``'s logs under ``layout.raw / 'sim'`` and its truth under ``layout.truth``, the
    truth's expected rewards weighted by ``config.states``' click and purchase rewards."""
    from recrl.simulate.logs import write_logs

    raw_dir = layout.raw / "sim"
    sim = config.sim
    with stage_clock("simulate", f"{sim.n_users} users, {sim.n_days} days, seed {sim.seed}") as clock:
        written = write_logs(
            sim,
            raw_dir,
            layout.truth,
            reward_click=config.states.reward_click,
            reward_purchase=config.states.reward_purchase,
        )
    return SimulateSummary(
        event_files=tuple(written), raw_dir=raw_dir, truth_dir=layout.truth, seconds=clock.seconds
    )


__all__ = [*sorted(_EXPORTS), "SimulateSummary", "run_stage"]
