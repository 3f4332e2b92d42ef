"""The supervised SASRec-style baseline: fit stage, checkpoint round trip, shape checks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from recrl.agents.fit import SEQUENTIAL_LOG_FILE, SEQUENTIAL_STATE_DIR, fit_sequential
from recrl.agents.sequential import CHECKPOINT_FILE, CONFIG_FILE, SequentialPolicy, load_sequential
from recrl.agents.training import STATE_WEIGHTS_FILE, VALIDATION_METRIC
from recrl.config import SequentialConfig
from recrl.states import load_transitions, to_arrays

TINY_SEQUENTIAL = SequentialConfig(hidden_size=32, intermediate_size=64, epochs=2, device="cpu")


def test_fit_sequential_writes_a_checkpoint_that_reloads_to_the_same_policy(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    directory = fit_sequential(layout, config.states, TINY_SEQUENTIAL, "seq-test")
    assert (directory / CHECKPOINT_FILE).read_bytes()[:8] != b"\x80\x04\x95"  # safetensors, not a pickle
    assert (directory / SEQUENTIAL_STATE_DIR / STATE_WEIGHTS_FILE).is_file()
    epochs = json.loads((directory / SEQUENTIAL_LOG_FILE).read_text())
    assert len(epochs) == 2 and all(0.0 <= e[VALIDATION_METRIC] <= 1.0 for e in epochs)
    model, loaded = load_sequential(directory)
    assert loaded == TINY_SEQUENTIAL
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 50))
    scores = SequentialPolicy(model).item_scores(states)
    again, _ = load_sequential(directory)
    np.testing.assert_array_equal(SequentialPolicy(again).item_scores(states), scores)
    assert np.isfinite(scores[:, 2:]).all() and np.all(scores[:, :2] == -np.inf)


def test_sequential_checkpoint_with_other_shapes_is_refused(tiny_pipeline, tmp_path) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    directory = fit_sequential(layout, config.states, dataclasses.replace(TINY_SEQUENTIAL, epochs=1), "seq-shape")
    meta = json.loads((directory / CONFIG_FILE).read_text())
    meta["shape"]["n_items"] += 3
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="shape"):
        load_sequential(directory)
    with pytest.raises(FileNotFoundError, match="sequential"):
        load_sequential(tmp_path)
