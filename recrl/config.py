"""Every setting of recrl, as typed dataclasses with a docstring per field.

The nightly flow takes a ``PipelineConfig`` as its parameters; the resolved config is saved as JSON
beside every checkpoint and referenced by every result row (``runs.config_json``).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SimConfig:
    """The built-in e-commerce simulator (ground truth for every off-policy estimate)."""

    seed: int = 20261128
    """Seed of the catalogue, the users and the logs; the same seed rebuilds the same world."""
    n_items: int = 200
    """Catalogue size."""
    n_categories: int = 10
    """Item categories; titles and latent vectors cluster by category."""
    n_users: int = 2000
    """User population; users return across days, so long-term history exists."""
    n_days: int = 7
    """Days of logs to write."""
    start_date: str = "2026-11-01"
    """First logged day (ISO date, UTC)."""
    daily_active_rate: float = 0.5
    """Probability that a user has a session on a given day."""
    mean_session_requests: float = 6.0
    """Mean number of slate requests in a session (geometric), before click-driven continuation."""
    slate_size: int = 3
    """Positions per slate (K)."""
    latent_dim: int = 16
    """Dimension of the user-taste and item vectors."""
    position_bias: tuple[float, ...] = (1.0, 0.75, 0.55)
    """Examination probability of each position (position-based click model)."""
    history_weight: float = 1.5
    """Weight of the short-term interest (recent clicks) against long-term taste in attraction."""
    history_decay: float = 0.5
    """Share of the old short-term interest kept after each click (exponential moving average)."""
    logging_temperature: float = 1.0
    """Softmax temperature of the logging policy over its (popularity + last-category) score."""
    logging_epsilon: float = 0.05
    """Share of uniform exploration mixed into the logging policy (full support for IPS)."""
    logging_category_bonus: float = 2.0
    """Logging score bonus of items in the category of the user's last clicked item."""
    attraction_bias: float = -4.8
    """b0 of the attraction sigmoid(b0 + <u, e> + history_weight <h, e> + pop)."""
    popularity_std: float = 0.7
    """Standard deviation of the items' popularity offsets (pop in the attraction)."""
    purchase_bias: float = -1.0
    """c0 of P(purchase | click) = sigmoid(c0 + c1 <u, e> - c2 price)."""
    purchase_taste_weight: float = 0.5
    """c1: how much long-term taste raises the purchase probability after a click."""
    purchase_price_weight: float = 1.0
    """c2: how much the item's price level lowers the purchase probability after a click."""
    session_carryover: float = 0.5
    """Share of the short-term interest kept from one session to the user's next."""
    click_continue_boost: float = 0.5
    """Share of the stop probability removed after a request with a click (clicks lengthen sessions)."""


@dataclass(frozen=True)
class IngestConfig:
    """Raw logs -> validated, partitioned Parquet lake."""

    n_shards: int = 4
    """User-hash shards per date partition (see ``recrl.lake.user_shard``)."""
    salt_env_var: str = "RECRL_USER_SALT"
    """Environment variable holding the salt for hashing user ids; unset = ids kept as given."""
    max_future_seconds: int = 86_400
    """Events stamped further than this past ingest time are rejected as out of range."""
    min_timestamp: str = "2000-01-01"
    """Events before this date are rejected as out of range."""
    naive_timestamps: str = "reject"
    """Timestamps without a UTC offset: 'reject' (quarantined with reason 'no UTC offset') or 'utc'
    (read as UTC)."""
    positions: str = "zero-based"
    """Slate positions of the input: 'zero-based' (a file whose positions run 1..K with no 0 is refused
    as 1-based, with a message saying so) or 'one-based' (every position p is stored as p - 1)."""
    max_quarantine_share: float = 0.2
    """Ingest fails, publishing nothing, when more than this share of a run's input rows is quarantined;
    1.0 never fails."""
    skip_ingested: bool = True
    """Skip input files whose content digest already has a reconciliation record, so a nightly run over
    a growing folder ingests only the new files."""


@dataclass(frozen=True)
class StatesConfig:
    """Lake events -> session-level transitions (DuckDB SQL in ``sql/states``)."""

    history_len: int = 10
    """N: items kept in a state's history (most recent last)."""
    session_gap_minutes: int = 30
    """Inactivity gap that starts a new session where logs carry no session id."""
    min_item_count: int = 1
    """Items seen fewer times in training are mapped to the unknown index (1)."""
    reward_click: float = 0.2
    """Reward of a click (SQN/SA2C convention)."""
    reward_cart: float = 0.5
    """Reward of an add-to-cart."""
    reward_purchase: float = 1.0
    """Reward of a purchase."""
    valid_days: int = 1
    """Days before the test days that form the validation split."""
    test_days: int = 1
    """Last days of the log that form the held-out test split."""
    memory_limit: str = "4GB"
    """DuckDB memory cap of the build (it spills to disk beyond it); '' = DuckDB's default (80% of RAM)."""
    threads: int = 0
    """DuckDB worker threads of the build; 0 = all cores."""


@dataclass(frozen=True)
class AgentConfig:
    """Off-policy actor-critic over a BERT state encoder (``recrl.agents.actor_critic``)."""

    seed: int = 0
    """Seed of initialisation and batch order."""
    hidden_size: int = 64
    """BERT hidden size (also the item-embedding size)."""
    num_layers: int = 2
    """BERT transformer layers."""
    num_heads: int = 2
    """BERT attention heads."""
    intermediate_size: int = 128
    """BERT feed-forward width."""
    dropout: float = 0.1
    """Dropout inside BERT."""
    gamma: float = 0.5
    """Discount of the TD target (SQN/SA2C use 0.5)."""
    lr: float = 3e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Transitions per gradient step."""
    epochs: int = 3
    """Passes over the training split."""
    warmup_epochs: int = 1
    """Epochs in which the actor is weighted by the logged reward alone, before the critic's return."""
    negative_samples: int = 10
    """Uniformly drawn unshown items per transition whose Q is regressed to 0 (SNQN, Xin et al. 2022)."""
    target_tau: float = 0.01
    """Soft update rate of the target critic."""
    weight_cap: float = 1.0
    """Cap of the inverse-propensity weight 1 / beta_k(a | s), as a multiple of its batch median, before
    the batch's weights are normalised to mean 1. 1.0 corrects over-exposure only (items the logger showed
    more than the median are down-weighted); larger caps also up-weight rarely shown items, which cost
    true value on the default world (measured in ``recrl.agents.actor_critic``)."""
    entropy_coef: float = 0.01
    """Entropy bonus of the actor (keeps the serving policy stochastic enough for OPE)."""
    behaviour: str = "auto"
    """Where beta comes from: 'logged' propensities, a 'learned' behaviour head, or 'auto' (logged if present)."""
    temperature: float = 1.0
    """Softmax temperature of the served policy."""
    device: str = "auto"
    """'cpu', 'cuda' or 'auto' (cuda when available)."""
    num_threads: int = 1
    """torch CPU threads while training: this small model gains little from more, and on shared cores
    extra threads cost a lot (measured 4.5x slower per step with 2 threads on a loaded 2-core machine)."""
    patience: int = 2
    """Early stopping: training stops after this many epochs without a better validation NDCG@10 of the
    next positive item (valid split), and the best epoch's weights are kept; 0 = run every epoch."""


@dataclass(frozen=True)
class SequentialConfig:
    """Supervised SASRec-style next-item model on the actor's BERT encoder (``recrl.agents.sequential``)."""

    seed: int = 0
    """Seed of initialisation and batch order."""
    hidden_size: int = 64
    """BERT hidden size (also the item-embedding size)."""
    num_layers: int = 2
    """BERT transformer layers."""
    num_heads: int = 2
    """BERT attention heads."""
    intermediate_size: int = 128
    """BERT feed-forward width."""
    dropout: float = 0.1
    """Dropout inside BERT."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 256
    """Positive decisions per gradient step."""
    epochs: int = 20
    """Most passes over the training split's positive decisions."""
    patience: int = 3
    """Early stopping: stop after this many epochs without a better validation NDCG@10 of the next
    positive item (valid split); the best epoch's weights are kept. 0 = run every epoch."""
    temperature: float = 1.0
    """Softmax temperature of the served policy."""
    device: str = "auto"
    """'cpu', 'cuda' or 'auto' (cuda when available)."""
    num_threads: int = 1
    """torch CPU threads while training (see ``AgentConfig.num_threads``)."""


@dataclass(frozen=True)
class BaselineConfig:
    """Collaborative-filtering and popularity baselines."""

    knn_neighbors: int = 50
    """Neighbours kept per item in item-kNN."""
    knn_history_items: int = 5
    """Most recent history items whose neighbours are summed in item-kNN."""
    temperatures: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)
    """Softmax temperatures tried on the validation split (chosen by validation reward, never on test)."""


@dataclass(frozen=True)
class EvalConfig:
    """Off-policy estimates and ranking metrics on the held-out test split."""

    estimators: tuple[str, ...] = ("ips", "snips", "dm", "dr", "sndr", "switch-dr", "dr-os")
    """Estimators reported for every policy (names of ``recrl.ope.estimate``)."""
    n_bootstrap: int = 500
    """Bootstrap resamples for the percentile intervals."""
    alpha: float = 0.05
    """1 - confidence level of the intervals."""
    clip_lambda: float = 100.0
    """lambda of clipped IPS / Switch-DR / DR-OS."""
    cutoffs: tuple[int, ...] = (5, 10, 20)
    """k of HR@k and NDCG@k."""
    reward_model_folds: int = 5
    """K of the cross-fitted reward model used by DM and DR."""
    seed: int = 0
    """Seed of the bootstrap and the reward model folds."""
    propensity: str = "auto"
    """Propensities of the estimates: 'logged', 'estimated' (a behaviour model fitted on the train days
    and checked on the valid days), or 'auto' (logged where every valid and test decision has one)."""


@dataclass(frozen=True)
class PipelineConfig:
    """One nightly run: where data lives and every stage's settings."""

    data_root: str = "data"
    """Root of raw logs, lake, states, models, reports and the warehouse."""
    source: str = "simulator"
    """'simulator' (write logs with the built-in simulator), 'lake' (use the lake already under
    ``data_root``; nothing is ingested), or logs to ingest: a file, a folder (its files, sorted) or a glob."""
    source_format: str = "events"
    """Format of ``source`` when it is a path (see ``recrl ingest --help``)."""
    sim: SimConfig = field(default_factory=SimConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    states: StatesConfig = field(default_factory=StatesConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    sequential: SequentialConfig = field(default_factory=SequentialConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def check_source(self) -> None:
        """Fail fast, with one line naming it, when the input to ingest does not exist."""
        if self.source != "simulator" and not Path(self.source).exists():
            raise FileNotFoundError(f"input logs not found: {self.source}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return from_dict(cls, json.loads(text))

    @classmethod
    def from_file(cls, path: str | Path) -> PipelineConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        return cls.from_json(path.read_text())


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from a (JSON) dict; unknown keys are an error, missing keys default."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s): {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value)
        elif typing.get_origin(hint) is tuple or (
            isinstance(hint, types.GenericAlias) and hint.__origin__ is tuple
        ):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
