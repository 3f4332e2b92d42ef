"""Ablation of the actor-critic's parts, per simulated world, scored by the simulator's truth.

Results: ``bench/results/ablation.json``; the tables and the defaults chosen from them: ``docs/agent.md``.

For each scenario x seed (tuning seeds by default: choices are never made on report seeds) one world is
simulated, ingested and turned into states (history up to ``MAX_HISTORY`` events), then:

- the tuned baselines (``recrl.baselines.fit_baselines``, tuned on valid) and the supervised SASRec
  model are fitted once;
- every actor-critic variant (``VARIANTS``: ``AgentConfig`` overrides, or a history length) is trained on
  the train days with early stopping on valid; a variant with a CF prior (``AgentConfig.prior``) gets it
  from those tuned baselines (``recrl.agents.prior.choose_prior``), as ``fit_actor_critic`` would fit it.

Every policy is then served as the evaluation stage serves it: the temperature with the highest DR
lower bound on valid (``recrl.evaluate.offpolicy.choose_temperature``, reward model cross-fitted on
valid + train), and judged by its true value on the test day, beside its greedy (deterministic top-K)
true value. Nothing here reads the test day except the truth.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ablation.py [--scenarios default,sequential] [--seeds 11,12]
                                       [--variants base,sa2c] [--users 400] [--days 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recrl.agents.actor_critic import ActorCriticPolicy, train
from recrl.agents.networks import NetworkShape
from recrl.agents.prior import choose_prior
from recrl.agents.sequential import SequentialPolicy, train_sequential
from recrl.agents.text import fit_text_policy, item_title_embeddings
from recrl.baselines import (
    ItemKNNPolicy,
    PopularityPolicy,
    PureSVDPolicy,
    fit_baselines,
    interactions_from_transitions,
)
from recrl.config import AgentConfig, SequentialConfig, TextConfig
from recrl.evaluate.offpolicy import (
    RewardFeatures,
    choose_temperature,
    fit_reward_model,
    score_states,
    simulator_truth,
)
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.policies import GREEDY, slate_size_of
from recrl.simulate import write_logs
from recrl.simulate.scenarios import SCENARIOS, TUNE_SEEDS
from recrl.simulate.truth import Simulator
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

MAX_HISTORY = 20
"""History length the states are built with; variants read their last N <= this events."""
BASELINE_HISTORY = 10
"""History length the baselines, SASRec and the reward model read (the pipeline's default)."""
SCENARIO_NAMES = ("default", "sequential", "popularity-logger", "long-term")
SIZES = {"n_users": 400, "n_days": 4}
"""Quick worlds (train 2 days, valid 1, test 1), as ``bench/quality.py --quick``."""

BASE = {"supervised_weight": 0.0, "epochs": 3, "patience": 2, "prior": "none"}
"""The actor-critic before this ablation (AgentConfig defaults of December: no supervised head, 3 epochs)."""
SA2C = {"supervised_weight": 1.0, "epochs": 12, "patience": 2, "prior": "none"}
"""The SA2C-style agent: supervised next-item head + the critic-weighted, IPS-corrected term, early stopped;
no CF prior (the ``prior-*`` variants add one)."""
VARIANTS: dict[str, dict] = {
    "base": BASE,
    "base-12ep": BASE | {"epochs": 12},
    "sa2c": SA2C,
    "sa2c-3ep": SA2C | {"epochs": 3},
    "sa2c-patience4": SA2C | {"patience": 4},
    "sa2c-no-ips": SA2C | {"weight_form": "none"},
    "sa2c-ratio": SA2C | {"weight_form": "ratio"},
    "sa2c-cap10": SA2C | {"weight_cap": 10.0},
    "sa2c-reward": SA2C | {"actor_return": "reward"},
    "sa2c-advantage": SA2C | {"actor_return": "advantage"},
    "sa2c-topk": SA2C | {"topk_correction": True},
    "sa2c-no-neg": SA2C | {"negative_samples": 0},
    "sa2c-sup-only": SA2C | {"weight_form": "none", "actor_return": "reward", "supervised_weight": 1.0,
                             "warmup_epochs": 0},
    "sa2c-hist5": SA2C | {"history_len": 5},
    "sa2c-hist20": SA2C | {"history_len": 20},
    "prior-session-knn": SA2C | {"prior": "session-knn"},
    "prior-item-knn": SA2C | {"prior": "item-knn"},
    "prior-pure-svd": SA2C | {"prior": "pure-svd"},
    "prior-best": SA2C | {"prior": "best"},
    "prior-ensemble": SA2C | {"prior": "session-knn+pure-svd"},
    "prior-text": SA2C | {"prior": "text"},
    "prior-session-knn+text": SA2C | {"prior": "session-knn+text"},
    "prior-session-knn-w3": SA2C | {"prior": "session-knn", "prior_weight": 3.0},
    "prior-session-knn-no-sup": SA2C | {"prior": "session-knn", "supervised_weight": 0.0},
    "prior-session-knn-patience4": SA2C | {"prior": "session-knn", "patience": 4},
}
"""name -> overrides of ``AgentConfig`` (``history_len``: of the states the variant reads)."""


def build_world(name: str, seed: int, sizes: dict, root: Path):
    """Simulate, ingest and build states (history ``MAX_HISTORY``) of one world; its config and layout."""
    scenario = SCENARIOS[name]
    config = scenario.pipeline_config(seed, root, sizes)
    config = dataclasses.replace(config, states=dataclasses.replace(config.states, history_len=MAX_HISTORY))
    layout = DataLayout(root)
    paths = write_logs(config.sim, layout.raw / "sim", layout.truth, scenario.reward_click, scenario.reward_purchase)
    ingest([str(p) for p in paths], "events", layout, config.ingest)
    build_states(layout, config.states)
    return config, layout


def judge(policy, valid, test, valid_q, temperatures, slate_size, truth) -> dict:
    """Temperature by the valid DR lower bound; true value there and greedy on test."""
    temperature, table = choose_temperature(score_states(policy, valid.states), valid, temperatures, slate_size,
                                            *valid_q)
    chosen = table.filter(table["temperature"] == temperature).row(0, named=True)
    test_scores = score_states(policy, test.states)
    return {
        "temperature": temperature,
        "valid_dr": chosen["dr"],
        "valid_dr_lcb": chosen["dr_lcb"],
        "true_value": float(truth(test, test_scores, temperature).mean()),
        "greedy_true_value": float(truth(test, test_scores, GREEDY).mean()),
    }


def run_world(name: str, seed: int, sizes: dict, variants: list[str]) -> dict:
    """One world: baselines, SASRec and every variant judged; a row of the JSON."""
    with tempfile.TemporaryDirectory(prefix=f"ablation-{name}-{seed}-") as root:
        started = time.perf_counter()
        config, layout = build_world(name, seed, sizes, Path(root))
        vocab = load_vocab(layout)
        tables = {split: load_transitions(layout, split) for split in ("train", "valid")}
        bandit = {split: load_transitions(layout, split, kind="bandit") for split in ("train", "valid", "test")}

        def arrays(table, history_len: int = BASELINE_HISTORY):
            return to_arrays(table, history_len)

        valid, test = arrays(bandit["valid"]), arrays(bandit["test"])
        slate_size = slate_size_of(test.position)
        temperatures = config.baselines.temperatures
        interactions = interactions_from_transitions(tables["train"], vocab.size)
        baselines = fit_baselines(interactions, config.baselines, valid=valid, slate_size=slate_size)
        by_type = {type(b): b for b in baselines}
        features = RewardFeatures(by_type[PopularityPolicy], by_type[ItemKNNPolicy], by_type[PureSVDPolicy],
                                  slate_size)
        valid_q = fit_reward_model(features, valid, config.eval, arrays(bandit["train"]))
        truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                                config.states.reward_purchase, slate_size)
        row = {"scenario": name, "seed": seed, "sizes": sizes, "baselines": {}, "variants": {}}
        for policy in baselines:
            row["baselines"][policy.name] = judge(policy, valid, test, valid_q, temperatures, slate_size, truth)
        shape = NetworkShape(vocab.size, BASELINE_HISTORY, slate_size_of(arrays(tables["train"]).position))
        sasrec, _ = train_sequential(arrays(tables["train"]), shape, SequentialConfig(), arrays(tables["valid"]))
        row["baselines"]["sasrec"] = judge(SequentialPolicy(sasrec), valid, test, valid_q, temperatures,
                                           slate_size, truth)
        # The text agent (titles), tuned like the baselines: reported beside them, and a prior's text member.
        text = fit_text_policy(interactions, item_title_embeddings(layout, vocab, TextConfig()), config.baselines,
                               valid, slate_size)
        row["agents"] = {"text": judge(text, valid, test, valid_q, temperatures, slate_size, truth)}
        for variant in variants:
            overrides = dict(VARIANTS[variant])
            history_len = overrides.pop("history_len", BASELINE_HISTORY)
            agent = dataclasses.replace(AgentConfig(), **overrides)
            train_split, valid_split = arrays(tables["train"], history_len), arrays(tables["valid"], history_len)
            mark = time.perf_counter()
            model, epoch_log = train(train_split, dataclasses.replace(shape, history_len=history_len), agent,
                                     valid_split, prior=choose_prior(agent.prior, [*baselines, text]))
            seconds = time.perf_counter() - mark
            policy = ActorCriticPolicy(model)
            v_valid, v_test = arrays(bandit["valid"], history_len), arrays(bandit["test"], history_len)
            row["variants"][variant] = judge(policy, v_valid, v_test, valid_q, temperatures, slate_size, truth) | {
                "epochs_run": len(epoch_log), "train_s": seconds}
            print(f"  {name} {seed} {variant}: {row['variants'][variant]}", flush=True)
        row["elapsed_s"] = time.perf_counter() - started
        return row


def summary(runs: list[dict]) -> dict:
    """Per scenario: mean true value (over seeds) of every variant and baseline, and the best baseline."""
    out = {}
    for name in dict.fromkeys(r["scenario"] for r in runs):
        mine = [r for r in runs if r["scenario"] == name]

        def mean(group: str, key: str, field: str = "true_value", mine: list[dict] = mine) -> float:
            return float(np.mean([r[group][key][field] for r in mine]))

        baselines = {b: mean("baselines", b) for b in mine[0]["baselines"]}
        best = max(baselines, key=baselines.get)
        out[name] = {
            "seeds": [r["seed"] for r in mine],
            "baselines": baselines,
            "best_baseline": best,
            "agents": {a: mean("agents", a) for a in mine[0].get("agents", {})},
            "variants": {v: {"true_value": mean("variants", v), "greedy_true_value": mean("variants", v, "greedy_true_value"),
                             "vs_best_baseline": mean("variants", v) / baselines[best] - 1.0}
                         for v in mine[0]["variants"]},
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIO_NAMES))
    parser.add_argument("--seeds", default=",".join(map(str, TUNE_SEEDS)))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--users", type=int, default=SIZES["n_users"])
    parser.add_argument("--days", type=int, default=SIZES["n_days"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ablation.json")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    sizes = {"n_users": args.users, "n_days": args.days}
    started = time.perf_counter()
    runs = []
    for name in args.scenarios.split(","):
        for seed in map(int, args.seeds.split(",")):
            runs.append(run_world(name, seed, sizes, variants))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            result = {
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "sizes": sizes,
                "variants": {v: VARIANTS[v] for v in variants},
                "agent_defaults": dataclasses.asdict(AgentConfig()),
                "elapsed_s": time.perf_counter() - started,
                "summary": summary(runs),
                "runs": runs,
            }
            args.out.write_text(json.dumps(result, indent=2) + "\n")  # after every world: partial runs survive
    for name, s in result["summary"].items():
        print(f"{name} (seeds {s['seeds']}): best baseline {s['best_baseline']} {s['baselines'][s['best_baseline']]:.4f}")
        for v, numbers in s["variants"].items():
            print(f"  {v:16s} {numbers['true_value']:.4f} (greedy {numbers['greedy_true_value']:.4f}) "
                  f"{numbers['vs_best_baseline']:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
