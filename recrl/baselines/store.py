"""A fitted baseline on disk, like the agent's checkpoint: safetensors parameters + a JSON config.

``{folder}/params.safetensors`` holds the policy's arrays (sparse matrices as CSR data / indices /
indptr / shape); ``{folder}/config.json`` its kind, name, temperature, hyperparameters and tuning
record. No pickle: loading reads only numbers and JSON, and rebuilds a policy that scores identically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from recrl.baselines.cf import ItemKNNPolicy, PureSVDPolicy, SessionKNNPolicy
from recrl.baselines.popularity import PopularityPolicy

PARAMS_FILE = "params.safetensors"
CONFIG_FILE = "config.json"
POLICY_KINDS = {cls.kind: cls for cls in (PopularityPolicy, ItemKNNPolicy, SessionKNNPolicy, PureSVDPolicy)}
"""Every baseline class by its ``kind``, as stored in ``config.json``."""


def baseline_config(policy) -> dict:
    """What made a fitted baseline: kind, name, temperature, hyperparameters and (if tuned) its search."""
    return {
        "kind": policy.kind,
        "name": policy.name,
        "temperature": float(policy.temperature),
        "hyperparameters": dict(policy.hyperparameters),
        "tuning": getattr(policy, "tuning", None),
    }


def save_baseline(policy, folder: str | Path) -> Path:
    """Write ``policy`` to ``folder`` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.ascontiguousarray(values) for name, values in policy.arrays().items()}
    save_file(arrays, str(folder / PARAMS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(baseline_config(policy), indent=2, sort_keys=True))
    return folder


def load_baseline(folder: str | Path, kinds: Mapping[str, type] = POLICY_KINDS):
    """The policy saved in ``folder``, scoring exactly as it did when saved; ``kinds`` the classes it
    may be (the text agent, ``recrl.agents.text``, saves the same way)."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config["kind"] not in kinds:
        raise ValueError(
            f"{folder}: unknown baseline kind {config['kind']!r} (known: {sorted(kinds)})"
        )
    policy = kinds[config["kind"]].from_arrays(
        load_file(str(folder / PARAMS_FILE)), config["hyperparameters"], config["name"], config["temperature"]
    )
    policy.tuning = config.get("tuning")
    return policy
