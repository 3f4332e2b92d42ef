"""The one CLI: every command from the one config, --help without heavy imports, uniform stage entry
points (``run_stage``) returning their summaries, and ``recrl status`` on a warehouse read-only."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from recrl import cli
from recrl.config import PipelineConfig
from recrl.stages import StageSummary
from recrl.store.cli import stage_seconds, status_text

COMMANDS = ("simulate", "ingest", "states", "train", "evaluate", "recommend", "ope", "run", "status")
HEAVY = ("torch", "prefect", "transformers", "polars", "duckdb", "pyarrow", "sklearn")


def test_building_the_parser_imports_no_heavy_module() -> None:
    code = (
        "import sys, recrl.cli; parser = recrl.cli.build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_every_command_is_registered_and_takes_config_and_data() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(subparsers.choices)
    for command in set(COMMANDS) - {"ope"}:  # ope reads a lake and a policy table, not a data root
        options = {o for a in subparsers.choices[command]._actions for o in a.option_strings}
        assert {"--config", "--data"} <= options, command


def test_options_override_the_config_file_section_by_section(tmp_path: Path) -> None:
    config_file = tmp_path / "c.json"
    config_file.write_text(
        json.dumps(
            {
                "agent": {"epochs": 5, "lr": 0.01},
                "sequential": {"epochs": 7},
                "data_root": str(tmp_path / "from-file"),
            }
        )
    )
    args = cli.build_parser().parse_args(
        [
            "train",
            "--config",
            str(config_file),
            "--epochs",
            "2",
            "--sequential.patience",
            "0",
            "--data",
            str(tmp_path / "given"),
        ]
    )
    config = cli.pipeline_config(args, own="agent", others=("sequential", "states"))
    assert (config.agent.epochs, config.agent.lr) == (2, 0.01)  # option over file, file over default
    assert (config.sequential.epochs, config.sequential.patience) == (7, 0)
    assert config.data_root == str(tmp_path / "given")
    args = cli.build_parser().parse_args(["run", "--agent.epochs", "1", "--sim.n-users", "50"])
    config = cli.pipeline_config(args, others=cli.SECTIONS)
    assert (config.agent.epochs, config.sim.n_users, config.data_root) == (1, 50, "data")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["train", "--epochs", "three"],
            "recrl train: error: agent.epochs: expected an integer, got 'three'",
        ),
        (["run", "--sequential.lr", "-1"], "recrl run: error: sequential.lr: must be greater than 0"),
        (
            ["evaluate", "--run-id", "r", "--alpha", "2"],
            "recrl evaluate: error: eval.alpha: must be less than 1",
        ),
        (
            ["train", "--config", "{tmp}/absent.json"],
            "recrl train: error: config file not found: {tmp}/absent.json",
        ),
        (
            ["states", "--data", "{tmp}/absent"],
            "recrl states: error: --data directory not found: {tmp}/absent",
        ),
        (["status", "--data", "{tmp}"], "recrl status: error: warehouse not found: {tmp}/warehouse.duckdb"),
        (
            ["evaluate", "--data", "{tmp}", "--run-id", "r"],
            "recrl evaluate: error: no checkpoint for run 'r'",
        ),
    ],
)
def test_errors_are_one_line(argv, expected, tmp_path, capsys) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(expected.replace("{tmp}", str(tmp_path)))


# --- uniform stage entry points -----------------------------------------------------------------


def test_stage_summaries_share_one_shape() -> None:
    from recrl.agents import TrainSummary
    from recrl.evaluate import EvaluateSummary
    from recrl.ingest import IngestSummary
    from recrl.simulate import SimulateSummary
    from recrl.states import StatesSummary

    classes = (SimulateSummary, IngestSummary, StatesSummary, TrainSummary, EvaluateSummary)
    assert all(issubclass(c, StageSummary) for c in classes)
    assert [c.stage for c in classes] == ["simulate", "ingest", "states", "train", "evaluate"]


@pytest.fixture(scope="module")
def staged(tmp_path_factory, make_tiny_config):
    """simulate -> ingest -> states through the ``run_stage`` entry points on the tiny world."""
    from recrl import ingest, simulate, states
    from recrl.lake import DataLayout

    root = tmp_path_factory.mktemp("staged")
    config, layout = make_tiny_config(root), DataLayout(root)
    simulated = simulate.run_stage(layout, config)
    ingested = ingest.run_stage(layout, config, paths=[str(p) for p in simulated.event_files], fmt="events")
    built = states.run_stage(layout, config)
    return config, layout, simulated, ingested, built


def test_simulate_ingest_states_return_what_they_wrote(staged) -> None:
    import polars as pl

    from recrl.states import load_transitions

    config, layout, simulated, ingested, built = staged
    assert [p.name for p in simulated.event_files] == [f"events-2026-11-0{d}.csv" for d in range(1, 5)]
    assert all(p.parent == layout.raw / "sim" and p.is_file() for p in simulated.event_files)
    assert (simulated.truth_dir / "decisions.parquet").is_file()
    n_rows = sum(pl.read_csv(p).height for p in simulated.event_files)
    assert (ingested.files, ingested.skipped, ingested.input_rows) == (4, 0, n_rows)
    assert ingested.input_rows == ingested.accepted_rows + ingested.quarantined_rows + ingested.duplicate_rows
    assert ingested.accepted_rows == n_rows and ingested.partitions_written == 4 * config.ingest.n_shards
    for split in ("train", "valid", "test"):
        assert built.split_totals[split] == load_transitions(layout, split).num_rows > 0
    assert all(s.seconds > 0 for s in (simulated, ingested, built))
    row = json.loads(json.dumps(ingested.as_dict()))  # JSON-ready
    assert row["stage"] == "ingest" and row["lake"] == str(layout.lake)


def test_ingesting_the_same_files_again_skips_them(staged) -> None:
    from recrl import ingest

    config, layout, simulated, _, _ = staged
    again = ingest.run_stage(layout, config, paths=[str(p) for p in simulated.event_files], fmt="events")
    assert (again.files, again.skipped, again.input_rows) == (0, 4, 0)


def test_stage_lines_say_start_and_seconds(staged, caplog) -> None:
    from recrl import states

    config, layout, *_ = staged
    with caplog.at_level(logging.INFO, logger="recrl.stages"):
        summary = states.run_stage(layout, config)
    lines = [r.getMessage() for r in caplog.records if r.name == "recrl.stages"]
    assert lines[0].startswith("recrl states: started")
    assert lines[-1] == f"recrl states: done in {summary.seconds:.1f} s"


@pytest.mark.slow
def test_the_pipeline_in_process_is_the_list_of_stage_calls(tmp_path, make_tiny_config, capsys) -> None:
    """``recrl run --no-prefect``'s path: every stage's summary, the warehouse rows, then ``recrl status``."""
    from recrl.lake import DataLayout
    from recrl.stages import run_pipeline

    config, layout = make_tiny_config(tmp_path), DataLayout(tmp_path)
    summaries = run_pipeline(layout, config, "cli-test")
    assert [s.stage for s in summaries] == ["simulate", "ingest", "states", "train", "evaluate"]
    _, ingested, built, trained, judged = summaries
    assert ingested.files == config.sim.n_days
    assert trained.checkpoint == layout.models / "cli-test"
    assert 1 <= trained.actor_critic_epochs <= config.agent.epochs
    assert 1 <= trained.sequential_epochs <= config.sequential.epochs
    assert {"actor-critic", "sasrec", "logging", "oracle"} <= set(judged.policies)
    assert judged.report == layout.reports / "cli-test" / "report.md" and judged.report.is_file()
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        (n_policies,) = con.execute("select count(*) from policies where run_id = 'cli-test'").fetchone()
        n_test, status = con.execute("select n_test, status from runs where run_id = 'cli-test'").fetchone()
    assert n_policies == judged.rows["policies"] == len(judged.policies)
    assert (n_test, status) == (built.split_totals["test"], "succeeded")
    assert cli.main(["status", "--data", str(layout.root)]) == 0
    out = capsys.readouterr().out
    assert "cli-test  succeeded" in out and out.strip().endswith("deployed policy: none")


# --- recrl status ------------------------------------------------------------------------------


def test_status_shows_last_runs_stage_seconds_and_the_deployed_policy(tmp_path) -> None:
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "create table runs (run_id varchar, started_at timestamptz, finished_at timestamptz, "
            "status varchar, ingest_seconds double, train_seconds double)"
        )
        for day in range(3):
            con.execute(
                "insert into runs values (?, ?, ?, 'succeeded', 1.5, 60)",
                [f"nightly-{day}", start + timedelta(days=day), start + timedelta(days=day, seconds=90)],
            )
        con.execute(
            "insert into runs values ('nightly-3', ?, null, 'failed', null, null)",
            [start + timedelta(days=3)],
        )
        text = status_text(con, last=2)
        assert text.splitlines()[0] == "runs: 4 in the warehouse, the last 2:"
        assert "nightly-3  failed" in text and "took -" in text
        assert "nightly-2  succeeded" in text and "took 90 s  stages: ingest 1.5 s, train 60.0 s" in text
        assert "nightly-1" not in text and text.endswith("deployed policy: none")
        con.execute("create table deployments (policy varchar, run_id varchar, deployed_at timestamptz)")
        con.execute(
            "insert into deployments values ('sasrec', 'nightly-0', ?), ('actor-critic', 'nightly-2', ?)",
            [start, start + timedelta(days=2)],
        )
        assert (
            status_text(con, last=1)
            .splitlines()[-1]
            .startswith("deployed policy: policy=actor-critic, run_id=nightly-2")
        )


def test_stage_seconds_read_from_a_json_column_too() -> None:
    row = {"run_id": "r", "stage_seconds": json.dumps({"states": 2.0, "evaluate": 30}), "train_seconds": 5.0}
    assert stage_seconds(row) == {"train": 5.0, "states": 2.0, "evaluate": 30}


def test_default_config_data_root_is_the_one_data_root() -> None:
    args = cli.build_parser().parse_args(["status"])
    assert (
        cli.layout_of(cli.pipeline_config(args)).warehouse
        == Path(PipelineConfig().data_root) / "warehouse.duckdb"
    )
