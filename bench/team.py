"""The team against its best single agent on named simulated worlds (issue 12; notes in docs/agents.md).

Runs ``bench/quality.py``'s ``run_world`` (simulate, ingest, states, train, evaluate: the flow's stages)
for each scenario x seed, with the click / purchase specialists trained after the sequential model as
the flow does (``pipelines/nightly.py``), and records per world: every policy's true value and DR
[95% CI], the team's chosen fusion and weights (``agent_weights``), the team minus the best single agent
(by true value), the specialists' training time and the coordinator's (``choose_team``) seconds. JSON to
``bench/results/team.json``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/team.py [--scenarios default,sequential] [--seeds 21,22,23] [--quick]
        [--choice split]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import typing
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import quality  # noqa: E402  (bench/quality.py: the suite's world runner, used unchanged)

from recrl.agents.specialists import fit_specialists  # noqa: E402
from recrl.config import AgentConfig, ChoiceName, CoordinatorConfig, EvalConfig, SequentialConfig  # noqa: E402
from recrl.simulate.scenarios import SCENARIOS  # noqa: E402

SINGLE_KINDS = ("agent", "baseline")
"""Policy kinds that are single agents (the team's members; not logging, oracle or the team)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="default,sequential")
    parser.add_argument("--seeds", default="21")
    parser.add_argument("--quick", action="store_true", help="quality.py's quick sizes and 100 resamples")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "team.json")
    parser.add_argument("--choice", default=CoordinatorConfig().choice, choices=typing.get_args(ChoiceName),
                        help="CoordinatorConfig.choice: same, split or crossfit (valid decisions the team is chosen on)")
    args = parser.parse_args(argv)
    sizes = dict(quality.QUICK_SIZES if args.quick else quality.SIZES)
    sections = {"agent": AgentConfig(), "sequential": SequentialConfig(),
                "eval": EvalConfig(n_bootstrap=100) if args.quick else EvalConfig()}
    coordinator = CoordinatorConfig(choice=args.choice)
    sections["coordinator"] = coordinator

    specialist_seconds, weights, coordinator_seconds = [], [], []
    fit_sequential = quality.fit_sequential
    evaluate_run = quality.stage.evaluate_run
    choose_team = quality.stage.choose_team

    def fit_sequential_and_specialists(layout, states, sequential, run_id):
        folder = fit_sequential(layout, states, sequential, run_id)
        start = time.perf_counter()
        fit_specialists(layout, states, sections["agent"], coordinator, run_id)
        specialist_seconds.append(time.perf_counter() - start)
        return folder

    def evaluate_and_keep_weights(*a, **k):
        frames = evaluate_run(*a, **k)
        weights.append(frames["agent_weights"].to_dicts())
        return frames

    def timed_choose_team(*a, **k):
        start = time.perf_counter()
        chosen = choose_team(*a, **k)
        coordinator_seconds.append(time.perf_counter() - start)
        return chosen

    quality.fit_sequential = fit_sequential_and_specialists
    quality.stage.evaluate_run = evaluate_and_keep_weights
    quality.stage.choose_team = timed_choose_team

    runs = []
    for name in args.scenarios.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            specialist_seconds.clear()
            weights.clear()
            coordinator_seconds.clear()
            with tempfile.TemporaryDirectory(prefix=f"team-{name}-{seed}-") as root:
                run = quality.run_world(SCENARIOS[name], seed, "report", sizes, sections, Path(root))
            run["specialists_train_s"] = specialist_seconds[0] if specialist_seconds else None
            run["agent_weights"] = weights[0] if weights else []
            run["coordinator_s"] = coordinator_seconds[0] if coordinator_seconds else None
            singles = [p for p in run["policies"] if p["kind"] in SINGLE_KINDS]
            team = next((p for p in run["policies"] if p["kind"] == "team"), None)
            if team and singles:
                best = max(singles, key=lambda p: p["true_value"])
                run["best_single"] = best["policy"]
                run["team_minus_best"] = team["true_value"] - best["true_value"]
            runs.append(run)
            print(summary(run), flush=True)
    result = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick, "sizes": sizes,
              "coordinator": dataclasses.asdict(coordinator), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"JSON: {args.out}")
    return 0


def summary(run: dict) -> str:
    """Markdown lines of one world: policy, true value, DR [CI]; then the team's fusion and margin."""
    lines = [f"### {run['scenario']} seed {run['seed']} {run.get('error') or ''}",
             "| policy | kind | T | true | DR [95% CI] |", "| --- | --- | ---: | ---: | --- |"]
    for p in run["policies"]:
        dr = f"{p['dr']:.4f} [{p['dr_ci_low']:.4f}, {p['dr_ci_high']:.4f}]" if p["dr"] is not None else ""
        temperature = "" if p["temperature"] is None else f"{p['temperature']:g}"
        lines.append(f"| {p['policy']} | {p['kind']} | {temperature} | {p['true_value']:.4f} | {dr} |")
    chosen = [w for w in run["agent_weights"] if w["chosen"] and w["weight"] > 0.005]
    if chosen:
        members = ", ".join(f"{w['agent']} {w['weight']:.2f}" for w in chosen)
        lines.append(f"team: {chosen[0]['fusion']} ({members}); team - best single ({run.get('best_single')}): "
                     f"{run.get('team_minus_best', float('nan')):+.4f}; timing {run['timing_s']}, "
                     f"specialists {run['specialists_train_s']:.1f} s, coordinator {run.get('coordinator_s') or 0:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
