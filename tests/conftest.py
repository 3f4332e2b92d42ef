"""Fixtures shared across stages: a small simulated world run through the real stages once per session.

Tests that need transitions, a vocabulary or ground truth read them from ``tiny_pipeline``; nothing is
mocked: the simulator writes logs, ingest builds the lake, the states SQL builds the transitions.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from recrl.config import AgentConfig, BaselineConfig, EvalConfig, PipelineConfig, SequentialConfig, SimConfig
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.states import build_states

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""``../shared/data`` beside the repository: real logged data (Open Bandit Dataset sample, OTTO)."""

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow end-to-end tests first (the order is otherwise kept): with ``-n`` workers (``make test``) the
    longest ones then run beside the many short ones instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def tiny_config(data_root: Path) -> PipelineConfig:
    """A world small enough for seconds-long tests, large enough for real signal."""
    return PipelineConfig(
        data_root=str(data_root),
        sim=dataclasses.replace(SimConfig(), n_users=400, n_items=60, n_days=4, seed=11),
        agent=dataclasses.replace(AgentConfig(), epochs=2, warmup_epochs=1, hidden_size=32, intermediate_size=64),
        eval=dataclasses.replace(EvalConfig(), n_bootstrap=100, reward_model_folds=2),
        sequential=SequentialConfig(epochs=3, patience=1, hidden_size=32, intermediate_size=64),
        baselines=BaselineConfig(tuning_trials=3),  # the search itself is tested in tests/baselines
    )


@pytest.fixture(scope="session")
def make_tiny_config():
    """``tiny_config`` for tests that run the stages themselves under another data root."""
    return tiny_config


@dataclasses.dataclass(frozen=True)
class TinyPipeline:
    config: PipelineConfig
    layout: DataLayout


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> TinyPipeline:
    root = tmp_path_factory.mktemp("tiny")
    config = tiny_config(root)
    layout = DataLayout(root)
    paths = write_logs(config.sim, layout.raw / "sim", layout.truth)
    ingest(paths, "events", layout, config.ingest)
    build_states(layout, config.states)
    return TinyPipeline(config, layout)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """One temporary Prefect API (its own PREFECT_HOME) for every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_HOME", str(home))
        with prefect_test_harness(server_startup_timeout=120):
            yield
