"""The nightly flow end to end on a tiny world, under Prefect's test harness; and its deployments."""

from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest
from prefect.exceptions import ParameterTypeError

from pipelines.deploy import NIGHTLY_CRON, build_deployments
from pipelines.nightly import main, nightly
from recrl.config import PipelineConfig
from recrl.lake import DataLayout


@pytest.mark.slow
def test_nightly_flow_end_to_end_and_rerun_replaces_results(prefect_api, make_tiny_config, tmp_path) -> None:
    config = make_tiny_config(tmp_path / "data")
    run_id = nightly(config=config, run_id="night-1")
    layout = DataLayout(tmp_path / "data")
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        first = con.execute("SELECT count(*) FROM ope_estimates WHERE run_id = 'night-1'").fetchone()[0]
        status, config_json = con.execute("SELECT status, config_json FROM runs WHERE run_id = 'night-1'").fetchone()
        policies = {r[0] for r in con.execute("SELECT policy FROM policies").fetchall()}
    assert run_id == "night-1" and status == "succeeded"
    assert PipelineConfig.from_json(config_json) == config
    # No text team: the tiny world has no new items.
    assert policies == {"actor-critic", "sasrec", "text", "popularity", "item-knn", "session-knn", "pure-svd",
                        "click-specialist", "purchase-specialist", "exploration", "team", "logging", "oracle"}
    # every estimator for the 11 learned policies, and the logging policy's on-policy mean
    assert first == 11 * len(config.eval.estimators) + 1
    report = layout.reports / "night-1"
    assert (report / "report.md").read_text().count("actor-critic") >= 2
    assert (report / "estimates.png").stat().st_size > 5_000 and (report / "report.html").is_file()

    nightly(config=config, run_id="night-1")  # the same night again: rows are replaced, not doubled
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ope_estimates").fetchone()[0] == first
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_missing_input_path_fails_with_one_line_naming_it(make_tiny_config, tmp_path, capsys) -> None:
    config = dataclasses.asdict(make_tiny_config(tmp_path / "data")) | {"source": str(tmp_path / "no-such-logs")}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    assert main(["--config", str(config_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nightly: error: source: ") and "no-such-logs" in err[0]
    assert not (tmp_path / "data").exists()


def test_flow_called_with_a_bad_dict_fails_before_its_first_task(prefect_api, make_tiny_config, tmp_path) -> None:
    config = dataclasses.asdict(make_tiny_config(tmp_path / "data"))
    config["agent"]["epochs"] = "three"
    with pytest.raises(ParameterTypeError, match=r"config\.agent\.epochs"):
        nightly(config=config, run_id="bad-night")
    assert not (tmp_path / "data").exists()


def test_deployments_nightly_on_cron_with_timezone_and_manual_unscheduled() -> None:
    scheduled, manual = build_deployments(PipelineConfig(), timezone="Europe/Berlin")
    assert scheduled.name == "nightly" and manual.name == "manual"
    (schedule,) = scheduled.schedules
    assert schedule.schedule.cron == NIGHTLY_CRON and schedule.schedule.timezone == "Europe/Berlin"
    assert manual.schedules == []
    # Parameters round-trip through the flow's own validation into a typed config.
    validated = nightly.validate_parameters(manual.parameters)
    assert validated["config"] == PipelineConfig()
