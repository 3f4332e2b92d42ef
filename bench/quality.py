"""Quality suite: every policy of the pipeline on every named simulated world, scored by its truth.

For each scenario (``recrl.simulate.scenarios``) x seed: write the simulator's logs under a temporary
data root, ingest, build states, train the actor-critic and run the evaluation stage, exactly as
``pipelines/nightly.py`` does (without Prefect and the warehouse). Per policy that ``evaluate_run``
returns (so new baselines or agents added there appear here unchanged): its true value, DR with its
95% bootstrap CI and whether the CI covers the truth, and the true value of the same scores served
greedily (the deterministic top-K slate, ``recrl.evaluate.offpolicy.GREEDY``) through the same truth
function, so the value given up by the explored (valid-chosen) temperature is true - greedy. Per world: the uniform,
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
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

import recrl.evaluate.stage as stage
from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.config import AgentConfig, EvalConfig, SequentialConfig
from recrl.evaluate.offpolicy import GREEDY, score_states
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.simulate.diagnostics import reference_values
from recrl.simulate.scenarios import REPORT_SEEDS, SCENARIOS, TUNE_SEEDS, Scenario
from recrl.states import build_states

SIZES = {"n_users": 1500, "n_days": 5}
"""World sizes of the full suite (train 3 days, valid 1, test 1)."""
QUICK_SIZES = {"n_users": 400, "n_days": 4}
QUICK_SCENARIOS = ("default", "sequential")
MAX_EVAL_ITEMS_K3 = 1000
"""Above this catalogue size the evaluation's third-slot Plackett-Luce closed form (a (rows, V, V)
array per 2,048-decision chunk) needs tens of GB, so only the world's reference values are recorded."""


def evaluation_blocker(scenario: Scenario, sizes: dict) -> str | None:
    """Why today's evaluation stage cannot score this world (None when it can)."""
    sim = scenario.sim_config(0, **sizes)
    if sim.slate_size > 3:
        return f"evaluation computes Plackett-Luce marginals for K <= 3 only (K = {sim.slate_size})"
    if sim.n_items > MAX_EVAL_ITEMS_K3 and sim.slate_size == 3:
        return f"evaluation's K = 3 marginals need (rows, V, V) memory: V = {sim.n_items} is too large"
    return None


@contextmanager
def greedy_truth_recorder():
    """Wrap the evaluation stage's ``evaluate_policy`` so that every policy it scores also gets the true
    value of its deterministic top-K slate on the test decisions, through the stage's own truth function.

    Yields a dict policy name -> greedy true value. The wrapper only reads the arguments, so any
    policy evaluate_run adds is covered without changes here.
    """
    original = stage.evaluate_policy
    signature = inspect.signature(original)
    greedy: dict[str, float] = {}

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs).arguments
        truth, policy, test = bound["truth"], bound["policy"], bound["test"]
        if truth is not None:
            scores = score_states(policy, test.states)
            greedy[result.policy["policy"]] = float(truth(test, scores, GREEDY).mean())
        return result

    stage.evaluate_policy = recording
    try:
        yield greedy
    finally:
        stage.evaluate_policy = original


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
        checkpoint = fit_actor_critic(layout, config.states, config.agent, run_id)
        fit_sequential(layout, config.states, config.sequential, run_id)  # the supervised SASRec baseline
        timing["train"] = time.perf_counter() - mark
        if blocker:  # the stages before evaluation ran: they are checked on this world too
            raise NotImplementedError(f"not evaluated: {blocker}")
        mark = time.perf_counter()
        with greedy_truth_recorder() as greedy:
            frames = stage.evaluate_run(layout, config, run_id, str(checkpoint))
        timing["evaluate"] = time.perf_counter() - mark
        row["policies"] = policy_rows(frames, greedy)
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


def policy_rows(frames: dict[str, pl.DataFrame], greedy: dict[str, float]) -> list[dict]:
    """Per policy of ``evaluate_run``: truth, DR with its CI and coverage, greedy truth."""
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
        rows.append(
            {
                "policy": name,
                "kind": policy["kind"],
                "temperature": policy["temperature"],
                "true_value": truth,
                "greedy_true_value": greedy.get(name),
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


def parse_seeds(text: str) -> list[tuple[int, str]]:
    """'report', 'tune', 'all' or a comma list of ints -> [(seed, role)]."""
    roles = {s: "tune" for s in TUNE_SEEDS} | {s: "report" for s in REPORT_SEEDS}
    if text == "report":
        return [(s, "report") for s in REPORT_SEEDS]
    if text == "tune":
        return [(s, "tune") for s in TUNE_SEEDS]
    if text == "all":
        return sorted(roles.items(), key=lambda item: (item[1] != "tune", item[0]))
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
        "eval": EvalConfig(n_bootstrap=100) if args.quick else EvalConfig(),
    }
    if args.quick:
        seeds = seeds[:1]

    started = time.perf_counter()
    jobs = [(name, seed, role, sizes, sections) for name in names for seed, role in seeds]
    runs = []
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for run in pool.map(run_in_temp_root, jobs):  # in job order
            runs.append(run)
            print(
                f"{run['scenario']} seed {run['seed']} ({run['role']}): {run['timing_s']} {run['error'] or ''}",
                flush=True,
            )
    reported = [r for r in runs if r["role"] != "tune" or args.seeds == "tune"]
    result = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "quick": args.quick,
        "sizes": sizes,
        "agent_epochs": sections["agent"].epochs,
        "sequential_epochs": sections["sequential"].epochs,
        "n_bootstrap": sections["eval"].n_bootstrap,
        "greedy": "deterministic top-K slate",
        "agent": dataclasses.asdict(sections["agent"]),
        "seeds": {"tune": list(TUNE_SEEDS), "report": list(REPORT_SEEDS)},
        "elapsed_s": time.perf_counter() - started,
        "cpu_s": sum(r["timing_s"]["cpu"] for r in runs),
        "jobs": args.jobs,
        "runs": reported,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown_table(reported))
    print(
        f"{len(runs)} worlds in {result['elapsed_s']:.0f} s ({result['cpu_s']:.0f} CPU s); JSON: {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
