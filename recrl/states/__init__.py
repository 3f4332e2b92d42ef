"""State builder: lake events -> item vocabulary and (state, action, reward, next state) transitions.

``run_stage`` is the stage's entry point (``recrl.stages``). The SQL lives in ``sql/states``; see
docs/states.md for the tables, reward attribution, the split and the leakage guarantees. Names are
imported on first use (PEP 562), so ``recrl --help`` does not load duckdb or pyarrow.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from recrl.lazy import lazy_exports
from recrl.stages import stage_clock

if TYPE_CHECKING:
    from recrl.config import PipelineConfig
    from recrl.lake import DataLayout
    from recrl.states.build import StatesSummary

_EXPORTS = {
    "StatesSummary": "recrl.states.build",
    "build_states": "recrl.states.build",
    "TRANSITION_SCHEMA": "recrl.states.export",
    "TransitionArrays": "recrl.states.export",
    "load_transitions": "recrl.states.export",
    "to_arrays": "recrl.states.export",
    "Vocabulary": "recrl.states.vocab",
    "load_vocab": "recrl.states.vocab",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


def run_stage(layout: DataLayout, config: PipelineConfig) -> StatesSummary:
    """Vocabulary and transitions of every split under ``layout.states`` from ``layout.events``
    (``config.states``); the summary counts transitions per split and kind."""
    from recrl.states.build import build_states

    if not layout.root.is_dir():
        raise FileNotFoundError(f"data root not found: {layout.root}")
    with stage_clock("states", f"history {config.states.history_len}") as clock:
        summary = build_states(layout, config.states)
    return dataclasses.replace(summary, seconds=clock.seconds)


__all__ = [*sorted(_EXPORTS), "run_stage"]
