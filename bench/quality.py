"""Quality suite: every policy of the pipeline on every named simulated world, scored by its truth.

For each scenario (``recrl.simulate.scenarios``) x seed: write the simulator's logs under a temporary
data root, ingest, build states, train the actor-critic and run the evaluation stage, exactly as
``pipelines/nightly.py`` does (without Prefect and the warehouse). Per policy that ``evaluate_run``
returns (so new baselines or agents added there appear here unchanged): its true value, DR with its
95% bootstrap CI and whether the CI covers the truth, and the true value of the same scores served
greedily (the top-K slate with the uniform share every served slate has, ``recrl.policies.GREEDY``, also
the sharpest point of the serving grid) through the same truth function, so the value given up by the
valid-chosen temperature is greedy - true. Per world: the uniform,
logging and oracle true values on the test day.

Seeds are either for tuning ("tune", ``TUNE_SEEDS``) or held out ("report", ``REPORT_SEEDS``); by
default only held-out seeds are run, written and printed. JSON to ``bench/results/quality.json``
(``docs/scenarios.md`` describes the worlds).

    OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py [--scenarios default,sequential] [--seeds report|tune|all|21,22]
                                      [--quick] [--jobs 2] [--out bench/results/quality.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import multiprocessing
import os
import platform
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

import recrl.evaluate.stage as stage
from recrl.agents.coordinator import anchor_index, anchored_choice
from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.config import AgentConfig, EvalConfig, SequentialConfig
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.ope import estimate
from recrl.policies import GREEDY
from recrl.simulate import write_logs
from recrl.simulate.diagnostics import reference_values
from recrl.simulate.scenarios import REPORT_SEEDS, SCENARIOS, SPENT_SEEDS, TUNE_SEEDS, Scenario
from recrl.states import build_states

SIZES = {"n_users": 1500, "n_days": 5}
"""World sizes of the full suite (train 3 days, valid 1, test 1)."""
QUICK_SIZES = {"n_users": 400, "n_days": 4}
QUICK_SCENARIOS = ("default", "sequential")
RULES = {"best score": (None, True), "actor-critic": ("actor-critic", True),
         "actor-critic, alpha per rival": ("actor-critic", False)}
"""Choice rules the summary reads the team under (``served_under``): ``CoordinatorConfig.anchor`` and
whether each rival's bound is at alpha / N (``anchored_choice``'s ``familywise``)."""
MAX_EVAL_ITEMS_K3 = 1000
"""Above this catalogue size the evaluation's third-slot Plackett-Luce closed form (O(V^2) per decision,
for every policy, temperature and coordinator candidate) takes hours on 2 cores, so only the world's
reference values are recorded. Slates up to K = 8 are evaluated (``recrl.policies``)."""


def evaluation_blocker(scenario: Scenario, sizes: dict) -> str | None:
    """Why today's evaluation stage cannot score this world (None when it can)."""
    sim = scenario.sim_config(0, **sizes)
    if sim.n_items > MAX_EVAL_ITEMS_K3 and sim.slate_size >= 3:
        return f"evaluation's K = 3 marginals need (rows, V, V) memory: V = {sim.n_items} is too large"
    return None


@contextmanager
def greedy_truth_recorder():
    """Wrap the evaluation stage's ``evaluate_policy`` so that every policy it scores also gets the true
    value of its deterministic top-K slate on the test decisions, through the stage's own truth function,
    and the unclipped DR of its served policy (with its 95% bootstrap interval) beside the flow's clipped one.

    Yields a dict policy name -> {'greedy_true_value', 'dr_unclipped', 'dr_unclipped_ci_low',
    'dr_unclipped_ci_high'}. The wrapper only reads the arguments, so any policy evaluate_run adds is
    covered without changes here.
    """
    original = stage.evaluate_policy
    signature = inspect.signature(original)
    recorded: dict[str, dict] = {}

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs).arguments
        truth, policy, test, config = bound["truth"], bound["policy"], bound["test"], bound["config"]
        scores = score_states(policy, test.states)
        probs = decision_probs(scores, test.position, result.policy["temperature"], bound["slate_size"])
        dr = estimate("dr", reward=test.reward, pscore=test.propensity,
                      action_prob=probs[np.arange(len(test)), test.action], q_logged=bound["q_logged"],
                      q_policy=(probs * bound["q_candidates"]).sum(axis=1), alpha=config.alpha,
                      n_bootstrap=config.n_bootstrap, seed=config.seed)
        recorded[result.policy["policy"]] = {
            "greedy_true_value": float(truth(test, scores, GREEDY).mean()) if truth is not None else None,
            "dr_unclipped": dr.value, "dr_unclipped_ci_low": dr.ci_low, "dr_unclipped_ci_high": dr.ci_high,
            "max_weight": dr.max_weight,
        }
        return result

    stage.evaluate_policy = recording
    try:
        yield recorded
    finally:
        stage.evaluate_policy = original


@contextmanager
def team_choice_recorder():
    """Wrap the evaluation stage's ``choose_team`` to keep what the coordinator chose from: the agents'
    names, each agent alone and each fusion's best candidate with their valid scores (JSON-able), and which
    policy the team would have served under each rule of ``RULES`` (``served_under``; the coordinator's
    own rule, ``recrl.agents.coordinator.anchored_choice``, replayed on the same candidates)."""
    original = stage.choose_team
    recorded: dict = {}

    def recording(agents, valid, coordinator, *args, **kwargs):
        choice = original(agents, valid, coordinator, *args, **kwargs)
        fields = ("fusion", "temperature", "valid_dr", "valid_lcb", "weak_mass", "score")
        recorded.update(
            agents=[a.name for a in agents],
            singles=[{"agent": a.name} | {f: getattr(c, f) for f in fields[2:]}
                     for a, c in zip(agents, choice.alone, strict=True)],
            candidates=[{f: getattr(c, f) for f in fields} | {"weights": c.weights.tolist(), "gate": c.gate is not None,
                                                              "chosen": c is choice.chosen} for c in choice.best],
            served_under={rule: served_under(choice, agents, coordinator, *how) for rule, how in RULES.items()})
        return choice

    stage.choose_team = recording
    try:
        yield recorded
    finally:
        stage.choose_team = original


def served_under(choice, agents, coordinator, anchor: str | None, familywise: bool) -> str | None:
    """The policy the team would have served with ``CoordinatorConfig.anchor = anchor`` and ``familywise``
    (``anchored_choice``), the rest as run:
    'team' where it is the served candidate, an agent's name where it is that agent alone, None where it
    is a fusion this run did not serve (its true value is unknown)."""
    index = anchor_index(agents, anchor)
    pick = anchored_choice(choice.best + choice.alone, None if index is None else choice.alone[index],
                           coordinator.lcb_alpha, coordinator.anchor_margin, familywise)
    if pick is choice.chosen:
        return "team"
    return next((a.name for a, c in zip(agents, choice.alone, strict=True) if c is pick), None)


def run_world(scenario: Scenario, seed: int, role: str, sizes: dict, sections: dict, root: Path) -> dict:
    """One scenario x seed through the pipeline stages; a row of the JSON."""
    config = scenario.pipeline_config(seed, root, sizes, **sections)
    layout = DataLayout(root)
    timing, row = {}, {"scenario": scenario.name, "seed": seed, "role": role, "sizes": sizes}
    start, cpu_start = time.perf_counter(), time.process_time()
    paths = write_logs(
        config.sim, layout.raw / "sim", layout.truth, scenario.reward_click, scenario.reward_purchase
    )
    timing["simulate"] = time.perf_counter() - start
    test_day = paths[-1].stem.removeprefix("events-")
    row["reference"] = reference_values(
        config.sim, layout.truth, scenario.reward_click, scenario.reward_purchase, dates=[test_day]
    )
    row["policies"], row["error"] = [], None
    blocker = evaluation_blocker(scenario, sizes)
    try:
        mark = time.perf_counter()
        ingest([str(p) for p in paths], "events", layout, config.ingest)
        build_states(layout, config.states)
        timing["ingest_states"] = time.perf_counter() - mark
        mark = time.perf_counter()
        run_id = f"quality-{scenario.name}-{seed}"
        checkpoint = fit_actor_critic(layout, config.states, config.agent, run_id, baselines=config.baselines,
                                      text=config.text)
        fit_sequential(layout, config.states, config.sequential, run_id)  # the supervised SASRec baseline
        timing["train"] = time.perf_counter() - mark
        if blocker:  # the stages before evaluation ran: they are checked on this world too
            raise NotImplementedError(f"not evaluated: {blocker}")
        mark = time.perf_counter()
        with greedy_truth_recorder() as recorded, team_choice_recorder() as choice:
            frames = stage.evaluate_run(layout, config, run_id, str(checkpoint))
        timing["evaluate"] = time.perf_counter() - mark
        row["policies"] = policy_rows(frames, recorded)
        row["team_choice"] = choice or None
    except Exception as error:  # one failing world must not lose the others' results
        row["error"] = f"{type(error).__name__}: {error}"
        row["traceback"] = traceback.format_exc(limit=6)
    timing["total"] = time.perf_counter() - start
    timing["cpu"] = (
        time.process_time() - cpu_start
    )  # this process only; wall time on shared cores says little
    row["timing_s"] = timing
    return row


def run_in_temp_root(job: tuple) -> dict:
    """``run_world`` in a fresh temporary data root (one worker process per job)."""
    name, seed, role, sizes, sections = job
    with tempfile.TemporaryDirectory(prefix=f"quality-{name}-{seed}-") as root:
        return run_world(SCENARIOS[name], seed, role, sizes, sections, Path(root))


def policy_rows(frames: dict[str, pl.DataFrame], recorded: dict[str, dict]) -> list[dict]:
    """Per policy of ``evaluate_run``: truth, greedy truth and the value given up (true - greedy), the
    flow's DR with its CI and coverage, the unclipped DR with its CI and coverage."""
    # The flow's DR is clipped at EvalConfig.clip_lambda and named for it (dr-clip100); plain 'dr' otherwise.
    dr = frames["ope_estimates"].filter(pl.col("estimator").str.starts_with("dr") & (pl.col("estimator") != "dr-os"))
    dr_by_policy = {r["policy"]: r for r in dr.iter_rows(named=True)}
    rows = []
    for policy in frames["policies"].iter_rows(named=True):
        name, truth = policy["policy"], policy["true_value"]
        est = dr_by_policy.get(name)
        covers = None
        if est is not None and truth is not None:
            covers = bool(est["ci_low"] <= truth <= est["ci_high"])
        extra = recorded.get(name, {})
        greedy = extra.get("greedy_true_value")
        unclipped_covers = None
        if extra and truth is not None:
            unclipped_covers = bool(extra["dr_unclipped_ci_low"] <= truth <= extra["dr_unclipped_ci_high"])
        rows.append(
            {
                "policy": name,
                "kind": policy["kind"],
                "temperature": policy["temperature"],
                "true_value": truth,
                "greedy_true_value": greedy,
                "value_given_up": None if greedy is None or truth is None else greedy - truth,
                **extra,
                "dr_unclipped_covers_truth": unclipped_covers,
                "dr": est["value"] if est else None,
                "dr_ci_low": est["ci_low"] if est else None,
                "dr_ci_high": est["ci_high"] if est else None,
                "dr_covers_truth": covers,
            }
        )
    return rows


def markdown_table(runs: list[dict]) -> str:
    """One line per (world, seed, policy): true value, greedy true value, DR [CI], coverage."""
    lines = [
        "| scenario | seed | policy | true | greedy true | DR [95% CI] | covers |",
        "| --- | --- | --- | ---: | ---: | --- | --- |",
    ]

    def num(value) -> str:
        return "" if value is None else f"{value:.4f}"

    for run in runs:
        ref = run["reference"]
        lines.append(f"| {run['scenario']} | {run['seed']} | uniform | {num(ref['uniform'])} | | | |")
        if run["error"]:
            lines.append(f"| {run['scenario']} | {run['seed']} | logging | {num(ref['logging'])} | | | |")
            lines.append(f"| {run['scenario']} | {run['seed']} | oracle | {num(ref['oracle'])} | | | |")
            lines.append(f"| {run['scenario']} | {run['seed']} | ({run['error'][:80]}) | | | | |")
        for p in run["policies"]:
            ci = (
                f"{num(p['dr'])} [{num(p['dr_ci_low'])}, {num(p['dr_ci_high'])}]"
                if p["dr"] is not None
                else ""
            )
            covers = "" if p["dr_covers_truth"] is None else ("yes" if p["dr_covers_truth"] else "NO")
            lines.append(
                f"| {run['scenario']} | {run['seed']} | {p['policy']} | {num(p['true_value'])} | "
                f"{num(p['greedy_true_value'])} | {ci} | {covers} |"
            )
    return "\n".join(lines)


def summary(runs: list[dict]) -> dict:
    """Per scenario, means over its seeds: every policy's true value, greedy true value and value given
    up, the best baseline and the actor-critic's gap to it; over all (policy, scenario, seed) cells with a
    truth, how often the flow's DR interval and the unclipped DR interval cover it."""
    out: dict = {"scenarios": {}}
    cells = [p for r in runs if not r["error"] for p in r["policies"] if p["dr_covers_truth"] is not None]
    for key in ("dr_covers_truth", "dr_unclipped_covers_truth"):
        out[key] = {"covered": sum(bool(p[key]) for p in cells), "cells": len(cells)}
    for name in dict.fromkeys(r["scenario"] for r in runs):
        mine = [r for r in runs if r["scenario"] == name and not r["error"]]
        if not mine:
            continue
        policies: dict[str, dict] = {}
        for field in ("true_value", "greedy_true_value", "value_given_up"):
            for p in (p for r in mine for p in r["policies"]):
                values = [q[field] for r in mine for q in r["policies"] if q["policy"] == p["policy"]]
                if all(v is not None for v in values):
                    policies.setdefault(p["policy"], {})[field] = float(np.mean(values))
        kinds = {p["policy"]: p["kind"] for r in mine for p in r["policies"]}
        # The tuned baselines (CF, popularity, SASRec): not the agents (text, specialists, exploration) or the team.
        baselines = {p: v["true_value"] for p, v in policies.items() if kinds[p] == "baseline"}
        best = max(baselines, key=baselines.get)
        agent = policies["actor-critic"]["true_value"]
        entry = {"seeds": [r["seed"] for r in mine], "policies": policies, "best_baseline": best,
                 "actor_critic_vs_best": agent / baselines[best] - 1.0}
        singles = {p: v["true_value"] for p, v in policies.items() if kinds[p] in ("agent", "baseline")}
        if "team" in policies and singles:  # issue 12: the team against the best single agent or baseline
            best_single = max(singles, key=singles.get)
            entry |= {"best_single": best_single,
                      "team_vs_best_single": policies["team"]["true_value"] / singles[best_single] - 1.0}
        by_rule = {}
        for rule in RULES:  # the team under other choice rules, from the recorded choice (exact)
            values = []
            for r in mine:
                pick = (r.get("team_choice") or {}).get("served_under", {}).get(rule)
                true = {p["policy"]: p["true_value"] for p in r["policies"]}
                values.append(true.get(pick) if pick else None)
            if values and all(v is not None for v in values):
                by_rule[rule] = float(np.mean(values))
        if by_rule:
            entry["team_true_value_by_rule"] = by_rule
        out["scenarios"][name] = entry
    return out


def parse_seeds(text: str) -> list[tuple[int, str]]:
    """'report', 'tune', 'all' or a comma list of ints -> [(seed, role)]."""
    roles = {s: "tune" for s in TUNE_SEEDS} | {s: "report" for s in REPORT_SEEDS} | {s: "spent" for s in SPENT_SEEDS}
    if text == "report":
        return [(s, "report") for s in REPORT_SEEDS]
    if text == "tune":
        return [(s, "tune") for s in TUNE_SEEDS]
    if text == "all":
        return sorted(((s, r) for s, r in roles.items() if r != "spent"), key=lambda item: (item[1] != "tune", item[0]))
    return [(int(s), roles.get(int(s), "adhoc")) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", help=f"comma list (default all; quick: {','.join(QUICK_SCENARIOS)})")
    parser.add_argument(
        "--seeds", default="report", help="report (default) | tune | all | comma list of ints"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small worlds, 100 resamples; the first seed of --seeds only",
    )
    parser.add_argument("--users", type=int, help="users per world (overrides the suite's or --quick's size)")
    parser.add_argument("--days", type=int, help="days per world (train = days - 2)")
    parser.add_argument("--bootstrap", type=int, help="bootstrap resamples (default: 500, --quick 100)")
    parser.add_argument("--jobs", type=int, default=1, help="worlds run side by side (one process each)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "quality.json")
    args = parser.parse_args(argv)

    names = (
        args.scenarios.split(",") if args.scenarios else list(QUICK_SCENARIOS if args.quick else SCENARIOS)
    )
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    seeds = parse_seeds(args.seeds)
    sizes = dict(QUICK_SIZES if args.quick else SIZES)
    if args.users:
        sizes["n_users"] = args.users
    if args.days:
        sizes["n_days"] = args.days
    sections = {
        # Training is seconds at these sizes: quick worlds train the learned policies as the flow does.
        "agent": AgentConfig(),
        "sequential": SequentialConfig(),
        "eval": EvalConfig(n_bootstrap=args.bootstrap or (100 if args.quick else 500)),
    }
    if args.quick:
        seeds = seeds[:1]

    started = time.perf_counter()
    # Seed-major order: an interrupted suite still has every scenario's first seeds.
    jobs = [(name, seed, role, sizes, sections) for seed, role in seeds for name in names]
    runs = []

    def write(runs: list[dict]) -> tuple[list[dict], dict]:
        """The JSON so far (rewritten after every world, so an interrupted suite keeps what it measured)."""
        reported = [r for r in runs if r["role"] != "tune" or args.seeds == "tune"]
        result = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "quick": args.quick,
            "sizes": sizes,
            "agent_epochs": sections["agent"].epochs,
            "sequential_epochs": sections["sequential"].epochs,
            "n_bootstrap": sections["eval"].n_bootstrap,
            "greedy": "top-K slate with the SERVING_EPSILON uniform share",
            "agent": dataclasses.asdict(sections["agent"]),
            "seeds": {"tune": list(TUNE_SEEDS), "report": list(REPORT_SEEDS)},
            "elapsed_s": time.perf_counter() - started,
            "cpu_s": sum(r["timing_s"]["cpu"] for r in runs),
            "jobs": args.jobs,
            "complete": len(runs) == len(jobs),
            "summary": summary(reported) if any(not r["error"] for r in reported) else {},
            "runs": reported,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return reported, result

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        # As they finish (a slow world does not hold the others' results back), kept in job order.
        for done in as_completed([pool.submit(run_in_temp_root, job) for job in jobs]):
            run = done.result()
            runs.append(run)
            runs.sort(key=lambda r: [(j[0], j[1]) for j in jobs].index((r["scenario"], r["seed"])))
            print(
                f"{run['scenario']} seed {run['seed']} ({run['role']}): {run['timing_s']} {run['error'] or ''}",
                flush=True,
            )
            reported, result = write(runs)
    print(markdown_table(reported))
    print(json.dumps(result["summary"], indent=1))
    print(
        f"{len(runs)} worlds in {result['elapsed_s']:.0f} s ({result['cpu_s']:.0f} CPU s); JSON: {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
