"""Benchmark: lake events -> transitions, recrl's DuckDB SQL against a straightforward pandas version.

Generates a lake of ``--events`` canonical events (slates of 3 with clicks / purchases attributed by
request, plus organic clicks / carts / purchases; whole-second timestamps so ties happen), then runs
each implementation in its own child process (so peak RSS is its own) on the same lake, timing the
whole path from Parquet in to partitioned Parquet out. The pandas output is checked column by column
against recrl's (sorted by decision id) before its numbers count.

    .venv/bin/python bench/states.py --events 10000000

Prints JSON and writes it to ``bench/results/states.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recrl.config import StatesConfig
from recrl.lake import DataLayout
from recrl.schema import EVENT_SCHEMA, HISTORY_TYPE_CODE

RESULTS = Path(__file__).resolve().parent / "results" / "states.json"
START_US = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1_000_000)
SECOND_US = 1_000_000
FEEDBACK = ("click", "cart", "purchase")


def generate_lake(root: Path, n_events: int, seed: int = 0, n_days: int = 7, n_items: int = 5000) -> int:
    """Write about ``n_events`` events to ``root``'s lake (one file per date); returns the exact count."""
    rng = np.random.default_rng(seed)
    # Per request: 3 impressions + ~0.3 clicks + a few purchases; organic events add ~20%.
    n_requests = int(n_events / 3.9)
    n_users = max(n_requests // 40, 1)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()

    user = rng.integers(0, n_users, n_requests)  # (R,)
    day = rng.integers(0, n_days, n_requests)
    # Requests end 10 minutes before midnight, so their feedback stays on the request's date.
    request_ts = START_US + day * 86_400 * SECOND_US + rng.integers(0, 85_800, n_requests) * SECOND_US
    shown = rng.choice(n_items, size=(n_requests, 3), p=popularity)  # (R, 3), repeats allowed across slots
    request_id = np.char.add("r", np.arange(n_requests).astype(str))
    user_id = np.char.add("u", user.astype(str))

    columns: dict[str, list[np.ndarray]] = {name: [] for name in EVENT_SCHEMA.names}

    def add(ts, users, items, event_type, position=None, requests=None, propensity=None, policy=None):
        n = len(ts)
        columns["ts"].append(ts)
        columns["user_id"].append(users)
        columns["session_id"].append(np.full(n, None, dtype=object))
        columns["item_id"].append(np.char.add("i", items.astype(str)))
        columns["event_type"].append(np.full(n, event_type, dtype=object))
        columns["position"].append(np.full(n, None, dtype=object) if position is None else position.astype(object))
        columns["request_id"].append(np.full(n, None, dtype=object) if requests is None else requests)
        columns["propensity"].append(np.full(n, None, dtype=object) if propensity is None else propensity)
        columns["policy_id"].append(np.full(n, None, dtype=object) if policy is None else np.full(n, policy))

    slots = np.repeat(np.arange(3)[None, :], n_requests, axis=0)  # (R, 3)
    flat = (np.repeat(request_ts, 3), np.repeat(user_id, 3), shown.ravel(), slots.ravel(), np.repeat(request_id, 3))
    add(flat[0], flat[1], flat[2], "impression", flat[3], flat[4], rng.uniform(0.01, 0.5, 3 * n_requests), "bench")
    clicked = rng.random(3 * n_requests) < 0.1
    click_ts = flat[0][clicked] + rng.integers(0, 120, clicked.sum()) * SECOND_US
    add(click_ts, flat[1][clicked], flat[2][clicked], "click", flat[3][clicked], flat[4][clicked])
    bought = rng.random(clicked.sum()) < 0.2
    add(click_ts[bought] + 60 * SECOND_US, flat[1][clicked][bought], flat[2][clicked][bought], "purchase",
        flat[3][clicked][bought], flat[4][clicked][bought])
    n_organic = max(n_events - sum(len(c) for c in columns["ts"]), 0)
    organic_users = np.char.add("u", rng.integers(0, n_users, n_organic).astype(str))
    organic_ts = START_US + (rng.integers(0, n_days, n_organic) * 86_400 + rng.integers(0, 85_800, n_organic)) * SECOND_US
    organic_types = rng.choice(np.array(FEEDBACK, dtype=object), n_organic, p=[0.8, 0.15, 0.05])
    organic_items = rng.choice(n_items, n_organic, p=popularity)
    for event_type in FEEDBACK:
        mask = organic_types == event_type
        add(organic_ts[mask], organic_users[mask], organic_items[mask], event_type)

    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    table = pa.table(
        {
            "ts": pa.array(arrays["ts"].astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            **{name: pa.array(arrays[name], EVENT_SCHEMA.field(name).type) for name in EVENT_SCHEMA.names[1:]},
        }
    ).append_column("ingest_batch_id", pa.array(["bench"] * len(arrays["ts"]), pa.string()))
    dates = pc.strftime(table.column("ts"), format="%Y-%m-%d")
    for date in pc.unique(dates).to_pylist():
        folder = DataLayout(root).events / f"date={date}" / "shard=00"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pc.equal(dates, date)), folder / "part-bench.parquet")
    return len(table)


def pandas_transitions(layout: DataLayout, config: StatesConfig) -> pa.Table:
    """The same transitions as sql/states/*.sql, written the way a pandas user would (groupby, merge_asof)."""
    import pandas as pd

    EPOCH = pd.Timestamp(0, tz="UTC")  # noqa: N806 (a constant, local because pandas is imported lazily)

    files = sorted(layout.events.rglob("*.parquet"))
    ev = pa.concat_tables([pq.read_table(f, columns=EVENT_SCHEMA.names) for f in files]).to_pandas()
    ev = ev.drop_duplicates().reset_index(drop=True)
    ev["date"] = ev["ts"].dt.date

    def event_flags(rows, keys):
        """One row per ``keys`` with 0/1 columns click, cart, purchase (any such event in the group)."""
        flags = rows[keys].copy()
        for event_type in FEEDBACK:
            flags[event_type] = (rows["event_type"] == event_type).astype("int8")
        return flags.groupby(keys, dropna=False, sort=False).max().reset_index()

    # Sessions by inactivity gap where the log has none.
    needs = ev["session_id"].isna()
    sub = ev.loc[needs, ["user_id", "ts"]].sort_values(["user_id", "ts"])
    gap = sub.groupby("user_id")["ts"].diff()
    start = sub["ts"].where(gap.isna() | (gap > pd.Timedelta(minutes=config.session_gap_minutes)))
    start = start.groupby(sub["user_id"]).ffill()
    ev.loc[sub.index, "session_id"] = "gap:" + sub["user_id"] + ":" + start.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    dates = sorted(ev["date"].unique(), reverse=True)
    split_of = {
        d: "test" if i < config.test_days else "valid" if i < config.test_days + config.valid_days else "train"
        for i, d in enumerate(dates)
    }
    ev["split"] = ev["date"].map(split_of)

    train = ev[ev["split"] == "train"]
    counts = train.groupby("item_id").agg(count=("ts", "size"), first_seen_date=("date", "min")).reset_index()
    counts = counts[counts["count"] >= config.min_item_count].sort_values(["first_seen_date", "item_id"])
    index_of = dict(zip(counts["item_id"], range(2, 2 + len(counts)), strict=True))

    fb = ev[ev["event_type"].isin(FEEDBACK)].copy()
    fb["item_index"] = fb["item_id"].map(index_of).fillna(1).astype("int64")
    fb["type_code"] = fb["event_type"].map(HISTORY_TYPE_CODE)
    order = ["user_id", "ts", "event_type", "item_id", "request_id", "position", "session_id", "propensity",
             "policy_id"]
    fb = fb.sort_values(order, na_position="last").reset_index(drop=True)
    by_user = fb.groupby("user_id")
    n = config.history_len
    item_lags = np.stack([by_user["item_index"].shift(k).to_numpy(dtype=float) for k in range(n - 1, -1, -1)], 1)
    type_lags = np.stack([by_user["type_code"].shift(k).to_numpy(dtype=float) for k in range(n - 1, -1, -1)], 1)
    fb["items"] = [[int(x) for x in row if x == x] for row in item_lags]
    fb["types"] = [[int(x) for x in row if x == x] for row in type_lags]
    hist = fb.drop_duplicates(["user_id", "ts"], keep="last")[["user_id", "ts", "items", "types"]]
    hist = hist.sort_values("ts")

    weights = {"click": config.reward_click, "cart": config.reward_cart, "purchase": config.reward_purchase}
    requested = ev["request_id"].notna()
    imp = ev[requested & (ev["event_type"] == "impression")]
    imp = imp.sort_values(["ts", "user_id", "session_id", "propensity", "policy_id"])
    imp = imp.drop_duplicates(["request_id", "position", "item_id"])
    flags = event_flags(ev[requested & ev["event_type"].isin(FEEDBACK)], ["request_id", "item_id", "position"])
    bandit = imp.merge(flags, on=["request_id", "item_id", "position"], how="left")
    bandit[list(FEEDBACK)] = bandit[list(FEEDBACK)].fillna(0).astype("int8")
    bandit["reward"] = sum(weights[t] * bandit[t] for t in FEEDBACK)
    requests = imp.groupby("request_id").agg(user_id=("user_id", "first"), session_id=("session_id", "first"),
                                             request_ts=("ts", "min"))
    requests["end_ts"] = ev[requested].groupby("request_id")["ts"].max()
    requests = requests.reset_index().sort_values(["user_id", "session_id", "request_ts", "request_id"])
    requests["next_ts"] = requests.groupby(["user_id", "session_id"])["request_ts"].shift(-1)
    bandit = bandit.merge(requests[["request_id", "next_ts", "end_ts"]], on="request_id")
    bandit["done"] = bandit["next_ts"].isna()
    bandit["next_cut"] = bandit["next_ts"].fillna(bandit["end_ts"] + pd.Timedelta(microseconds=1))
    bandit["decision_id"] = ("bandit:" + bandit["request_id"] + ":" + bandit["position"].astype("Int64").astype(str) + ":"
                             + bandit["item_id"])
    bandit["kind"] = "bandit"

    organic = ev[~requested & ev["event_type"].isin(FEEDBACK)]
    steps = event_flags(organic, ["user_id", "session_id", "ts", "date", "item_id"])
    steps = steps.sort_values(["user_id", "session_id", "ts", "item_id"])
    steps["next_ts"] = steps.groupby(["user_id", "session_id"])["ts"].shift(-1)
    steps["done"] = steps["next_ts"].isna()
    steps["next_cut"] = steps["next_ts"].fillna(steps["ts"] + pd.Timedelta(microseconds=1))
    steps["reward"] = np.max(np.stack([weights[t] * steps[t] for t in FEEDBACK], 1), axis=1)
    steps["decision_id"] = ("sequence:" + steps["user_id"] + ":" + steps["session_id"] + ":"
                            + ((steps["ts"] - EPOCH) // pd.Timedelta(microseconds=1)).astype(str) + ":" + steps["item_id"])
    steps["kind"] = "sequence"
    for column in ("request_id", "position", "propensity", "policy_id"):
        steps[column] = None

    keep = ["decision_id", "kind", "request_id", "user_id", "session_id", "ts", "date", "item_id", "position",
            *FEEDBACK, "reward", "propensity", "policy_id", "done", "next_cut"]
    decisions = pd.concat([bandit[keep], steps[keep]], ignore_index=True)
    decisions["split"] = decisions["date"].map(split_of)
    decisions = pd.merge_asof(decisions.sort_values("ts"), hist, on="ts", by="user_id",
                              allow_exact_matches=False)
    decisions = pd.merge_asof(decisions.sort_values("next_cut"),
                              hist.rename(columns={"ts": "next_cut", "items": "next_items", "types": "next_types"}),
                              on="next_cut", by="user_id", allow_exact_matches=False)
    for column in ("items", "types", "next_items", "next_types"):
        decisions[column] = [v if isinstance(v, list) else [] for v in decisions[column]]
    decisions["action"] = decisions["item_id"].map(index_of).fillna(1).astype("int32")
    return pa.table({
        "decision_id": decisions["decision_id"], "kind": decisions["kind"], "request_id": decisions["request_id"],
        "user_id": decisions["user_id"], "session_id": decisions["session_id"], "ts": decisions["ts"],
        "date": decisions["date"], "split": decisions["split"],
        "history_items": pa.array(decisions["items"], pa.list_(pa.int32())),
        "history_types": pa.array(decisions["types"], pa.list_(pa.int8())),
        "action": decisions["action"], "action_item_id": decisions["item_id"],
        "position": pa.array(decisions["position"], pa.int16(), from_pandas=True),
        "click": decisions["click"], "cart": decisions["cart"], "purchase": decisions["purchase"],
        "reward": decisions["reward"].astype(float),
        "propensity": pa.array(decisions["propensity"], pa.float64(), from_pandas=True),
        "policy_id": decisions["policy_id"],
        "next_history_items": pa.array(decisions["next_items"], pa.list_(pa.int32())),
        "next_history_types": pa.array(decisions["next_types"], pa.list_(pa.int8())),
        "done": decisions["done"],
    })


def _peak_rss_mb() -> float:
    """Peak RSS of this process's own memory (VmHWM).

    Not ``getrusage``'s ru_maxrss: Linux carries it across exec, so a child started while the parent
    held the generated lake (about 9 GB at 10M events) reported the parent's peak, not its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("VmHWM not found in /proc/self/status (Linux only)")


def _child(engine: str, root: Path, threads: int, memory_limit: str) -> dict:
    layout = DataLayout(root)
    config = StatesConfig(threads=threads, memory_limit=memory_limit)
    start = time.perf_counter()
    if engine == "duckdb":
        from recrl.states import build_states

        rows = build_states(layout, config).total
        return {"wall_s": time.perf_counter() - start, "transitions": rows, "peak_rss_mb": _peak_rss_mb()}
    table = pandas_transitions(layout, config)
    out = root / "pandas_transitions"
    pq.write_to_dataset(table, out, partition_cols=["split", "date"])
    result = {"wall_s": time.perf_counter() - start, "transitions": len(table), "peak_rss_mb": _peak_rss_mb()}
    result["mismatched_columns"] = _compare(layout, table)
    return result


def _compare(layout: DataLayout, table: pa.Table) -> list[str]:
    """Columns where the pandas output differs from recrl's (both sorted by decision id)."""
    from recrl.states import TRANSITION_SCHEMA, load_transitions

    recrl = pa.concat_tables([load_transitions(layout, s) for s in ("train", "valid", "test")])
    recrl = recrl.sort_by("decision_id")
    ours = table.select(TRANSITION_SCHEMA.names).cast(TRANSITION_SCHEMA).sort_by("decision_id")
    return [name for name in TRANSITION_SCHEMA.names if not recrl.column(name).equals(ours.column(name))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default=StatesConfig.memory_limit, help="DuckDB's cap (it spills beyond)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the generated lake goes (temp dir)")
    parser.add_argument("--child", choices=("duckdb", "pandas"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.workdir, args.threads, args.memory_limit)))
        return
    root = Path(tempfile.mkdtemp(dir=args.workdir, prefix="bench-states-"))
    try:
        start = time.perf_counter()
        n_events = generate_lake(root, args.events)
        generate_s = time.perf_counter() - start
        runs = {}
        for engine in ("duckdb", "pandas"):
            command = [sys.executable, __file__, "--child", engine, "--workdir", str(root), "--threads",
                       str(args.threads), "--memory-limit", args.memory_limit]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[engine] = json.loads(done.stdout.strip().splitlines()[-1])
            runs[engine]["events_per_s"] = n_events / runs[engine]["wall_s"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "states",
        "events": n_events,
        "threads": args.threads,
        "duckdb_memory_limit": args.memory_limit,
        "generate_s": generate_s,
        "recrl_duckdb": runs["duckdb"],
        "pandas": runs["pandas"],
        "outputs_equal": runs["pandas"]["mismatched_columns"] == [],
        "speedup_vs_pandas": runs["pandas"]["wall_s"] / runs["duckdb"]["wall_s"],
        "rss_ratio_vs_pandas": runs["duckdb"]["peak_rss_mb"] / runs["pandas"]["peak_rss_mb"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
