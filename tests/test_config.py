"""Typed configuration: JSON round trip and clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from recrl.config import PipelineConfig


def test_json_round_trip_restores_nested_dataclasses_and_tuples() -> None:
    config = PipelineConfig(data_root="elsewhere")
    config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, cutoffs=(1, 3)))
    restored = PipelineConfig.from_json(config.to_json())
    assert restored == config
    assert isinstance(restored.eval.cutoffs, tuple)


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ValueError, match="n_itemz"):
        PipelineConfig.from_json('{"sim": {"n_itemz": 3}}')


def test_missing_config_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.json"):
        PipelineConfig.from_file(tmp_path / "nope.json")


def test_demo_config_file_parses() -> None:
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "data" / "configs" / "demo.json"
    assert PipelineConfig.from_file(demo).data_root == "data"
