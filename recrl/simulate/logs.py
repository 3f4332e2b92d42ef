"""Write the simulator's logs (canonical CSV, one file per day) and its hidden ground truth.

Each day every user is active with probability ``daily_active_rate`` and then has one session at a
random time of day. Sessions of a day run in lockstep (one request per live session per step), which
keeps the per-request work vectorised; sessions are independent, so this is the same distribution as
running them one by one. Per request the logging policy draws a slate, users respond through
``recrl.simulate.dynamics``, and the writer records:

* ``raw_dir/events-YYYY-MM-DD.csv``: impressions (with the exact Plackett-Luce propensity), and the
  clicks and purchases they earned under the same request_id, item_id and position;
* ``raw_dir/items.csv``: item_id, title, category (``cold_start_items`` new items included, though they
  are shown on the last day only);
* ``truth_dir/decisions.parquet``: per (request, position) the exact expected reward of the logging
  policy at that slot, sum_a beta(a | x, k) R(x, a, k), and the oracle's R(x, a*_k, k);
* ``truth_dir/requests.parquet``: per request the hidden short-term interest h (``h_0..h_{d-1}``),
  from which ``Simulator.expected_rewards`` recomputes R for any policy;
* ``truth_dir/sim_state.*``: the hidden state at the end of the last day (interests, last clicked
  categories, id counters, the random generator), from which ``recrl.simulate.serve.serve_day``
  simulates the next day with any served policy.

A day's slates come from a ``SlateServer``: the logging policy here, any recrl ``Policy`` in
``recrl.simulate.serve``; the logged propensity and ``policy_id`` are the server's own.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from recrl.config import SimConfig
from recrl.lake import write_atomic
from recrl.schema import CANONICAL_COLUMNS, EVENT_TYPES
from recrl.simulate import dynamics
from recrl.simulate.logging_policy import LOGGING_POLICY_ID, NO_CATEGORY, LoggingPolicy, sample_slates
from recrl.simulate.world import World, build_world

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
SESSION_START_WINDOW_S = 20 * 3600
"""Sessions start in the first 20 hours of their day."""
DAY_END_MARGIN_S = 60
"""A session whose next request would come later than this before midnight ends, so every event of
a day (feedback comes at most ~35 s after its request) lands in that day's file."""
REQUEST_GAP_S = (20.0, 120.0)
CLICK_DELAY_S = (1.0, 5.0)
"""Delay of each click after the previous one (clicks happen in position order)."""
PURCHASE_DELAY_S = (5.0, 15.0)
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"
REQUEST_ID_WIDTH = 9
SESSION_ID_WIDTH = 8
EVENT_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}


@dataclass
class _Records:
    """Columns collected over one day, as lists of numpy chunks (one per lockstep step)."""

    events: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {
            k: [] for k in ("ts", "user", "session", "item", "type", "position", "request", "propensity")
        }
    )
    requests: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in ("request", "user", "ts", "h")}
    )
    decisions: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {
            k: [] for k in ("request", "user", "position", "logging_value", "oracle_value")
        }
    )

    def add_events(self, mask: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Append the rows of (B, K) ``columns`` where ``mask`` (B, K) holds."""
        for name, values in columns.items():
            self.events[name].append(np.broadcast_to(values, mask.shape)[mask])


class SlateServer(Protocol):
    """What serves a day's slates: its item probabilities, the exact position marginals of its slates,
    and (for history-based policies) the feedback of each step, in the order it happened. A server
    with an ``exploration`` share e > 0 (``recrl.simulate.serve.PolicyServer``) serves a uniform slate
    over its items of nonzero probability e of the time and a Plackett-Luce slate of its probabilities
    otherwise (a ``greedy`` server: each slot's likeliest item); its marginals include that share.
    Without one, every slate is Plackett-Luce."""

    policy_id: str

    def serve(self, users: np.ndarray, last_category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((B, n_items) probabilities, (B, n_items, K) position marginals) for users (B,)."""
        ...

    def observe(self, users: np.ndarray, slates: np.ndarray, clicks: np.ndarray, purchases: np.ndarray,
                click_ts: np.ndarray, purchase_ts: np.ndarray) -> None:
        """The feedback of one step: (B, K) slates, click / purchase masks and their timestamps."""
        ...


def _day_start_us(start_date: str) -> int:
    day = dt.date.fromisoformat(start_date)  # SimConfig.start_date is checked to be an ISO date
    epoch = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    return int(epoch) * SECOND_US


def _simulate_day(
    world: World,
    policy: SlateServer,
    rng: np.random.Generator,
    day_start_us: int,
    state: dict[str, np.ndarray],
    counters: dict[str, int],
    reward_click: float,
    reward_purchase: float,
) -> _Records:
    """Run every session of one day; ``state`` (h, last_category per user) and ``counters`` carry over."""
    cfg = world.config
    bias = np.asarray(cfg.position_bias, dtype=np.float64)  # (K,)
    positions = np.arange(cfg.slate_size)[None, :]  # (1, K)
    records = _Records()

    users = np.flatnonzero(rng.random(world.n_users) < cfg.daily_active_rate)  # (S,)
    state["interest"][users] *= cfg.session_carryover  # short-term interest fades between sessions
    sessions = counters["session"] + np.arange(len(users))
    counters["session"] += len(users)
    next_ts = day_start_us + (rng.random(len(users)) * SESSION_START_WINDOW_S * SECOND_US).astype(np.int64)
    alive = np.ones(len(users), dtype=bool)

    while alive.any():
        u, session, ts = users[alive], sessions[alive], next_ts[alive]  # (B,)
        n = len(u)
        rows = np.arange(n)[:, None]
        request = counters["request"] + np.arange(n)
        counters["request"] += n
        context = state["last_category"][u]
        interest = state["interest"][u]  # (B, d) h at request time, before the slate's clicks

        probs, marginals = policy.serve(u, context)  # (B, n_items), (B, n_items, K)
        if getattr(policy, "greedy", False):  # the greedy slate: each slot's likeliest item, a distinct one
            slates = marginals.argmax(axis=1)  # (B, K)
        else:
            slates = sample_slates(rng, probs, cfg.slate_size)  # (B, K)
        exploration = getattr(policy, "exploration", 0.0)
        if exploration > 0:  # a uniform slate over the served items for that share of requests
            uniform = np.flatnonzero(rng.random(n) < exploration)
            support = marginals[uniform].sum(axis=2) > 0  # (b, n_items) the items it can show
            slates[uniform] = sample_slates(rng, support.astype(np.float64), cfg.slate_size)
        propensity = marginals[rows, slates, positions]  # (B, K)
        q = dynamics.slot_value(world, u, interest, reward_click, reward_purchase)  # (B, n_items)
        logging_value = bias[None, :] * np.einsum("bak,ba->bk", marginals, q)  # (B, K)
        oracle_value = bias[None, :] * np.take_along_axis(
            q, dynamics.oracle_slates(q, cfg.slate_size), axis=1
        )

        clicks, purchases = dynamics.respond(world, rng, u, interest, slates)  # (B, K)
        click_ts = ts[:, None] + (
            np.cumsum(rng.uniform(*CLICK_DELAY_S, size=slates.shape), axis=1) * SECOND_US
        ).astype(np.int64)
        purchase_ts = click_ts + (rng.uniform(*PURCHASE_DELAY_S, size=slates.shape) * SECOND_US).astype(
            np.int64
        )

        common = {
            "user": u[:, None],
            "session": session[:, None],
            "item": slates,
            "position": positions,
            "request": request[:, None],
        }
        shown = np.ones(slates.shape, dtype=bool)
        records.add_events(
            shown, {**common, "ts": ts[:, None], "type": EVENT_CODE["impression"], "propensity": propensity}
        )
        records.add_events(
            clicks, {**common, "ts": click_ts, "type": EVENT_CODE["click"], "propensity": np.nan}
        )
        records.add_events(
            purchases, {**common, "ts": purchase_ts, "type": EVENT_CODE["purchase"], "propensity": np.nan}
        )
        records.requests["request"].append(request)
        records.requests["user"].append(u)
        records.requests["ts"].append(ts)
        records.requests["h"].append(interest)
        for name, values in (
            ("request", request[:, None]),
            ("user", u[:, None]),
            ("position", positions),
            ("logging_value", logging_value),
            ("oracle_value", oracle_value),
        ):
            records.decisions[name].append(np.broadcast_to(values, slates.shape).ravel())

        policy.observe(u, slates, clicks, purchases, click_ts, purchase_ts)
        state["interest"][u] = dynamics.update_interest(world, interest, slates, clicks)
        for k in range(cfg.slate_size):  # the newest click (highest clicked position) sets the category
            clicked = clicks[:, k]
            state["last_category"][u[clicked]] = world.item_category[slates[clicked, k]]

        last_click = click_ts.max(axis=1, where=clicks, initial=0)
        last_event = np.maximum(
            ts, np.maximum(last_click, purchase_ts.max(axis=1, where=purchases, initial=0))
        )
        gap = (rng.uniform(*REQUEST_GAP_S, size=n) * SECOND_US).astype(np.int64)
        next_ts[alive] = np.maximum(ts + gap, last_event + SECOND_US)
        keep = rng.random(n) < dynamics.continue_probability(world, clicks.any(axis=1))
        keep &= next_ts[alive] < day_start_us + DAY_US - DAY_END_MARGIN_S * SECOND_US
        alive[np.flatnonzero(alive)[~keep]] = False
    return records


def _id_expr(column: str, prefix: str, width: int) -> pl.Expr:
    """``prefix`` + zero-padded integer ``column``: sortable, deterministic ids."""
    return pl.concat_str([pl.lit(prefix), pl.col(column).cast(pl.String).str.zfill(width)])


def _events_frame(world: World, records: _Records, policy_id: str = LOGGING_POLICY_ID) -> pl.DataFrame:
    """Canonical events of one day in ``CANONICAL_COLUMNS`` order, by time (ties: request, type, position)."""
    cols = {name: np.concatenate(chunks) for name, chunks in records.events.items()}
    order = np.lexsort((cols["position"], cols["type"], cols["request"], cols["ts"]))
    cols = {name: values[order] for name, values in cols.items()}
    is_impression = cols["type"] == EVENT_CODE["impression"]
    frame = pl.DataFrame(
        {
            "ts": cols["ts"],
            "user_id": np.asarray(world.user_ids, dtype=object)[cols["user"]],
            "session": cols["session"],
            "item_id": np.asarray(world.item_ids, dtype=object)[cols["item"]],
            "event_type": np.asarray(EVENT_TYPES, dtype=object)[cols["type"]],
            "position": pl.Series(cols["position"], dtype=pl.Int16),
            "request": cols["request"],
            "propensity": pl.Series(cols["propensity"]).fill_nan(None),
            "is_impression": is_impression,
        },
        schema_overrides={"user_id": pl.String, "item_id": pl.String, "event_type": pl.String},
    )
    return frame.select(
        pl.from_epoch("ts", time_unit="us").dt.strftime(TS_FORMAT).alias("ts"),
        "user_id",
        _id_expr("session", "s", SESSION_ID_WIDTH).alias("session_id"),
        "item_id",
        "event_type",
        "position",
        _id_expr("request", "r", REQUEST_ID_WIDTH).alias("request_id"),
        "propensity",
        pl.when("is_impression").then(pl.lit(policy_id)).alias("policy_id"),
    ).select(CANONICAL_COLUMNS)


def _truth_frames(world: World, records: _Records) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(decisions, requests) ground-truth frames of one day; see the module docstring."""
    user_ids = np.asarray(world.user_ids, dtype=object)
    dec = {name: np.concatenate(chunks) for name, chunks in records.decisions.items()}
    decisions = pl.DataFrame(
        {
            "request": dec["request"],
            "user_id": pl.Series(user_ids[dec["user"]], dtype=pl.String),
            "position": pl.Series(dec["position"], dtype=pl.Int16),
            "logging_value": dec["logging_value"].astype(np.float64),
            "oracle_value": dec["oracle_value"].astype(np.float64),
        }
    ).select(
        _id_expr("request", "r", REQUEST_ID_WIDTH).alias("request_id"),
        "user_id",
        "position",
        "logging_value",
        "oracle_value",
    )
    req = {name: np.concatenate(chunks) for name, chunks in records.requests.items()}
    interest = req["h"]  # (R, d)
    requests = pl.DataFrame(
        {
            "request": req["request"],
            "user_id": pl.Series(user_ids[req["user"]], dtype=pl.String),
            "ts": pl.Series(req["ts"]).cast(pl.Datetime("us", "UTC")),
            **{f"h_{j}": interest[:, j].astype(np.float64) for j in range(interest.shape[1])},
        }
    ).select(_id_expr("request", "r", REQUEST_ID_WIDTH).alias("request_id"), pl.exclude("request"))
    return decisions, requests


def _checked_dir(path: Path, argument: str) -> Path:
    """Create ``path`` if missing; refuse an existing non-directory so nothing is overwritten."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{argument} is not a directory: {path}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def day_path(raw_dir: Path, day_start_us: int) -> Path:
    """``raw_dir/events-YYYY-MM-DD.csv`` of the day starting at ``day_start_us``."""
    return raw_dir / f"events-{dt.datetime.fromtimestamp(day_start_us // SECOND_US, dt.UTC):%Y-%m-%d}.csv"


SIM_STATE_TENSORS = "sim_state.safetensors"
SIM_STATE_META = "sim_state.json"


@dataclass
class SimState:
    """The simulator's hidden state between days: what ``serve_day`` continues from."""

    interest: np.ndarray
    """(n_users, d) short-term interest h of every user."""
    last_category: np.ndarray
    """(n_users,) category of each user's last clicked item, -1 = none."""
    counters: dict[str, int]
    """Next session and request numbers (ids stay unique across days)."""
    rng: np.random.Generator
    next_day: int
    """Index (from ``start_date``) of the next day to simulate."""

    def save(self, truth_dir: Path) -> None:
        """Arrays as safetensors, counters and the generator's state as JSON (never pickle)."""
        from safetensors.numpy import save_file

        tensors = {"interest": np.ascontiguousarray(self.interest),
                   "last_category": np.ascontiguousarray(self.last_category)}
        write_atomic(truth_dir / SIM_STATE_TENSORS, lambda path: save_file(tensors, str(path)))
        meta = {"counters": self.counters, "next_day": self.next_day, "rng": self.rng.bit_generator.state}
        write_atomic(truth_dir / SIM_STATE_META, lambda path: path.write_text(json.dumps(meta, indent=2)))

    @classmethod
    def load(cls, truth_dir: Path) -> SimState:
        from safetensors.numpy import load_file

        for name in (SIM_STATE_TENSORS, SIM_STATE_META):
            if not (Path(truth_dir) / name).is_file():
                raise FileNotFoundError(f"no simulator state to continue from (write_logs writes it): "
                                        f"{Path(truth_dir) / name}")
        tensors = load_file(str(Path(truth_dir) / SIM_STATE_TENSORS))
        meta = json.loads((Path(truth_dir) / SIM_STATE_META).read_text())
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
        return cls(tensors["interest"], tensors["last_category"], meta["counters"], rng, meta["next_day"])


def write_day(world: World, policy: SlateServer, state: SimState, raw_dir: Path, reward_click: float,
              reward_purchase: float) -> tuple[Path, pl.DataFrame, pl.DataFrame] | None:
    """Simulate day ``state.next_day`` served by ``policy`` and write its event file; returns (path,
    truth decisions, truth requests), or None for a day without a request. ``state`` moves on a day."""
    day_start = _day_start_us(world.config.start_date) + state.next_day * DAY_US
    arrays = {"interest": state.interest, "last_category": state.last_category}
    records = _simulate_day(world, policy, state.rng, day_start, arrays, state.counters, reward_click,
                            reward_purchase)
    state.next_day += 1
    if not records.requests["request"]:
        return None
    path = day_path(raw_dir, day_start)
    write_atomic(path, _events_frame(world, records, policy.policy_id).write_csv)
    return (path, *_truth_frames(world, records))


def write_logs(
    config: SimConfig,
    raw_dir: Path,
    truth_dir: Path,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
) -> list[Path]:
    """Simulate ``config.n_days`` days and write raw logs and ground truth; deterministic in the seed.

    Parameters
    ----------
    config : the world and the logging policy; the same config writes byte-identical files.
    raw_dir : receives ``events-YYYY-MM-DD.csv`` (canonical columns, ISO-8601 UTC ts) and ``items.csv``.
    truth_dir : receives ``decisions.parquet`` and ``requests.parquet``.
    reward_click, reward_purchase : weights of the expected reward R stored in ``decisions.parquet``.

    Returns
    -------
    The event files written, in date order (``items.csv`` and the truth files have fixed names).
    """
    if reward_click < 0 or reward_purchase < 0:
        raise ValueError(f"reward weights must be >= 0, got click={reward_click}, purchase={reward_purchase}")
    world = build_world(config)
    raw_dir = _checked_dir(raw_dir, "raw_dir")
    truth_dir = _checked_dir(truth_dir, "truth_dir")
    policy = LoggingPolicy(world)
    # Cold start: the newest items are on offer from the last day only (same policy, smaller support).
    old_items = np.arange(world.n_items) < world.n_items - config.cold_start_items
    early_policy = LoggingPolicy(world, old_items) if config.cold_start_items else policy
    state = SimState(
        interest=np.zeros((world.n_users, config.latent_dim)),  # (n_users, d) h
        last_category=np.full(world.n_users, NO_CATEGORY, dtype=np.int64),
        counters={"session": 0, "request": 0},
        rng=np.random.default_rng([config.seed, 1]),
        next_day=0,
    )
    written: list[Path] = []
    decision_parts, request_parts = [], []
    for day in range(config.n_days):
        today = policy if day == config.n_days - 1 else early_policy
        day_written = write_day(world, today, state, raw_dir, reward_click, reward_purchase)
        if day_written is None:
            continue
        path, decisions, requests = day_written
        written.append(path)
        decision_parts.append(decisions)
        request_parts.append(requests)

    items = world.items_table()
    items_frame = pl.DataFrame({name: items.column(name).to_pylist() for name in items.column_names})
    write_atomic(raw_dir / "items.csv", items_frame.write_csv)
    if decision_parts:
        write_atomic(truth_dir / "decisions.parquet", pl.concat(decision_parts).write_parquet)
        write_atomic(truth_dir / "requests.parquet", pl.concat(request_parts).write_parquet)
    state.save(truth_dir)
    return written
