"""`recrl states --data DIR` builds and prints the summary; a missing directory is one clear error."""

from __future__ import annotations

import argparse

import pytest

from recrl.states import cli

from .lake_fixture import write_lake
from .random_log import random_events


def parse(argv):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_states_command_prints_counts_per_split(tmp_path, capsys):
    write_lake(tmp_path, random_events(seed=1, n_users=4))
    args = parse(["states", "--data", str(tmp_path), "--history-len", "4", "--threads", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["split", "bandit", "sequence", "dates"]
    assert "vocabulary:" in out and (tmp_path / "states" / "item_vocab.parquet").is_file()


def test_states_command_names_a_missing_data_directory(tmp_path):
    args = parse(["states", "--data", str(tmp_path / "absent")])
    with pytest.raises(FileNotFoundError, match="--data directory not found"):
        args.func(args)
    args = parse(["states", "--data", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="lake events directory not found"):
        args.func(args)
