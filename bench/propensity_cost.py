"""The cost of estimating propensities: one simulated run evaluated with logged and with estimated ones.

The real stages (simulate -> ingest -> states -> actor-critic) run once; ``evaluate_run`` then runs
twice on the same run, with ``eval.propensity = 'logged'`` and ``'estimated'`` (the behaviour model of
``recrl.evaluate.behaviour``), and every policy's SNIPS and DR are set against the simulator's exact
value. JSON to stdout and bench/results/propensity_cost.json; the table is in docs/ope.md.

    python bench/propensity_cost.py [--data-root DIR] [--tiny]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from recrl.agents.fit import fit_actor_critic
from recrl.config import PipelineConfig
from recrl.evaluate.stage import evaluate_run
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.simulate import write_logs
from recrl.states import build_states

RESULTS = Path(__file__).resolve().parent / "results" / "propensity_cost.json"


def with_eval(config: PipelineConfig, **changes: object) -> PipelineConfig:
    """``config`` with ``eval`` fields changed (a dataclass or a pydantic model)."""
    section = config.eval
    if hasattr(section, "model_copy"):
        return config.model_copy(update={"eval": section.model_copy(update=changes)})
    return dataclasses.replace(config, eval=dataclasses.replace(section, **changes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="the test suite's tiny world instead of the default one")
    parser.add_argument("--reuse", action="store_true", help="reuse the states and checkpoint already under --data-root")
    args = parser.parse_args(argv)
    root = args.data_root or Path(tempfile.mkdtemp(prefix="recrl-propensity-cost-"))
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import tiny_config

        config = tiny_config(root)
    else:
        config = PipelineConfig(data_root=str(root))
    layout = DataLayout(root)
    started = time.perf_counter()
    if args.reuse and (layout.models / "bench" / "actor_critic.safetensors").is_file():
        checkpoint = str(layout.models / "bench")
    else:
        paths = write_logs(config.sim, layout.raw / "sim", layout.truth, reward_click=config.states.reward_click,
                           reward_purchase=config.states.reward_purchase)
        ingest([p for p in paths if p.name.startswith("events-")], "events", layout, config.ingest)
        build_states(layout, config.states)
        checkpoint = str(fit_actor_critic(layout, config.states, config.agent, "bench", baselines=config.baselines))
    prepared = time.perf_counter() - started
    frames, seconds = {}, {}
    for source in ("logged", "estimated"):
        tick = time.perf_counter()
        frames[source] = evaluate_run(layout, with_eval(config, propensity=source), "bench", checkpoint)
        seconds[source] = round(time.perf_counter() - tick, 1)

    def pick(source: str) -> pl.DataFrame:
        rows = (frames[source]["ope_estimates"].with_columns(pl.col("estimator").str.replace(r"-clip.*", ""))
                .filter(pl.col("estimator").is_in(["snips", "dr"])))
        return rows.pivot(on="estimator", index=["policy", "true_value"], values=["value", "ess"]).select(
            "policy", "true_value", pl.col("value_snips").alias(f"snips_{source}"),
            pl.col("value_dr").alias(f"dr_{source}"), (pl.col("ess_snips") / rows["n"][0]).alias(f"ess_share_{source}"))

    table = pick("logged").join(pick("estimated").drop("true_value"), on="policy").sort("true_value", descending=True)
    behaviour = frames["estimated"]["behaviour_model"].drop("reliability_json", "run_id")
    out = {"world": "tiny (tests/conftest.py)" if args.tiny else "default SimConfig", "seconds_prepare": round(prepared, 1),
           "seconds_evaluate": seconds, "behaviour_model": behaviour.to_dicts(), "policies": table.to_dicts()}
    text = json.dumps(out, indent=2)
    print(text)
    if not args.tiny:
        RESULTS.write_text(text + "\n")
    with pl.Config(tbl_rows=50, tbl_cols=20, float_precision=4, tbl_width_chars=220):
        print(table, file=sys.stderr)
        print(behaviour, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
