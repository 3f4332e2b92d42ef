"""Serve one more simulated day with any recrl ``Policy``: the closed loop's data source.

``write_logs`` writes the history days with the built-in logging policy and saves the simulator's
hidden state; ``serve_day`` continues from that state for one day, each slate a Plackett-Luce draw
from the served policy's probabilities ``softmax_probs(scores / T)`` over the vocabulary (at T = ``GREEDY``
the top-K items by score), a uniform slate ``SERVING_EPSILON`` of the time, and logs

* the impression's propensity: the policy's exact position marginal pi(a | x, k) at the shown slot
  (``recrl.policies.slate_marginals`` with its uniform share), the very quantity the evaluation
  computes for that policy at that decision, and its ``policy_id``;
* the truth of the day appended to ``decisions.parquet`` (``logging_value`` is then the *served*
  policy's expected reward at each slot) and ``requests.parquet``.

The policy sees what the states stage would give it for that request: the user's last
``history_len`` clicks and purchases before the request, across sessions and days (read back from the
raw logs at the start of the day, then extended as the day's feedback arrives), items mapped through
the vocabulary (``vocab_index``; items outside it are the unknown index 1 and are never served).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recrl.config import SimConfig
from recrl.lake import write_atomic
from recrl.policies import (
    GREEDY,
    PAD_INDEX,
    SERVING_EPSILON,
    UNKNOWN_INDEX,
    Policy,
    StateBatch,
    explore,
    slate_marginals,
    softmax_probs,
)
from recrl.schema import HISTORY_TYPE_CODE
from recrl.simulate.logging_policy import LoggingPolicy
from recrl.simulate.logs import SimState, write_day
from recrl.simulate.world import World, build_world

SCORE_CHUNK = 1024
"""Requests scored at once (the third slot's marginal holds a (chunk, V, V) array)."""
FEEDBACK_TYPES = ("click", "cart", "purchase")


class PolicyServer:
    """A recrl ``Policy`` as the simulator's ``SlateServer``, with each user's observable history."""

    exploration = SERVING_EPSILON
    """Share of uniform slates (``recrl.policies.explore``): served as the evaluation scores the policy."""

    def __init__(
        self,
        policy: Policy,
        policy_id: str,
        world: World,
        vocab_index: np.ndarray,
        vocab_size: int,
        history_len: int,
        histories: dict[str, list[tuple[int, int]]],
    ) -> None:
        """``vocab_index`` (n_items,): each simulator item's vocabulary index (1 = unknown);
        ``histories``: user id -> (vocabulary index, type code) of their feedback so far, oldest first."""
        self.policy, self.policy_id, self.world = policy, policy_id, world
        self.vocab_index = np.asarray(vocab_index, dtype=np.int64)
        if self.vocab_index.shape != (world.n_items,):
            raise ValueError(f"vocab_index must be ({world.n_items},), got {self.vocab_index.shape}")
        self.vocab_size, self.history_len = vocab_size, history_len
        self.served = self.vocab_index > UNKNOWN_INDEX  # (n_items,) items the policy can show
        self._history = [
            deque(histories.get(user_id, [])[-history_len:], maxlen=history_len) for user_id in world.user_ids
        ]

    @property
    def greedy(self) -> bool:
        """Serving the greedy slate (temperature ``GREEDY``): ``recrl.simulate.logs`` shows each slot's
        likeliest item instead of a Plackett-Luce draw from ``serve``'s probabilities."""
        return self.policy.temperature == GREEDY

    def states(self, users: np.ndarray) -> StateBatch:
        """(B, N) left-padded history of each user, as ``recrl.states.export`` builds it."""
        items = np.full((len(users), self.history_len), PAD_INDEX, dtype=np.int64)
        types = np.zeros((len(users), self.history_len), dtype=np.int64)
        for row, user in enumerate(users):
            events = self._history[user]
            if events:
                items[row, -len(events) :], types[row, -len(events) :] = zip(*events, strict=True)
        return StateBatch(items, types, np.asarray(self.world.user_ids, dtype=object)[users])

    def serve(self, users: np.ndarray, last_category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``SlateServer.serve``: (B, n_items) probabilities and (B, n_items, K) position marginals."""
        slate_size = self.world.config.slate_size
        probs = np.zeros((len(users), self.world.n_items))
        marginals = np.zeros((len(users), self.world.n_items, slate_size))
        columns = self.vocab_index[self.served]
        for start in range(0, len(users), SCORE_CHUNK):
            rows = slice(start, start + SCORE_CHUNK)
            scores = self.policy.item_scores(self.states(users[rows]))  # (b, V)
            if scores.shape[1] != self.vocab_size:
                raise ValueError(
                    f"policy scores {scores.shape[1]} items, the vocabulary has {self.vocab_size}"
                )
            at_slots = slate_marginals(scores, self.policy.temperature, slate_size)  # (b, V, K), reserved at 0
            marginals[rows][:, self.served] = at_slots[:, columns]
            probs[rows][:, self.served] = (at_slots[:, columns, 0] if self.greedy  # the slate's first slot
                                           else softmax_probs(scores, self.policy.temperature)[:, columns])
        # A uniform slate over the served items ``exploration`` of the time (``recrl.simulate.logs`` draws it).
        marginals[:, self.served] = explore(marginals[:, self.served], int(self.served.sum()))
        return probs, marginals

    def observe(
        self,
        users: np.ndarray,
        slates: np.ndarray,
        clicks: np.ndarray,
        purchases: np.ndarray,
        click_ts: np.ndarray,
        purchase_ts: np.ndarray,
    ) -> None:
        """``SlateServer.observe``: append each user's clicks and purchases in time order (ties: type)."""
        rows, slots = np.nonzero(clicks | purchases)
        events = [
            (click_ts[r, k], HISTORY_TYPE_CODE["click"], r, k)
            for r, k in zip(rows, slots, strict=True)
            if clicks[r, k]
        ]
        events += [
            (purchase_ts[r, k], HISTORY_TYPE_CODE["purchase"], r, k)
            for r, k in zip(rows, slots, strict=True)
            if purchases[r, k]
        ]
        for _, code, r, k in sorted(events):
            self._history[users[r]].append((int(self.vocab_index[slates[r, k]]), code))


def feedback_histories(
    raw_dir: Path, vocab_index: dict[str, int], history_len: int
) -> dict[str, list[tuple[int, int]]]:
    """user id -> last ``history_len`` (vocabulary index, type code) of their feedback in the logs of
    ``raw_dir``, ordered as ``sql/states/history.sql`` orders them (ts, event type, item id)."""
    files = sorted(Path(raw_dir).glob("events-*.csv"))
    if not files:
        return {}
    feedback = (
        pl.scan_csv(files, schema_overrides={"user_id": pl.String, "item_id": pl.String})
        .filter(pl.col("event_type").is_in(FEEDBACK_TYPES))
        .select("user_id", "ts", "event_type", "item_id")
        .sort(
            "user_id", "ts", "event_type", "item_id"
        )  # one ts format in every file: text order is time order
        .group_by("user_id", maintain_order=True)
        .tail(history_len)
        .collect()
    )
    histories: dict[str, list[tuple[int, int]]] = {}
    for user_id, event_type, item_id in feedback.select("user_id", "event_type", "item_id").iter_rows():
        histories.setdefault(user_id, []).append(
            (vocab_index.get(item_id, UNKNOWN_INDEX), HISTORY_TYPE_CODE[event_type])
        )
    return histories


@dataclass(frozen=True)
class ServedPolicy:
    """A recrl ``Policy`` to serve, with what maps the simulator onto its inputs."""

    policy: Policy
    policy_id: str
    """Logged with every impression it serves (e.g. ``run_id/policy``)."""
    item_vocab: dict[str, int]
    """item id -> index of the policy's vocabulary (the states it was trained on); missing = unknown."""
    vocab_size: int
    history_len: int
    """N of the states it was trained on."""


def serve_day(
    config: SimConfig,
    raw_dir: Path,
    truth_dir: Path,
    served: ServedPolicy | None = None,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
) -> Path:
    """Simulate the next day served by ``served`` (None: the built-in logging policy, every item on
    offer); returns that day's event file (module docstring).

    Writes ``raw_dir/events-<day>.csv``, appends the day to ``truth_dir/decisions.parquet`` and
    ``requests.parquet`` and saves the simulator state for the day after.
    """
    world = build_world(config)
    state = SimState.load(truth_dir)
    if served is None:
        server = LoggingPolicy(world)
    else:
        vocab_index = np.array([served.item_vocab.get(item_id, UNKNOWN_INDEX) for item_id in world.item_ids])
        server = PolicyServer(
            served.policy,
            served.policy_id,
            world,
            vocab_index,
            served.vocab_size,
            served.history_len,
            feedback_histories(raw_dir, served.item_vocab, served.history_len),
        )
    written = write_day(world, server, state, Path(raw_dir), reward_click, reward_purchase)
    if written is None:
        raise ValueError(f"the simulated day {state.next_day} has no request (daily_active_rate too low?)")
    path, decisions, requests = written
    for name, frame in (("decisions.parquet", decisions), ("requests.parquet", requests)):
        table = pl.concat([pl.read_parquet(Path(truth_dir) / name), frame])
        write_atomic(Path(truth_dir) / name, table.write_parquet)
    state.save(Path(truth_dir))
    return path
