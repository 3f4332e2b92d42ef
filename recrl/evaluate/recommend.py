"""Serve a run's policies outside the flow: each item's probability at each decision's slot.

``recommend`` scores states with the policy a run evaluated, at the temperature the evaluation chose
on the valid split (the warehouse ``policies`` table), through the same ``score_states`` and
``decision_probs`` the evaluation used, so a split's numbers are exactly the evaluation's.

States come from one of two places:

* a split of ``{data}/states`` (``valid`` or ``test``): the decisions the evaluation judged, the
  impressions (``kind = 'bandit'``) where the test days hold any, else the implicit steps; each
  decision is scored at its logged slot (``position``; -1 for an implicit step, served at slot 0);
* a histories file (Parquet, or CSV): one row per request with ``request_id``, ``history`` (item ids of
  the log, oldest first, most recent last; a list column or one space-separated string) and optional
  ``position`` (the slot to serve, default 0) and ``history_types`` (event types of the history as
  names, ``click`` / ``cart`` / ``purchase``, same length as ``history``; default: every event a
  ``click``). Items outside the run's vocabulary map to the unknown index; the state is the last
  ``history_len`` events (the run's ``StatesConfig``), left-padded, exactly as the states stage builds it.

Output is long: one row per (decision, item) with the log's item id (never a vocabulary index) and its
probability. All non-reserved items by default (each decision's probabilities sum to 1); ``top_k``
keeps the K likeliest per decision, probabilities unchanged (they then sum to less than 1).

The states folder is the data root's latest: recommending for an older run scores today's states
(and vocabulary, which only grows) with that run's models.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from recrl.agents.actor_critic import CHECKPOINT_FILE as ACTOR_CRITIC_FILE
from recrl.agents.actor_critic import ActorCriticPolicy, load_checkpoint
from recrl.baselines.store import CONFIG_FILE as BASELINE_CONFIG_FILE
from recrl.baselines.store import POLICY_KINDS, load_baseline
from recrl.config import PipelineConfig
from recrl.evaluate.offpolicy import decision_probs, score_states
from recrl.evaluate.stage import decision_kind
from recrl.lake import DataLayout, write_atomic
from recrl.policies import N_RESERVED, Policy, StateBatch, slate_size_of
from recrl.schema import HISTORY_TYPE_CODE
from recrl.states.export import load_transitions, pad_lists, to_arrays
from recrl.states.vocab import Vocabulary, load_vocab
from recrl.store import warehouse

SPLITS: tuple[str, ...] = ("valid", "test")
"""Splits that can be served: those the evaluation scored (valid chose the temperature, test reported)."""
DEFAULT_HISTORY_TYPE = "click"
"""Event type of every history event of a histories file that has no ``history_types`` column."""


def _warehouse_rows(layout: DataLayout, sql: str, params: list) -> list[tuple]:
    try:
        with warehouse.connect(layout.warehouse, read_only=True) as con:
            return con.execute(sql, params).fetchall()
    except duckdb.IOException as error:  # e.g. the flow holds the file for writing: one line, not a traceback
        raise ValueError(
            f"cannot read the warehouse {layout.warehouse}: {str(error).splitlines()[0]}"
        ) from error


def run_config(layout: DataLayout, run_id: str) -> PipelineConfig:
    """The resolved config the run was made with (``runs.config_json``)."""
    rows = _warehouse_rows(layout, "SELECT config_json FROM runs WHERE run_id = ?", [run_id])
    if not rows:
        known = [r[0] for r in _warehouse_rows(layout, "SELECT run_id FROM runs ORDER BY started_at", [])]
        raise ValueError(
            f"run {run_id!r} not in {layout.warehouse} (known runs: {', '.join(known) or 'none'})"
        )
    return PipelineConfig.from_json(rows[0][0])


def policy_temperature(layout: DataLayout, run_id: str, name: str) -> float:
    """The temperature the evaluation chose on valid for ``name`` in ``run_id``."""
    run_config(layout, run_id)  # a missing run is named as such
    rows = _warehouse_rows(
        layout, "SELECT policy, temperature FROM policies WHERE run_id = ? ORDER BY policy", [run_id]
    )
    servable = {policy: temperature for policy, temperature in rows if temperature is not None}
    if name not in servable:
        raise ValueError(
            f"policy {name!r} has no served model in run {run_id!r} (known: {', '.join(servable) or 'none'})"
        )
    return float(servable[name])


def load_policy(layout: DataLayout, run_id: str, name: str) -> Policy:
    """Policy ``name`` of ``run_id`` at the temperature its evaluation chose: the actor-critic and (when
    trained) 'sasrec' from their checkpoints, baselines from ``models/{run}/baselines/{name}``, the text
    agent and its team from ``models/{run}/{name}`` (``save_text_policy``), the coordinator's team from
    ``models/{run}/team`` (``Team.save``: every member with its own temperature)."""
    temperature = policy_temperature(layout, run_id, name)
    folder = layout.models / run_id
    if name == "team":
        from recrl.agents import text  # noqa: F401  (registers the text agent's loader, for a text member)
        from recrl.agents.coordinator import Team

        if not (folder / "team" / "team.safetensors").is_file():
            raise FileNotFoundError(f"saved team not found: {folder / 'team'}")
        team = Team.load(folder / "team")
        team.temperature = temperature
        return team
    if (folder / name / BASELINE_CONFIG_FILE).is_file():  # the text agent, or its team with another policy
        from recrl.agents.text import load_text_policy

        base = json.loads((folder / name / BASELINE_CONFIG_FILE).read_text()).get("base")
        # A team whose base is an agent stores only its name: that agent is loaded from its checkpoint.
        agent_base = base is not None and base.get("kind") not in POLICY_KINDS
        saved = load_text_policy(
            folder / name, base=load_policy(layout, run_id, base["name"]) if agent_base else None
        )
        saved.temperature = temperature
        return saved
    if name == "actor-critic":
        if not (folder / ACTOR_CRITIC_FILE).is_file():
            raise FileNotFoundError(f"actor-critic checkpoint not found: {folder / ACTOR_CRITIC_FILE}")
        model, _ = load_checkpoint(folder)
        return ActorCriticPolicy(model, temperature)
    if name == "sasrec":
        from recrl.agents.sequential import CHECKPOINT_FILE as SEQUENTIAL_FILE
        from recrl.agents.sequential import SequentialPolicy, load_sequential

        if not (folder / SEQUENTIAL_FILE).is_file():
            raise FileNotFoundError(f"sasrec checkpoint not found: {folder / SEQUENTIAL_FILE}")
        model, _ = load_sequential(folder)
        return SequentialPolicy(model, temperature)
    baseline_dir = folder / "baselines" / name
    if not (baseline_dir / BASELINE_CONFIG_FILE).is_file():
        raise FileNotFoundError(f"saved baseline not found: {baseline_dir}")
    policy = load_baseline(baseline_dir)
    policy.temperature = temperature
    return policy


def recommend(
    layout: DataLayout,
    run_id: str,
    name: str,
    split: str | None = None,
    histories: str | Path | None = None,
    top_k: int | None = None,
) -> pl.DataFrame:
    """Long table of ``name``'s probability of each item at each decision's slot.

    Split mode: columns (request_id, decision_id, position, item_id, probability), ``position`` the
    logged one (-1: implicit step, served at slot 0). Histories mode: (request_id, position, item_id,
    probability). Rows follow the decisions' order, then vocabulary order (all items) or descending
    probability (``top_k``).
    """
    if (split is None) == (histories is None):
        raise ValueError("give exactly one of split or histories")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    history_len = run_config(layout, run_id).states.history_len
    policy = load_policy(layout, run_id, name)
    vocab = load_vocab(layout)
    if split is not None:
        decisions = decision_kind(load_transitions(layout, "test"))
        arrays = to_arrays(load_transitions(layout, split, kind=decisions), history_len)
        states, positions = arrays.states, arrays.position
        keys = {
            "request_id": pl.Series(arrays.request_id, dtype=pl.String),
            "decision_id": pl.Series(arrays.decision_id, dtype=pl.String),
        }
    else:
        states, request_ids, positions = read_histories(histories, vocab, history_len)
        keys = {"request_id": pl.Series(request_ids, dtype=pl.String)}
    probs = decision_probs(
        score_states(policy, states), positions, policy.temperature, slate_size_of(positions)
    )  # (B, V), as the evaluation computes them
    return long_table(probs, keys, positions, vocab, top_k)


def long_table(
    probs: np.ndarray, keys: dict[str, pl.Series], positions: np.ndarray, vocab: Vocabulary, top_k: int | None
) -> pl.DataFrame:
    """(B, V) probabilities -> one row per (decision, non-reserved item), or its ``top_k`` likeliest."""
    batch, width = probs.shape
    items = probs[:, N_RESERVED:]
    if top_k is None or top_k >= width - N_RESERVED:
        columns = np.broadcast_to(np.arange(width - N_RESERVED), items.shape)
    else:
        columns = np.argsort(-items, axis=1, kind="stable")[:, :top_k]  # ties: lower index first
    per_row = columns.shape[1]
    rows = np.repeat(np.arange(batch), per_row)
    return pl.DataFrame(
        {
            **{name: series.gather(rows) for name, series in keys.items()},
            "position": pl.Series(positions[rows], dtype=pl.Int64),
            "item_id": pl.Series(vocab.item_ids[N_RESERVED + columns.ravel()], dtype=pl.String),
            "probability": pl.Series(np.take_along_axis(items, columns, axis=1).ravel(), dtype=pl.Float64),
        }
    )


def _id_lists(frame: pl.DataFrame, column: str) -> pl.Series:
    """A list-of-strings column: a list column cast to strings, or space-separated strings split."""
    series = frame[column]
    if isinstance(series.dtype, pl.List):
        return series.cast(pl.List(pl.String)).fill_null([])
    if series.dtype == pl.String:
        return (
            series.fill_null("")
            .str.strip_chars()
            .str.split(" ")
            .list.eval(pl.element().filter(pl.element() != ""))
        )
    raise ValueError(
        f"histories column {column!r} must be a list of ids or a space-separated string, got {series.dtype}"
    )


def read_histories(
    path: str | Path, vocab: Vocabulary, history_len: int
) -> tuple[StateBatch, np.ndarray, np.ndarray]:
    """(states, request_ids, positions) of a histories file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"histories file not found: {path}")
    if path.suffix.lower() == ".csv":
        frame = pl.read_csv(
            path, schema_overrides={"request_id": pl.String, "history": pl.String, "history_types": pl.String}
        )
    elif path.suffix.lower() in (".parquet", ".pq"):
        frame = pl.read_parquet(path)
    else:
        raise ValueError(f"histories file must be .parquet or .csv: {path}")
    missing = [c for c in ("request_id", "history") if c not in frame.columns]
    if missing:
        raise ValueError(f"histories file {path} lacks column(s) {missing} (needs request_id, history)")
    if frame["request_id"].null_count():
        raise ValueError(f"histories file {path}: request_id must not be null")
    positions = (
        frame["position"].fill_null(0).cast(pl.Int64).to_numpy()
        if "position" in frame.columns
        else np.zeros(frame.height, dtype=np.int64)
    )
    if (
        frame.select(pl.col("request_id").cast(pl.String), pl.Series("position", positions))
        .is_duplicated()
        .any()
    ):
        raise ValueError(f"histories file {path}: a (request_id, position) appears twice")
    ids = _id_lists(frame, "history")
    lengths = ids.list.len().to_numpy().astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat_ids = ids.explode().drop_nulls().to_numpy()
    items = pa.ListArray.from_arrays(pa.array(offsets), pa.array(vocab.index_of(flat_ids), type=pa.int32()))
    if "history_types" in frame.columns:
        names = _id_lists(frame, "history_types")
        if not np.array_equal(names.list.len().to_numpy(), lengths):
            raise ValueError(f"histories file {path}: history_types must have one type per history item")
        flat_names = names.explode().drop_nulls().to_list()
        unknown = sorted(set(flat_names) - set(HISTORY_TYPE_CODE))
        if unknown:
            raise ValueError(
                f"histories file {path}: unknown event type(s) {unknown} (known: {sorted(HISTORY_TYPE_CODE)})"
            )
        codes = np.array([HISTORY_TYPE_CODE[n] for n in flat_names], dtype=np.int8)
    else:
        codes = np.full(len(flat_ids), HISTORY_TYPE_CODE[DEFAULT_HISTORY_TYPE], dtype=np.int8)
    types = pa.ListArray.from_arrays(pa.array(offsets), pa.array(codes, type=pa.int8()))
    request_ids = frame["request_id"].cast(pl.String).to_numpy().astype(object)
    states = StateBatch(pad_lists(items, history_len), pad_lists(types, history_len), request_ids)
    return states, request_ids, positions


def check_out_path(out: str | Path) -> Path:
    """``out`` as a Path, if its folder exists and it is not itself a folder."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out is a directory, not a file: {out}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out folder not found: {out.parent}")
    return out


def write_parquet_atomic(frame: pl.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` to ``out`` via a temporary file beside it and a rename: readers never see half a file."""
    return write_atomic(check_out_path(out), frame.write_parquet)
