"""The text agent on the cold-start world: true value of every policy, overall and through the new items.

One world (``recrl.simulate.scenarios`` 'cold-start': the newest ``cold_start_items`` items, with titles
and no history, are offered on the test day only) per seed, run through the stages as
``bench/quality.py`` runs them: simulate, ingest, states, actor-critic and SASRec training, then the
evaluation stage ``evaluate_run`` (which tunes every baseline and the text agent on the valid day and
picks each temperature there). Per policy, at its chosen temperature, on the test day:

- ``true_value``: the simulator's expected reward per impression (the evaluation stage's truth);
- ``cold_value``: the part of it earned through cold items, mean_b sum_{a cold} pi(a | x_b, k_b) R(x_b, a, k_b);
- ``cold_mass``: the probability the policy puts on cold items, mean_b sum_{a cold} pi(a | x_b, k_b);
- ``cold_ndcg@10`` / ``cold_hr@10``: rank of the clicked item among all items, over the test clicks on
  cold items (``n_cold_clicks``), and ``ndcg@10`` over all test clicks.

Per world: the oracle's share of slots that go to a cold item. JSON to
``bench/results/text_cold_start.json``; the table is in docs/text.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/text_cold_start.py [--seeds 21] [--users 800] [--days 5]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import recrl.evaluate.stage as stage
from recrl.agents.fit import fit_actor_critic, fit_sequential
from recrl.config import AgentConfig, EvalConfig, SequentialConfig
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.evaluate.ranking import hit_and_ndcg, item_ranks
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.simulate.scenarios import SCENARIOS
from recrl.simulate.truth import Simulator
from recrl.states import build_states, load_vocab

SCENARIO = SCENARIOS["cold-start"]
CHUNK = 1024


@contextmanager
def cold_item_recorder(config, layout: DataLayout):
    """Wrap the stage's ``evaluate_policy``: every policy it scores also gets its cold-item numbers,
    at the temperature the stage chose, from the same simulator truth. Yields policy -> numbers."""
    original = stage.evaluate_policy
    signature = inspect.signature(original)
    simulator = Simulator(config.sim)
    vocab = load_vocab(layout)
    vocab_index = vocab.index_of(simulator.item_ids)  # (n_items,) world item -> vocabulary index
    cold_items = np.arange(config.sim.n_items) >= config.sim.n_items - config.sim.cold_start_items  # (n_items,)
    cold_vocab = np.zeros(vocab.size, dtype=bool)
    cold_vocab[vocab_index[cold_items]] = True
    cold_vocab[:2] = False  # an item outside the vocabulary (index 1) is not a cold item
    numbers: dict[str, dict] = {}

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs).arguments
        policy, test, slate_size = bound["policy"], bound["test"], bound["slate_size"]
        temperature = result.policy["temperature"] or policy.temperature
        scores = score_states(policy, test.states)  # (B, V)
        value, mass, oracle_cold = [], [], []
        for start in range(0, len(test), CHUNK):
            rows = slice(start, start + CHUNK)
            slots = test.position[rows]
            probs = decision_probs(scores[rows], slots, temperature, slate_size)[:, vocab_index]  # (b, n_items)
            rewards = simulator.expected_rewards(layout.truth, test.request_id[rows], config.states.reward_click,
                                                 config.states.reward_purchase)  # (b, n_items, K)
            at_slot = rewards[np.arange(len(slots)), :, slots]  # (b, n_items) R(x, a, k_b)
            value.append((probs[:, cold_items] * at_slot[:, cold_items]).sum(axis=1))
            mass.append(probs[:, cold_items].sum(axis=1))
            oracle_cold.append(cold_items[at_slot.argmax(axis=1)])
        clicked = test.reward > 0
        ranks = item_ranks(scores[clicked], test.action[clicked])
        cold_clicked = cold_vocab[test.action[clicked]]
        numbers[result.policy["policy"]] = {
            "cold_value": float(np.concatenate(value).mean()),
            "cold_mass": float(np.concatenate(mass).mean()),
            "ndcg@10": hit_and_ndcg(ranks, (10,))[("ndcg", 10)],
            "cold_ndcg@10": hit_and_ndcg(ranks[cold_clicked], (10,))[("ndcg", 10)],
            "cold_hr@10": hit_and_ndcg(ranks[cold_clicked], (10,))[("hr", 10)],
            "n_cold_clicks": int(cold_clicked.sum()),
            "oracle_cold_share": float(np.concatenate(oracle_cold).mean()),
        }
        return result

    stage.evaluate_policy = recording
    try:
        yield numbers
    finally:
        stage.evaluate_policy = original


def run_world(seed: int, sizes: dict, root: Path, n_bootstrap: int) -> dict:
    config = SCENARIO.pipeline_config(seed, root, sizes, agent=AgentConfig(), sequential=SequentialConfig(),
                                      eval=EvalConfig(n_bootstrap=n_bootstrap))
    layout = DataLayout(root)
    timing, start = {}, time.perf_counter()
    paths = write_logs(config.sim, layout.raw / "sim", layout.truth, SCENARIO.reward_click, SCENARIO.reward_purchase)
    ingest([str(p) for p in paths], "events", layout, config.ingest)
    states = build_states(layout, config.states)
    timing["data"] = time.perf_counter() - start
    run_id = f"text-cold-start-{seed}"
    checkpoint = fit_actor_critic(layout, config.states, config.agent, run_id, baselines=config.baselines)
    fit_sequential(layout, config.states, config.sequential, run_id)
    timing["train"] = time.perf_counter() - start - timing["data"]
    with cold_item_recorder(config, layout) as cold:
        frames = stage.evaluate_run(layout, config, run_id, str(checkpoint))
    timing["evaluate"] = time.perf_counter() - start - timing["data"] - timing["train"]
    estimates = frames["ope_estimates"]
    policies = []
    for row in frames["policies"].iter_rows(named=True):
        name = row["policy"]
        dr = estimates.filter((estimates["policy"] == name) & (estimates["estimator"] == "dr-clip100"))
        policies.append({"policy": name, "kind": row["kind"], "temperature": row["temperature"],
                         "true_value": row["true_value"],
                         "dr_clip100": dr["value"][0] if len(dr) else None} | cold.get(name, {}))
    oracle_share = next(iter(cold.values()))["oracle_cold_share"]
    return {"seed": seed, "sizes": sizes, "vocab_size": states.vocab_size, "test_decisions": states.counts["test"],
            "oracle_cold_slot_share": oracle_share, "policies": policies, "timing_s": timing}


def markdown_table(runs: list[dict]) -> str:
    lines = ["| seed | policy | kind | true value | through cold items | mass on cold items | NDCG@10 clicks | "
             "NDCG@10 cold clicks | HR@10 cold clicks |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def num(value, digits=4) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    for run in runs:
        for p in sorted(run["policies"], key=lambda p: -(p["true_value"] or 0)):
            lines.append(f"| {run['seed']} | {p['policy']} | {p['kind']} | {num(p['true_value'])} | "
                         f"{num(p.get('cold_value'))} | {num(p.get('cold_mass'), 3)} | {num(p.get('ndcg@10'), 3)} | "
                         f"{num(p.get('cold_ndcg@10'), 3)} | {num(p.get('cold_hr@10'), 3)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="21", help="comma list of world seeds")
    parser.add_argument("--users", type=int, default=800)
    parser.add_argument("--days", type=int, default=5, help="days per world (train = days - 2)")
    parser.add_argument("--bootstrap", type=int, default=100, help="bootstrap resamples of the estimates")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "text_cold_start.json")
    args = parser.parse_args(argv)
    sizes = {"n_users": args.users, "n_days": args.days}
    started, runs = time.perf_counter(), []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"text-cold-{seed}-") as root:
            runs.append(run_world(seed, sizes, Path(root), args.bootstrap))
        print(f"seed {seed}: {runs[-1]['timing_s']}", flush=True)
    result = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
              "scenario": SCENARIO.name, "cold_start_items": SCENARIO.sim_config(0).cold_start_items,
              "n_bootstrap": args.bootstrap, "elapsed_s": time.perf_counter() - started, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown_table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
