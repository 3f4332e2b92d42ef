"""Learned recommendation agents: the off-policy actor-critic over a BERT state encoder, and the
supervised SASRec-style model it must beat, trained on the same encoder.

``run_stage`` is the train stage's entry point (``recrl.stages``): both models fitted on the train split
(early-stopped on valid) into ``{data}/models/{run_id}/`` by ``recrl.agents.fit``. torch is imported
only when ``run_stage`` is called, so ``recrl --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from recrl.stages import StageSummary, stage_clock

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout


@dataclasses.dataclass(frozen=True)
class TrainSummary(StageSummary):
    """What one training stage wrote."""

    stage = "train"
    run_id: str
    checkpoint: Path
    """``{data}/models/{run_id}``: the actor-critic's (and the sequential model's) checkpoint folder."""
    actor_critic_epochs: int
    """Epochs the actor-critic ran (early stopping may end it before ``agent.epochs``)."""
    sequential_epochs: int
    """Epochs the sequential model ran; 0 when it was not trained."""


def run_stage(
    layout: DataLayout, config: PipelineConfig, run_id: str, sequential: bool = True
) -> TrainSummary:
    """Fit the actor-critic (``config.agent``), with ``sequential`` the SASRec-style baseline
    (``config.sequential``), and the click and purchase specialists when ``config.coordinator`` asks
    for them, on ``layout``'s states; all write under ``layout.models / run_id``."""
    from recrl.agents.fit import SEQUENTIAL_LOG_FILE, TRAINING_LOG_FILE, fit_actor_critic, fit_sequential

    specialists = config.coordinator.enabled and config.coordinator.specialists
    models = "actor-critic" + (" + sequential" if sequential else "") + (" + specialists" if specialists else "")
    with stage_clock("train", f"{models}, run {run_id}") as clock:
        checkpoint = fit_actor_critic(layout, config.states, config.agent, run_id, baselines=config.baselines,
                                      text=config.text)
        if sequential:
            fit_sequential(layout, config.states, config.sequential, run_id)
        if specialists:  # click and purchase actor-critics for the coordinator's team
            from recrl.agents.specialists import fit_specialists

            fit_specialists(layout, config.states, config.agent, config.coordinator, run_id, config.baselines,
                            config.text)
    return TrainSummary(
        run_id=run_id,
        checkpoint=checkpoint,
        actor_critic_epochs=_epochs(checkpoint / TRAINING_LOG_FILE),
        sequential_epochs=_epochs(checkpoint / SEQUENTIAL_LOG_FILE) if sequential else 0,
        seconds=clock.seconds,
    )


def _epochs(log_file: Path) -> int:
    """Entries of a training log (one per epoch run)."""
    return len(json.loads(log_file.read_text())) if log_file.is_file() else 0


__all__ = ["TrainSummary", "run_stage"]
