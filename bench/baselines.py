"""True value on the test day of every baseline, untuned (config defaults) and tuned on the valid day.

For each simulated world (its data root built by simulate -> ingest -> states, or built here), the
baselines are fitted on the train split; each served policy's temperature is chosen on the valid split
(``choose_temperature``, as the evaluation stage does, but on the decisions at the first two slots only:
the third slot's exact marginal costs O(V^2) per decision, too slow for repeated runs on 2 cores) and
its exact true value per impression on all test decisions comes from the simulator (``simulator_truth``). 'popularity (counts)' is the pre-debiasing
popularity (positive-interaction counts). JSON to stdout and bench/results/baselines.json.

    python bench/baselines.py --world default --world other
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from recrl.baselines import PopularityPolicy, fit_baselines, interactions_from_transitions
from recrl.config import PipelineConfig, SimConfig
from recrl.evaluate.offpolicy import choose_temperature, score_states, simulator_truth
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.policies import slate_size_of
from recrl.simulate import Simulator, write_logs
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

RESULTS = Path(__file__).resolve().parent / "results" / "baselines.json"
WORLDS = {
    "default": SimConfig(),
    # A context-free logger and a user whose recent clicks dominate: a world the defaults were not set on.
    "other": dataclasses.replace(
        SimConfig(), logging_category_bonus=0.0, history_decay=0.1, history_weight=3.0, n_items=300
    ),
}


def build(root: Path, sim: SimConfig) -> PipelineConfig:
    config = PipelineConfig(data_root=str(root), sim=sim)
    layout = DataLayout(root)
    if not (layout.states / "transitions").is_dir():
        ingest(write_logs(sim, layout.raw / "sim", layout.truth), "events", layout, config.ingest)
        build_states(layout, config.states)
    return config


def measure(root: Path, config: PipelineConfig, untuned: bool = True) -> list[dict]:
    layout = DataLayout(root)
    vocab = load_vocab(layout)
    n = config.states.history_len
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), n)
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), n)
    slate_size = slate_size_of(test.position)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    truth = simulator_truth(
        Simulator(config.sim),
        layout.truth,
        vocab,
        config.states.reward_click,
        config.states.reward_purchase,
        slate_size,
    )
    temperatures = config.baselines.temperatures
    rows = []

    def record(policy, variant: str, seconds: float) -> None:
        top = valid.take(np.flatnonzero(valid.position < 2))
        temperature, _ = choose_temperature(score_states(policy, top.states), top, temperatures, slate_size)
        scores = score_states(policy, test.states)
        tuning = getattr(policy, "tuning", None)
        rows.append(
            {
                "policy": policy.name,
                "variant": variant,
                "temperature": temperature,
                "true_value": float(truth(test, scores, temperature).mean()),
                "valid_score": tuning["score"] if tuning else None,
                "kept_defaults": tuning["kept_defaults"] if tuning else None,
                "hyperparameters": policy.hyperparameters,
                "fit_seconds": round(seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    if untuned:
        record(
            PopularityPolicy(interactions, basis="interactions", name="popularity (counts)"), "untuned", 0.0
        )
        for policy in fit_baselines(interactions, dataclasses.replace(config.baselines, tuning_trials=1)):
            record(policy, "untuned", 0.0)
    start = time.time()
    for policy in fit_baselines(interactions, config.baselines, valid=valid, slate_size=slate_size):
        record(policy, "tuned", time.time() - start)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", action="append", choices=sorted(WORLDS), default=None)
    parser.add_argument("--root", default="data/bench-baselines", help="data roots are ROOT/<world>")
    parser.add_argument("--tuned-only", action="store_true", help="skip the untuned baselines")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # other worlds' rows stay
    for world in args.world or ["default", "other"]:
        root = Path(args.root) / world
        config = build(root, WORLDS[world])
        results[world] = {
            "sim": dataclasses.asdict(WORLDS[world]),
            "rows": measure(root, config, not args.tuned_only),
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
