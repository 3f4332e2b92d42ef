"""Lake events -> item vocabulary and transitions, in DuckDB SQL (``sql/states/*.sql``).

The statements run in this order on one in-memory connection, each building a temp table the next
ones read (every file's header says what it builds and from what):

    unordered (a setting) -> events -> sessions, sessioned_events (a view) -> split_dates -> vocab (+ catalogue)
           -> users -> history (fetched) -> bandit_decisions, sequence_decisions (views)
           -> transitions (streamed) -> write_vocab

States are not carried as lists through the SQL: ``history`` fetches every user's feedback as four
numpy columns, each transition row carries its user and the times its states are cut at, and
``recrl.states.history`` / ``recrl.states.write`` find each state's slice by binary search, gather
the Arrow lists and write the split=/date= Parquet partitions with polars, one batch at a time.

Outputs are written beside the old ones and swapped in only after every statement succeeded, so a
failed build leaves last night's states untouched. Rebuilding the same night with the same lake and
settings writes the same tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from recrl.config import StatesConfig
from recrl.lake import DataLayout
from recrl.sql import connect, parquet_glob, run_sql, stream_sql
from recrl.stages import StageSummary
from recrl.states.export import KINDS, SPLITS, TRANSITIONS_DIR
from recrl.states.history import FeedbackHistory
from recrl.states.vocab import VOCAB_FILE, read_catalogue_ids, read_vocab_table, vocab_path
from recrl.states.write import write_transitions


@dataclass(frozen=True)
class StatesSummary(StageSummary):
    """What one build wrote (the ``states`` stage's summary; ``seconds`` is set by ``recrl.states.run_stage``).

    counts: transitions per split and kind, ``counts[split][kind]`` (every split and kind present, 0 if none).
    dates: the dates of each split, oldest first.
    vocab_size: V, indices including the reserved 0 and 1.
    new_items: items appended to the vocabulary by this build.
    """

    counts: dict[str, dict[str, int]]
    dates: dict[str, tuple[date, ...]]
    vocab_size: int
    new_items: int
    stage = "states"

    @property
    def split_totals(self) -> dict[str, int]:
        """Transitions per split, every kind together (``runs.n_train`` / ``n_valid`` / ``n_test``)."""
        return {split: sum(per_kind.values()) for split, per_kind in self.counts.items()}

    @property
    def total(self) -> int:
        return sum(sum(per_kind.values()) for per_kind in self.counts.values())

    def format(self) -> str:
        """Plain-text table for the command line."""
        lines = [f"{'split':<6} {'bandit':>10} {'sequence':>10}  dates"]
        for split in SPLITS:
            dates = self.dates.get(split, ())
            span = f"{dates[0]} .. {dates[-1]} ({len(dates)})" if dates else "-"
            lines.append(
                f"{split:<6} {self.counts[split]['bandit']:>10} {self.counts[split]['sequence']:>10}  {span}"
            )
        lines.append(f"vocabulary: {self.vocab_size} indices ({self.new_items} new items this build)")
        return "\n".join(lines)


def _replace(new: Path, final: Path) -> None:
    """Move ``new`` onto ``final`` (a file or a directory), removing what was there."""
    if final.is_dir():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old)
    else:
        os.replace(new, final)


def _build_tables(con: duckdb.DuckDBPyConnection, layout: DataLayout, config: StatesConfig) -> None:
    run_sql(con, "states/unordered")
    run_sql(con, "states/events", events_glob=parquet_glob(layout.events, "lake events"))
    run_sql(con, "states/sessions", gap_minutes=config.session_gap_minutes)
    run_sql(con, "states/sessioned_events")
    run_sql(con, "states/split_dates", test_days=config.test_days, valid_days=config.valid_days)
    n_dates = sum(len(days) for _split, days in run_sql(con, "states/split_summary").fetchall())
    if n_dates <= config.test_days + config.valid_days:
        raise ValueError(
            f"the lake holds {n_dates} date(s): too few for test_days={config.test_days} + "
            f"valid_days={config.valid_days} and at least one train date"
        )
    con.register("previous_vocab", read_vocab_table(vocab_path(layout)))
    con.register("catalogue", read_catalogue_ids(layout))
    run_sql(con, "states/vocab", min_item_count=config.min_item_count)
    run_sql(con, "states/users")
    run_sql(con, "states/bandit_decisions")
    run_sql(con, "states/sequence_decisions")


def build_states(layout: DataLayout, config: StatesConfig) -> StatesSummary:
    """Build the vocabulary and the transitions of every split from the lake under ``layout``.

    Reads ``layout.events``; writes ``layout.states/item_vocab.parquet`` and
    ``layout.states/transitions/split=*/date=*/*.parquet`` (see docs/states.md).
    """
    layout.states.mkdir(parents=True, exist_ok=True)
    work = layout.states / f".build-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        con = connect(memory_limit=config.memory_limit, threads=config.threads, temp_directory=work / "spill")
        try:
            _build_tables(con, layout, config)
            dates = {split: tuple(days) for split, days in run_sql(con, "states/split_summary").fetchall()}
            vocab_size, new_items = run_sql(con, "states/vocab_summary").fetchone()
            new_transitions = work / TRANSITIONS_DIR
            new_vocab = work / VOCAB_FILE
            feedback = run_sql(con, "states/history").fetchnumpy()
            history = FeedbackHistory.from_events(
                feedback["user_key"], feedback["ts_us"], feedback["item_index"], feedback["type_code"]
            )
            transitions = stream_sql(
                con,
                "states/transitions",
                reward_click=config.reward_click,
                reward_cart=config.reward_cart,
                reward_purchase=config.reward_purchase,
            )
            written = write_transitions(
                transitions,
                history,
                config.history_len,
                new_transitions,
                threads=config.threads or os.cpu_count() or 1,
            )
            if not new_transitions.is_dir():
                raise ValueError(
                    f"the lake at {layout.events} holds no decisions (no impressions, no feedback)"
                )
            counts = {split: dict.fromkeys(KINDS, 0) for split in SPLITS}
            for (split, kind), n in written.items():
                counts[split][kind] = n
            run_sql(con, "states/write_vocab", out_path=str(new_vocab))
        finally:
            con.close()
        _replace(new_transitions, layout.states / TRANSITIONS_DIR)
        _replace(new_vocab, vocab_path(layout))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return StatesSummary(counts=counts, dates=dates, vocab_size=int(vocab_size), new_items=int(new_items))
