"""Which rule should choose a policy's serving temperature on the valid day? Scored by the simulator's truth.

For each scenario x seed (tuning seeds by default) one quick world is simulated and every policy the
evaluation serves is fitted as ``bench/ablation.py`` fits it: the tuned baselines, SASRec, the text agent
and the actor-critic with the default prior. For every policy and every temperature of
``BaselineConfig.temperatures`` it records the valid day's DR, its standard error and Kish ESS (reward
model cross-fitted on valid + train, as ``recrl.evaluate.offpolicy.choose_temperature`` computes them), and
on the test day the true value and DR with its normal interval. Each candidate rule then picks a
temperature from the valid numbers alone:

    lcb-z      argmax_T  DR_valid(T) - z std_err_valid(T)      (z = EvalConfig.temperature_z is the evaluation's
                                                                 rule; std_err floored by the reward model)
    lcb-emp-z  the same with the empirical std_err alone        (the rule before the floor)
    ess-q      argmax_T  DR_valid(T)  among T with ESS(T) >= q n (the baselines' rule before)
    paired-z   the sharpest T_0 unless some softer T has  gain(T) - z std_err(gain(T)) > 0, then the one
               with the highest such bound; gain_i(T) = c_i(T) - c_i(T_0), the per-decision DR
               contributions on the same valid decisions (z = 2.24: one-sided 5% Bonferroni over 4 rivals)

and is scored by the test day's truth at that temperature (and whether the test DR interval covers it).
Nothing here chooses on the test day: the rule is chosen on the tune seeds and reported on the others.

    OMP_NUM_THREADS=1 .venv/bin/python bench/temperature_rule.py [--scenarios ...] [--seeds 11,12]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from ablation import BASELINE_HISTORY, SIZES, build_world

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
    decision_probs,
    fit_reward_model,
    score_states,
    simulator_truth,
)
from recrl.ope import estimate
from recrl.policies import GREEDY, slate_size_of
from recrl.simulate.scenarios import SCENARIOS, TUNE_SEEDS
from recrl.simulate.truth import Simulator
from recrl.states import load_transitions, load_vocab, to_arrays

RULES = {f"lcb-{z}": ("lcb", z) for z in (1.96, 1.645, 1.28, 1.0, 0.5, 0.0)} | {
    f"paired-{z}": ("paired", z) for z in (2.24, 1.645, 1.0, 0.5)} | {
    f"lcb-emp-{z}": ("lcb-emp", z) for z in (1.96, 1.0)} | {f"ess-{q}": ("ess", q) for q in (0.02, 0.05, 0.1)}
"""name -> (kind, parameter) of the candidate rules."""


def temperature_rows(policy, valid, test, valid_q, test_q, temperatures, slate_size, truth) -> list[dict]:
    """Per temperature: valid DR, std_err (floored and empirical), ESS share; test truth and DR with its
    normal 95% interval."""
    _, table = choose_temperature(score_states(policy, valid.states), valid, temperatures, slate_size, *valid_q)
    test_scores = score_states(policy, test.states)
    rows = []
    for row in table.iter_rows(named=True):
        temperature = row["temperature"]
        probs = decision_probs(test_scores, test.position, temperature, slate_size)
        n = len(test)
        dr = estimate("dr", reward=test.reward, pscore=test.propensity, action_prob=probs[np.arange(n), test.action],
                      q_logged=test_q[0], q_policy=(probs * test_q[1]).sum(axis=1), n_bootstrap=1)
        rows.append({"temperature": temperature, "valid_dr": row["dr"], "valid_se": row["dr_std_err"],
                     "valid_se_empirical": row["dr_std_err_empirical"],
                     "valid_ess_share": row["ess"] / len(valid), "valid_gain": row["gain"],
                     "valid_gain_se": row["gain_std_err"],
                     "true_value": float(truth(test, test_scores, temperature).mean()),
                     "test_dr": dr.value, "test_dr_low": dr.normal_ci_low, "test_dr_high": dr.normal_ci_high})
    greedy = float(truth(test, test_scores, GREEDY).mean())
    return [r | {"greedy_true_value": greedy} for r in rows]


def pick(rows: list[dict], rule: tuple[str, float]) -> dict:
    """The row the rule chooses (ties: the first temperature)."""
    kind, parameter = rule
    if kind == "paired":
        sharpest = min(rows, key=lambda r: r["temperature"])

        def bound(row: dict) -> float:
            return row["valid_gain"] - parameter * row["valid_gain_se"]

        best = max((r for r in rows if r is not sharpest), key=bound, default=sharpest)
        return best if bound(best) > 0 else sharpest
    if kind in ("lcb", "lcb-emp"):
        se = "valid_se" if kind == "lcb" else "valid_se_empirical"
        return max(rows, key=lambda r: r["valid_dr"] - parameter * r[se])
    eligible = [r for r in rows if r["valid_ess_share"] >= parameter] or [max(rows, key=lambda r: r["valid_ess_share"])]
    return max(eligible, key=lambda r: r["valid_dr"])


def run_world(name: str, seed: int, sizes: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"temperature-{name}-{seed}-") as root:
        started = time.perf_counter()
        config, layout = build_world(name, seed, sizes, Path(root))
        vocab = load_vocab(layout)
        tables = {split: load_transitions(layout, split) for split in ("train", "valid")}
        bandit = {split: load_transitions(layout, split, kind="bandit") for split in ("train", "valid", "test")}
        valid, test = (to_arrays(bandit[s], BASELINE_HISTORY) for s in ("valid", "test"))
        train_split, valid_split = (to_arrays(tables[s], BASELINE_HISTORY) for s in ("train", "valid"))
        slate_size = slate_size_of(test.position)
        interactions = interactions_from_transitions(tables["train"], vocab.size)
        baselines = fit_baselines(interactions, config.baselines, valid=valid, slate_size=slate_size)
        by_type = {type(b): b for b in baselines}
        features = RewardFeatures(by_type[PopularityPolicy], by_type[ItemKNNPolicy], by_type[PureSVDPolicy], slate_size)
        train_bandit = to_arrays(bandit["train"], BASELINE_HISTORY)
        valid_q = fit_reward_model(features, valid, config.eval, train_bandit)
        earlier = to_arrays(pa.concat_tables([bandit["train"], bandit["valid"]]), BASELINE_HISTORY)
        test_q = fit_reward_model(features, test, config.eval, earlier)
        truth = simulator_truth(Simulator(config.sim), layout.truth, vocab, config.states.reward_click,
                                config.states.reward_purchase, slate_size)
        text = fit_text_policy(interactions, item_title_embeddings(layout, vocab, TextConfig()), config.baselines,
                               valid, slate_size)
        shape = NetworkShape(vocab.size, BASELINE_HISTORY, slate_size_of(train_split.position))
        sasrec, _ = train_sequential(train_split, shape, SequentialConfig(), valid_split)
        agent = AgentConfig()
        model, _ = train(train_split, shape, agent, valid_split, prior=choose_prior(agent.prior, [*baselines, text]))
        policies = {b.name: ("baseline", b) for b in baselines} | {
            "sasrec": ("baseline", SequentialPolicy(sasrec)), "text": ("agent", text),
            "actor-critic": ("agent", ActorCriticPolicy(model))}
        row = {"scenario": name, "seed": seed, "sizes": sizes, "policies": {}}
        for policy_name, (kind, policy) in policies.items():
            row["policies"][policy_name] = {"kind": kind, "temperatures": temperature_rows(
                policy, valid, test, valid_q, test_q, config.baselines.temperatures, slate_size, truth)}
        row["elapsed_s"] = time.perf_counter() - started
        print(f"{name} {seed}: {row['elapsed_s']:.0f} s", flush=True)
        return row


def summary(runs: list[dict]) -> dict:
    """Per rule: per scenario the actor-critic's mean truth, the best baseline's, the ratio; overall the
    mean value given up against greedy and the test DR coverage of the chosen temperatures."""
    out = {}
    for rule_name, rule in RULES.items():
        per_world, covered, cells, given_up = {}, 0, 0, []
        for name in dict.fromkeys(r["scenario"] for r in runs):
            mine = [r for r in runs if r["scenario"] == name]
            means = {}
            for policy in mine[0]["policies"]:
                chosen = [pick(r["policies"][policy]["temperatures"], rule) for r in mine]
                means[policy] = float(np.mean([c["true_value"] for c in chosen]))
                for c in chosen:
                    cells += 1
                    covered += c["test_dr_low"] <= c["true_value"] <= c["test_dr_high"]
                    given_up.append(c["greedy_true_value"] - c["true_value"])
            kinds = mine[0]["policies"]
            best = max((p for p in means if kinds[p]["kind"] == "baseline"), key=means.get)
            per_world[name] = {"actor_critic": means["actor-critic"], "best_baseline": best,
                               "best_baseline_value": means[best], "text": means["text"],
                               "ac_vs_best": means["actor-critic"] / means[best] - 1.0}
        out[rule_name] = {"worlds": per_world, "normal_coverage": covered / cells, "mean_value_given_up":
                          float(np.mean(given_up)),
                          "ac_wins": sum(w["ac_vs_best"] >= 0 for w in per_world.values())}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="default,sequential,popularity-logger,long-term,purchase-heavy,cold-start")
    parser.add_argument("--seeds", default=",".join(map(str, TUNE_SEEDS)))
    parser.add_argument("--users", type=int, default=SIZES["n_users"])
    parser.add_argument("--days", type=int, default=SIZES["n_days"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "temperature_rule.json")
    args = parser.parse_args(argv)
    names = args.scenarios.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    sizes = {"n_users": args.users, "n_days": args.days}
    started = time.perf_counter()
    runs = [run_world(name, int(seed), sizes) for seed in args.seeds.split(",") for name in names]
    result = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
              "sizes": sizes, "rules": {k: list(v) for k, v in RULES.items()},
              "elapsed_s": time.perf_counter() - started, "summary": summary(runs), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for rule_name, s in result["summary"].items():
        worlds = "  ".join(f"{w} {v['ac_vs_best']:+.1%}" for w, v in s["worlds"].items())
        print(f"{rule_name:10s} wins {s['ac_wins']}  given up {s['mean_value_given_up']:.4f}  "
              f"coverage {s['normal_coverage']:.2f}  {worlds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
