"""Typed configuration: JSON round trip, and every bad setting refused up front with one line naming it.

The table ``BAD`` is run through every edge that takes a config: the models themselves, the ``recrl``
stage CLIs (an equivalent option), ``python -m pipelines.nightly --config`` and Prefect's parameter
validation of flow and deployment runs.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import duckdb
import pytest
from prefect.exceptions import ParameterTypeError
from prefect.utilities.schema_tools import ValidationError as SchemaValidationError
from prefect.utilities.schema_tools import validate as validate_schema

from pipelines import nightly
from pipelines.deploy import build_deployments
from recrl import cli
from recrl.config import (
    MAX_CATEGORIES,
    AgentConfig,
    ConfigError,
    EstimatorName,
    EvalConfig,
    PipelineConfig,
    SimConfig,
    SourceFormat,
    StatesConfig,
    from_dict,
)

TMP = "{tmp}"
"""Stands for the test's tmp_path inside a ``BAD`` config (paths that must exist, or not)."""

# (config JSON, the field its one error line must start with, a phrase of that line, whether the JSON
# schema that a deployment enforces when a run is created already refuses it)
BAD: list[tuple[dict, str, str, bool]] = [
    ({"agent": {"epochs": "three"}}, "agent.epochs", "expected an integer, got 'three'", True),
    ({"agent": {"epochs": 2.5}}, "agent.epochs", "expected an integer", True),
    ({"agent": {"epochs": True}}, "agent.epochs", "not true/false", False),
    ({"ingest": {"skip_ingested": 1}}, "ingest.skip_ingested", "expected true or false, got 1", True),
    ({"agent": {"epochs": 0}}, "agent.epochs", "must be at least 1, got 0", True),
    ({"agent": {"epochs": 2, "warmup_epochs": 3}}, "agent.warmup_epochs", "at most epochs (2), got 3", False),
    ({"agent": {"hidden_size": 30, "num_heads": 4}}, "agent.num_heads", "must divide hidden_size (30)", False),
    ({"agent": {"device": "tpu"}}, "agent.device", "expected 'auto', 'cpu' or 'cuda', got 'tpu'", True),
    ({"agent": {"behaviour": "sometimes"}}, "agent.behaviour", "got 'sometimes'", True),
    ({"agent": {"lr": -0.1}}, "agent.lr", "must be greater than 0", True),
    ({"agent": {"supervised_weight": -1}}, "agent.supervised_weight", "must be at least 0.0, got -1", True),
    ({"agent": {"weight_form": "sqrt"}}, "agent.weight_form", "got 'sqrt'", True),
    ({"agent": {"actor_return": "q"}}, "agent.actor_return", "got 'q'", True),
    ({"agent": {"topk_correction": 1}}, "agent.topk_correction", "expected true or false, got 1", True),
    ({"agent": {"prior": "svd"}}, "agent.prior", "got 'svd'", True),
    ({"agent": {"prior_weight": -1}}, "agent.prior_weight", "must be at least 0.0, got -1", True),
    ({"n_itemz": 3}, "n_itemz", "unknown setting", True),
    ({"sim": {"n_itemz": 3}}, "sim.n_itemz", "unknown setting (did you mean n_items?)", True),
    ({"sim": 3}, "sim", "expected an object of settings, got 3", True),
    ({"sim": {"start_date": "01/11/2026"}}, "sim.start_date", "expected an ISO date (YYYY-MM-DD)", False),
    ({"ingest": {"min_timestamp": "2026-02-30"}}, "ingest.min_timestamp", "ISO date", False),
    ({"sim": {"position_bias": [1.0, 0.5]}}, "sim.position_bias", "2 given for slate_size 3", False),
    ({"sim": {"position_bias": [1.0, 0.5, 1.5]}}, "sim.position_bias[2]", "must be at most 1.0, got 1.5", True),
    ({"sim": {"slate_size": 9, "position_bias": [1] * 9}}, "sim.slate_size", "at most 8", True),
    ({"sim": {"n_categories": MAX_CATEGORIES + 1}}, "sim.n_categories", f"at most {MAX_CATEGORIES}", True),
    ({"sim": {"n_items": 5}}, "sim.n_categories", "at most n_items (5), got 10", False),
    ({"sim": {"daily_active_rate": 1.5}}, "sim.daily_active_rate", "at most 1.0", True),
    ({"sim": {"logging_temperature": 0}}, "sim.logging_temperature", "greater than 0", True),
    ({"sim": {"n_days": 2}}, "states", "no train day of the 2 simulated days", False),
    ({"states": {"valid_days": 0}}, "states.valid_days", "at least 1, got 0", True),
    ({"states": {"memory_limit": "lots"}}, "states.memory_limit", "DuckDB memory size", False),
    ({"eval": {"n_bootstrap": -5}}, "eval.n_bootstrap", "at least 1, got -5", True),
    ({"eval": {"alpha": 1.5}}, "eval.alpha", "less than 1.0, got 1.5", True),
    ({"eval": {"estimators": ["ips", "dr", "magic"]}}, "eval.estimators[2]", "got 'magic'", True),
    ({"eval": {"estimators": []}}, "eval.estimators", "at least 1 value", True),
    ({"eval": {"cutoffs": [5, 5]}}, "eval.cutoffs", "must not repeat a value", False),
    ({"eval": {"propensity": "guessed"}}, "eval.propensity", "'auto', 'logged' or 'estimated'", True),
    ({"gate": {"alpha": 0.5}}, "gate.alpha", "less than 0.5, got 0.5", True),
    ({"gate": {"margin": -0.01}}, "gate.margin", "at least 0", True),
    ({"gate": {"estimator": "best"}}, "gate.estimator", "got 'best'", True),
    ({"gate": {"candidate": ""}}, "gate.candidate", "at least 1 character", True),
    ({"gate": {"margn": 0.1}}, "gate.margn", "unknown setting (did you mean margin?)", True),
    ({"source_format": "csv"}, "source_format", "expected 'events', 'obd', 'otto', 'retailrocket' or 'taobao'", True),
    ({"source": f"{TMP}/no-such-logs"}, "source", "input logs not found", False),
    ({"source": f"{TMP}/logs/*.csv"}, "source", "no file matches this glob", False),
    ({"data_root": f"{TMP}/a-file"}, "data_root", "is an existing file", False),
    ({"ingest": {"naive_timestamps": "local"}}, "ingest.naive_timestamps", "'reject' or 'utc'", True),
    ({"ingest": {"positions": "two-based"}}, "ingest.positions", "'zero-based' or 'one-based'", True),
    ({"ingest": {"salt_env_var": "MY SALT"}}, "ingest.salt_env_var", "environment variable name", False),
    ({"coordinator": {"fusions": ["average", "vote"]}}, "coordinator.fusions[1]", "got 'vote'", True),
    ({"coordinator": {"fusions": []}}, "coordinator.fusions", "at least 1 value", True),
    ({"coordinator": {"weight_grid": [0.0, 0.0]}}, "coordinator.weight_grid", "must not repeat a value", False),
    ({"coordinator": {"weight_grid": [0.0, 0.5, -1.0]}}, "coordinator.weight_grid[2]", "at least 0", True),
    ({"coordinator": {"max_members": 1}}, "coordinator.max_members", "at least 2, got 1", True),
    ({"coordinator": {"lcb_alpha": 0.0}}, "coordinator.lcb_alpha", "greater than 0", True),
    ({"coordinator": {"support_penalty": -0.1}}, "coordinator.support_penalty", "at least 0", True),
    ({"coordinator": {"anchor": "actor_critic"}}, "coordinator.anchor", "'actor-critic', 'click-specialist'", True),
    ({"coordinator": {"specialists": False, "anchor": "purchase-specialist"}}, "coordinator.anchor",
     "trained only with coordinator.specialists on", False),
]
IDS = [f"{path}-{i}" for i, (_, path, _, _) in enumerate(BAD)]


def concrete(data: dict, tmp_path: Path) -> dict:
    """``data`` with ``{tmp}`` replaced; a file ``a-file`` and an empty folder ``logs`` exist there."""
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "logs").mkdir(exist_ok=True)
    return json.loads(json.dumps(data).replace(TMP, str(tmp_path)))


def with_root(data: dict, tmp_path: Path) -> dict:
    """``data`` under its own (absent) data root, so a test can see that nothing was written there."""
    return {"data_root": str(tmp_path / "data")} | data


@pytest.mark.parametrize(("data", "path", "phrase", "_schema"), BAD, ids=IDS)
def test_bad_setting_is_one_line_naming_the_field(data, path, phrase, _schema, tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(PipelineConfig, concrete(data, tmp_path))
    (line,) = caught.value.problems
    assert str(caught.value) == line and "\n" not in line
    assert line.startswith(f"{path}: ") and phrase in line


@pytest.mark.parametrize(("data", "path", "phrase", "_schema"), BAD, ids=IDS)
def test_nightly_main_refuses_before_any_stage_runs(data, path, phrase, _schema, tmp_path, capsys) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(with_root(concrete(data, tmp_path), tmp_path)))
    assert nightly.main(["--config", str(config_file)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"nightly: error: {path}: ") and phrase in line
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("data", "path", "phrase", "_schema"), BAD, ids=IDS)
def test_flow_parameter_validation_names_the_field(data, path, phrase, _schema, tmp_path) -> None:
    # What a deployment run does with its parameters before the flow's first task.
    with pytest.raises(ParameterTypeError) as caught:
        nightly.nightly.validate_parameters({"config": with_root(concrete(data, tmp_path), tmp_path)})
    assert f"config.{path.replace('[', '.').rstrip(']')}: " in str(caught.value)
    assert not (tmp_path / "data").exists()


@pytest.fixture(scope="module")
def manual_deployment_schema() -> dict:
    _, manual = build_deployments(PipelineConfig())
    return manual._parameter_openapi_schema.model_dump()


@pytest.mark.parametrize(("data", "path"), [(d, p) for d, p, _, schema in BAD if schema],
                         ids=[i for i, row in zip(IDS, BAD, strict=True) if row[3]])
def test_deployment_run_with_bad_param_is_refused_by_the_schema(data, path, manual_deployment_schema) -> None:
    # The check the Prefect server makes, with enforce_parameter_schema, when a run is created with
    # `prefect deployment run ... --param config=...`; the rest fail the parameter validation above.
    with pytest.raises(SchemaValidationError) as caught:
        validate_schema({"config": data}, manual_deployment_schema, raise_on_error=True, ignore_required=True)
    field_name = path.split("[")[0].rsplit(".", 1)[-1]  # unknown keys are reported at their section
    assert field_name in str(caught.value)


def test_deployment_with_bad_default_config_fails_at_creation() -> None:
    with pytest.raises(ConfigError, match=r"^agent\.epochs: expected an integer, got 'three'$"):
        build_deployments({"agent": {"epochs": "three"}})


CLI_BAD = [
    (["states", "--data", "{tmp}", "--history-len", "0"], {"states": {"history_len": 0}}),
    (["states", "--data", "{tmp}", "--memory-limit", "lots"], {"states": {"memory_limit": "lots"}}),
    (["states", "--data", "{tmp}", "--valid-days", "three"], {"states": {"valid_days": "three"}}),
    (["simulate", "--out", "{tmp}/out", "--days", "three"], {"sim": {"n_days": "three"}}),
    (["simulate", "--out", "{tmp}/out", "--users", "0"], {"sim": {"n_users": 0}}),
    (["ingest", "{tmp}/a-file", "--format", "events", "--lake", "{tmp}/out", "--shards", "0"],
     {"ingest": {"n_shards": 0}}),
    (["ope", "--events", "{tmp}/out", "--policy-probs", "{tmp}/a-file", "--alpha", "1.5"], {"eval": {"alpha": 1.5}}),
    (["ope", "--events", "{tmp}/out", "--policy-probs", "{tmp}/a-file", "--estimators", "ips", "magic"],
     {"eval": {"estimators": ["ips", "magic"]}}),
    (["ope", "--events", "{tmp}/out", "--policy-probs", "{tmp}/a-file", "--n-bootstrap", "-5"],
     {"eval": {"n_bootstrap": -5}}),
]


@pytest.mark.parametrize(("argv", "same_as"), CLI_BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_BAD])
def test_cli_refuses_bad_option_with_the_config_error_line(argv, same_as, tmp_path, capsys) -> None:
    (tmp_path / "a-file").write_text("x")
    argv = [a.replace(TMP, str(tmp_path)) for a in argv]
    with pytest.raises(ConfigError) as expected:
        from_dict(PipelineConfig, same_as)
    (problem,) = expected.value.problems
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    # Options arrive as text, so only the shown value may differ ('0' for 0).
    assert line.startswith(f"recrl {argv[0]}: error: {problem.split(', got ')[0]}")
    assert not (tmp_path / "out").exists()


def test_several_problems_give_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        PipelineConfig.from_json('{"agent": {"epochs": "three", "lr": 0}, "eval": {"alpha": 2}}')
    assert [p.split(":")[0] for p in caught.value.problems] == ["agent.lr", "agent.epochs", "eval.alpha"]


def test_sections_built_directly_and_replace_are_validated_with_the_same_paths() -> None:
    with pytest.raises(ConfigError, match=r"^sim\.n_days: expected an integer, got 'x'$"):
        SimConfig(n_days="x")
    with pytest.raises(ConfigError, match=r"^agent\.warmup_epochs: must be at most epochs \(3\), got 4$"):
        dataclasses.replace(AgentConfig(epochs=3), warmup_epochs=4)
    with pytest.raises(ConfigError, match=r"^states\.test_days: must be at least 1, got 0$"):
        dataclasses.replace(PipelineConfig().states, test_days=0)
    with pytest.raises(ConfigError, match=r"^eval\.aplha: unknown setting \(did you mean alpha\?\)$"):
        EvalConfig(aplha=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PipelineConfig().sim.n_days = 3  # type: ignore[misc]


def test_good_edges_are_accepted(tmp_path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "day-1.csv").write_text("x")
    for source in ("simulator", "lake", str(tmp_path / "logs"), str(tmp_path / "logs" / "day-1.csv"),
                   str(tmp_path / "logs" / "*.csv")):
        assert PipelineConfig(source=source).source == source
    config = from_dict(PipelineConfig, {"data_root": str(tmp_path / "new"), "states": {"memory_limit": ""},
                                        "sim": {"slate_size": 1, "position_bias": [1.0], "n_days": 3},
                                        "agent": {"epochs": 2, "warmup_epochs": 2}})
    assert config.sim.position_bias == (1.0,) and isinstance(config.sim.position_bias, tuple)
    with duckdb.connect() as con:  # the sizes the config accepts are ones DuckDB takes
        for limit in ("4GB", "512MiB", "1.5 GB", "50%", "2g", "1TB"):
            con.execute(f"SET memory_limit = '{StatesConfig(memory_limit=limit).memory_limit}'")


def test_check_source_again_at_run_time(tmp_path) -> None:
    (tmp_path / "logs.csv").write_text("x")
    config = PipelineConfig(source=str(tmp_path / "logs.csv"))
    (tmp_path / "logs.csv").unlink()
    with pytest.raises(ConfigError, match=r"^source: input logs not found"):
        config.check_source()


def test_choices_match_the_formats_estimators_and_category_words() -> None:
    from recrl.ingest.formats import FORMATS
    from recrl.ope.estimators import ESTIMATORS
    from recrl.simulate.world import CATEGORY_WORDS

    assert set(typing.get_args(SourceFormat)) == set(FORMATS)
    assert set(typing.get_args(EstimatorName)) == set(ESTIMATORS)
    assert MAX_CATEGORIES == len(CATEGORY_WORDS)


def test_every_field_keeps_its_docstring_as_description() -> None:
    for section in (PipelineConfig, *(type(getattr(PipelineConfig(), f.name)) for f in dataclasses.fields(PipelineConfig)
                                      if dataclasses.is_dataclass(getattr(PipelineConfig(), f.name)))):
        for name, info in section.__pydantic_fields__.items():
            assert info.description, f"{section.__name__}.{name} has no docstring"


def test_json_round_trip_restores_nested_dataclasses_and_tuples() -> None:
    config = PipelineConfig(data_root="elsewhere")
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, cutoffs=(1, 3)))
    restored = PipelineConfig.from_json(config.to_json())
    assert restored == config
    assert isinstance(restored.eval.cutoffs, tuple)


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ValueError, match="n_itemz"):
        PipelineConfig.from_json('{"sim": {"n_itemz": 3}}')


def test_invalid_json_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^config: not valid JSON"):
        PipelineConfig.from_json('{"sim": ')


def test_missing_config_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.json"):
        PipelineConfig.from_file(tmp_path / "nope.json")


def test_demo_config_file_parses() -> None:
    demo = Path(__file__).resolve().parents[1] / "data" / "configs" / "demo.json"
    assert PipelineConfig.from_file(demo).data_root == "data"
