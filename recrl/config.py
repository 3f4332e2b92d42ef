"""Every setting of recrl: frozen, validated dataclasses (pydantic) with a docstring per field.

The nightly flow takes a ``PipelineConfig`` as its parameters; the resolved config is saved as JSON
beside every checkpoint and referenced by every result row (``runs.config_json``).

Every section is validated when it is built (``SimConfig(...)``, ``dataclasses.replace``,
``PipelineConfig.from_file``, a flow or deployment parameter), so a bad value fails before any stage
runs. Bad values raise ``ConfigError``, one line per problem naming the field by its JSON path:
``agent.epochs: expected an integer, got 'three'``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import difflib
import functools
import glob
import json
import re
import typing
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

SourceFormat = Literal["events", "obd", "otto", "retailrocket", "taobao"]
"""Input formats of ``recrl.ingest.formats.FORMATS`` (a test keeps the two equal)."""
EstimatorName = Literal["ips", "snips", "dm", "dr", "sndr", "switch-dr", "dr-os"]
"""Estimators of ``recrl.ope.estimators.ESTIMATORS`` (a test keeps the two equal)."""
PropensityChoice = Literal["auto", "logged", "estimated"]
"""Where the evaluation's propensities come from (``EvalConfig.propensity``)."""
TemperatureRule = Literal["anchored", "lcb"]
TEMPERATURE_RULES: tuple[str, ...] = get_args(TemperatureRule)
"""Rules of ``EvalConfig.temperature_rule``."""
MAX_CATEGORIES = 12
"""Categories the simulator has words for (``len(recrl.simulate.world.CATEGORY_WORDS)``, kept equal by a test)."""
MAX_SLATE_SIZE = 8
"""Largest slate with exact Plackett-Luce marginals (``recrl.policies``)."""


class ConfigError(ValueError):
    """A config that cannot run: one line per problem, ``path.to.field: what is wrong, got VALUE``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    @classmethod
    def from_validation_error(cls, error: pydantic.ValidationError, root: type | None = None,
                              prefix: tuple[str, ...] = ()) -> ConfigError:
        """Plain-words lines from pydantic's errors; ``root`` (the validated class) names unknown keys' neighbours."""
        return cls([_problem(e, root, prefix) for e in error.errors()])


def _not_bool(value: Any) -> Any:
    """Refuse true/false where a number is expected (pydantic reads True as 1)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_not_bool", "expected a number, not true/false")
    return value


NotBool = BeforeValidator(_not_bool)
"""Last in an ``Annotated`` number type, after its bounds (so they stay in the JSON schema)."""
Float = Annotated[float, NotBool]
Count = Annotated[int, Field(ge=1), NotBool]
NonNegativeInt = Annotated[int, Field(ge=0), NotBool]
Seed = NonNegativeInt
Probability = Annotated[float, Field(ge=0.0, le=1.0), NotBool]
Positive = Annotated[float, Field(gt=0.0), NotBool]
NonNegative = Annotated[float, Field(ge=0.0), NotBool]


def _is_iso_date(text: str) -> bool:
    try:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None and bool(dt.date.fromisoformat(text))
    except ValueError:  # 2026-02-30
        return False


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not _is_iso_date(value):
        raise PydanticCustomError("iso_date", "expected an ISO date (YYYY-MM-DD)")
    return value


IsoDate = Annotated[str, BeforeValidator(_iso_date)]

_MEMORY = re.compile(
    r"\s*\d+(\.\d+)?\s*(%|b|bytes?|[kmgt](ib|b)?|(kilo|mega|giga|tera)bytes?)\s*", re.IGNORECASE
)


def _memory_limit(value: Any) -> Any:
    if isinstance(value, str) and value and not _MEMORY.fullmatch(value):
        raise PydanticCustomError(
            "memory_limit", "expected a DuckDB memory size such as '4GB', '512MiB' or '50%', or '' for DuckDB's default"
        )
    return value


MemoryLimit = Annotated[str, BeforeValidator(_memory_limit)]


def _env_var_name(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise PydanticCustomError("env_var_name", "expected an environment variable name (letters, digits and _)")
    return value


EnvVarName = Annotated[str, BeforeValidator(_env_var_name)]

_MODEL_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True, validate_default=True)
"""Unknown keys are errors; defaults are validated too, so cross-field checks (field validators reading
``info.data``, the fields declared before) also see defaulted fields."""

C = TypeVar("C")

SECTIONS: dict[type, str] = {}
"""Each config class and its key in ``PipelineConfig`` ('' for the root): the prefix of its fields in errors."""


def _config_model(path: str) -> typing.Callable[[type[C]], type[C]]:
    """Make ``cls`` a frozen pydantic dataclass whose constructor raises ``ConfigError`` naming
    fields by their path in ``PipelineConfig`` (``path``: this section's key there, '' for the root)."""

    def decorate(cls: type[C]) -> type[C]:
        model = dataclass(frozen=True, config=_MODEL_CONFIG)(cls)
        validating_init = model.__init__

        @functools.wraps(validating_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                validating_init(self, *args, **kwargs)
            except pydantic.ValidationError as error:
                raise ConfigError.from_validation_error(error, model, (path,) if path else ()) from None

        model.__init__ = __init__  # nested sections are validated by the schema, not by this __init__
        SECTIONS[model] = path
        return model

    return decorate


@_config_model("sim")
class SimConfig:
    """The built-in e-commerce simulator (ground truth for every off-policy estimate)."""

    seed: Seed = 20261128
    """Seed of the catalogue, the users and the logs; the same seed rebuilds the same world."""
    n_items: Count = 200
    """Catalogue size."""
    n_categories: Annotated[int, Field(ge=1, le=MAX_CATEGORIES), NotBool] = 10
    """Item categories (at most 12, and at most ``n_items``); titles and latent vectors cluster by category."""
    n_users: Count = 2000
    """User population; users return across days, so long-term history exists."""
    n_days: Count = 7
    """Days of logs to write."""
    start_date: IsoDate = "2026-11-01"
    """First logged day (ISO date, UTC)."""
    daily_active_rate: Probability = 0.5
    """Probability that a user has a session on a given day."""
    mean_session_requests: Annotated[float, Field(ge=1.0), NotBool] = 6.0
    """Mean number of slate requests in a session (geometric, >= 1), before click-driven continuation."""
    slate_size: Annotated[int, Field(ge=1, le=MAX_SLATE_SIZE), NotBool] = 3
    """Positions per slate (K): 1..3 (exact Plackett-Luce marginals), at most ``n_items``."""
    latent_dim: Count = 16
    """Dimension of the user-taste and item vectors."""
    position_bias: tuple[Annotated[float, Field(gt=0.0, le=1.0), NotBool], ...] = (1.0, 0.75, 0.55)
    """Examination probability of each position (position-based click model), in (0, 1]; one per position."""
    history_weight: Float = 1.5
    """Weight of the short-term interest (recent clicks) against long-term taste in attraction."""
    history_decay: Probability = 0.5
    """Share of the old short-term interest kept after each click (exponential moving average)."""
    logging_temperature: Positive = 1.0
    """Softmax temperature of the logging policy over its (popularity + last-category) score."""
    logging_epsilon: Probability = 0.05
    """Share of uniform exploration mixed into the logging policy (full support for IPS)."""
    logging_category_bonus: Float = 2.0
    """Logging score bonus of items in the category of the user's last clicked item."""
    attraction_bias: Float = -4.8
    """b0 of the attraction sigmoid(b0 + <u, e> + history_weight <h, e> + pop)."""
    popularity_std: NonNegative = 0.7
    """Standard deviation of the items' popularity offsets (pop in the attraction)."""
    purchase_bias: Float = -1.0
    """c0 of P(purchase | click) = sigmoid(c0 + c1 <u, e> - c2 price)."""
    purchase_taste_weight: Float = 0.5
    """c1: how much long-term taste raises the purchase probability after a click."""
    purchase_price_weight: Float = 1.0
    """c2: how much the item's price level lowers the purchase probability after a click."""
    session_carryover: Probability = 0.5
    """Share of the short-term interest kept from one session to the user's next."""
    click_continue_boost: Probability = 0.5
    """Share of the stop probability removed after a request with a click (clicks lengthen sessions)."""
    cold_start_items: NonNegativeInt = 0
    """The last this-many items of the catalogue are new: the logging policy shows them only on the last
    logged day (the test day), so they have titles but no training history. 0 = none."""

    @field_validator("cold_start_items")
    @classmethod
    def _leaves_a_slate(cls, value: int, info: ValidationInfo) -> int:
        n_items, slate_size = info.data.get("n_items"), info.data.get("slate_size")
        if n_items is not None and slate_size is not None and value > n_items - slate_size:
            raise PydanticCustomError("cold_start_items", "must leave a slate of old items: at most n_items - "
                                      "slate_size ({most})", {"most": n_items - slate_size})
        return value

    @field_validator("n_categories", "slate_size")
    @classmethod
    def _at_most_n_items(cls, value: int, info: ValidationInfo) -> int:
        n_items = info.data.get("n_items")
        if n_items is not None and value > n_items:
            raise PydanticCustomError("above_n_items", "must be at most n_items ({n_items})", {"n_items": n_items})
        return value

    @field_validator("position_bias")
    @classmethod
    def _one_bias_per_position(cls, value: tuple[float, ...], info: ValidationInfo) -> tuple[float, ...]:
        slate_size = info.data.get("slate_size")
        if slate_size is not None and len(value) != slate_size:
            raise PydanticCustomError(
                "bias_per_position",
                "needs one value per position: {length} given for slate_size {slate_size}",
                {"length": len(value), "slate_size": slate_size},
            )
        return value


@_config_model("ingest")
class IngestConfig:
    """Raw logs -> validated, partitioned Parquet lake."""

    n_shards: Count = 4
    """User-hash shards per date partition (see ``recrl.lake.user_shard``)."""
    salt_env_var: EnvVarName = "RECRL_USER_SALT"
    """Environment variable holding the salt for hashing user ids; unset = ids kept as given."""
    max_future_seconds: NonNegativeInt = 86_400
    """Events stamped further than this past ingest time are rejected as out of range."""
    min_timestamp: IsoDate = "2000-01-01"
    """Events before this date (ISO date) are rejected as out of range."""
    naive_timestamps: Literal["reject", "utc"] = "reject"
    """Timestamps without a UTC offset: 'reject' (quarantined with reason 'no UTC offset') or 'utc'
    (read as UTC)."""
    positions: Literal["zero-based", "one-based"] = "zero-based"
    """Slate positions of the input: 'zero-based' (a file whose positions run 1..K with no 0 is refused
    as 1-based, with a message saying so) or 'one-based' (every position p is stored as p - 1)."""
    max_quarantine_share: Probability = 0.2
    """Ingest fails, publishing nothing, when more than this share of a run's input rows is quarantined;
    1.0 never fails."""
    skip_ingested: pydantic.StrictBool = True
    """Skip input files whose content digest already has a reconciliation record, so a nightly run over
    a growing folder ingests only the new files."""


@_config_model("states")
class StatesConfig:
    """Lake events -> session-level transitions (DuckDB SQL in ``sql/states``)."""

    history_len: Count = 10
    """N: items kept in a state's history (most recent last)."""
    session_gap_minutes: Count = 30
    """Inactivity gap that starts a new session where logs carry no session id."""
    min_item_count: Count = 1
    """Items seen fewer times in training are mapped to the unknown index (1)."""
    reward_click: NonNegative = 0.2
    """Reward of a click (SQN/SA2C convention)."""
    reward_cart: NonNegative = 0.5
    """Reward of an add-to-cart."""
    reward_purchase: NonNegative = 1.0
    """Reward of a purchase."""
    valid_days: Count = 1
    """Days before the test days that form the validation split."""
    test_days: Count = 1
    """Last days of the log that form the held-out test split."""
    memory_limit: MemoryLimit = "4GB"
    """DuckDB memory cap of the build (it spills to disk beyond it), e.g. '4GB', '512MiB', '50%';
    '' = DuckDB's default (80% of RAM)."""
    threads: NonNegativeInt = 0
    """DuckDB worker threads of the build; 0 = all cores."""


def _heads_divide_hidden_size(cls, value: int, info: ValidationInfo) -> int:
    """BERT splits ``hidden_size`` evenly over its attention heads (a ``num_heads`` field validator)."""
    hidden_size = info.data.get("hidden_size")
    if hidden_size is not None and hidden_size % value:
        raise PydanticCustomError(
            "heads_divide_hidden", "must divide hidden_size ({hidden_size})", {"hidden_size": hidden_size}
        )
    return value


@_config_model("agent")
class AgentConfig:
    """Off-policy actor-critic over a BERT state encoder (``recrl.agents.actor_critic``)."""

    seed: Seed = 0
    """Seed of initialisation and batch order."""
    hidden_size: Count = 64
    """BERT hidden size (also the item-embedding size)."""
    num_layers: Count = 2
    """BERT transformer layers."""
    num_heads: Count = 2
    """BERT attention heads; must divide ``hidden_size``."""
    intermediate_size: Count = 128
    """BERT feed-forward width."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0), NotBool] = 0.1
    """Dropout inside BERT, in [0, 1)."""
    gamma: Probability = 0.5
    """Discount of the TD target, in [0, 1] (SQN/SA2C use 0.5)."""
    lr: Positive = 3e-3
    """Adam learning rate."""
    batch_size: Count = 256
    """Transitions per gradient step."""
    epochs: Count = 12
    """Most passes over the training split (early stopping on valid usually ends it sooner: ``patience``)."""
    warmup_epochs: NonNegativeInt = 1
    """Epochs (at most ``epochs``) in which the actor is weighted by the logged reward alone, before the
    critic's return."""
    negative_samples: NonNegativeInt = 10
    """Uniformly drawn unshown items per transition whose Q is regressed to 0 (SNQN, Xin et al. 2022)."""
    target_tau: Annotated[float, Field(gt=0.0, le=1.0), NotBool] = 0.01
    """Soft update rate of the target critic, in (0, 1]."""
    weight_cap: Positive = 1.0
    """Cap of the inverse-propensity weight 1 / beta_k(a | s), as a multiple of its batch median, before
    the batch's weights are normalised to mean 1. 1.0 corrects over-exposure only (items the logger showed
    more than the median are down-weighted); larger caps also up-weight rarely shown items, which cost
    true value on the default world (measured in ``recrl.agents.actor_critic``)."""
    entropy_coef: NonNegative = 0.01
    """Entropy bonus of the actor (keeps the serving policy stochastic enough for OPE)."""
    supervised_weight: NonNegative = 1.0
    """Weight of the supervised head of SA2C (Xin et al. 2022): the unweighted next-item cross-entropy
    over the full vocabulary on every positive decision (click, cart, purchase, sequence step), added to
    the critic-weighted term; 0 = off (ablation per world in docs/agent.md: the largest single gain)."""
    weight_form: Literal["inverse", "ratio", "none"] = "inverse"
    """Importance weight of the actor's term before the cap: 'inverse' 1 / beta_k(a | s) (exposure
    correction), 'ratio' pi_k(a | s) / beta_k(a | s) (the policy-gradient ratio of Chen et al. 2019), or
    'none' (w = 1)."""
    actor_return: Literal["td", "reward", "advantage"] = "td"
    """The critic's role in the actor's term: 'td' weights log pi(a | s) by the TD return
    max(r + gamma V'(s'), 0), 'reward' by the logged reward alone (no critic), 'advantage' by the positive
    part of Q(s, a, k) - mean Q over {a} and the sampled negatives (SA2C)."""
    topk_correction: pydantic.StrictBool = False
    """Multiply the actor's weight by the top-K factor lambda_K = K (1 - pi(a | s))^(K - 1) of Chen et al.
    (WSDM 2019), K the slate size."""
    behaviour: Literal["auto", "logged", "learned"] = "auto"
    """Where beta comes from: 'logged' propensities, a 'learned' behaviour head, or 'auto' (logged if present)."""
    temperature: Positive = 1.0
    """Softmax temperature of the served policy."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """'cpu', 'cuda' or 'auto' (cuda when available)."""
    num_threads: Count = 1
    """torch CPU threads while training: this small model gains little from more, and on shared cores
    extra threads cost a lot (measured 4.5x slower per step with 2 threads on a loaded 2-core machine)."""
    patience: NonNegativeInt = 2
    """Early stopping: training stops after this many epochs without a better validation NDCG@10 of the
    next positive item (valid split), and the best epoch's weights are kept; 0 = run every epoch."""
    prior: Literal["none", "session-knn", "item-knn", "pure-svd", "best", "session-knn+pure-svd", "text",
                   "session-knn+text"] = "session-knn+text"
    """CF prior of the residual actor (``recrl.agents.prior``): the actor's logits are f_theta(s, a) +
    alpha z(prior(s))_a, the prior a CF baseline fitted on the train split and tuned on valid; 'best' is the
    CF baseline with the best valid criterion, 'none' the actor alone; 'text' the text agent (item titles),
    'session-knn+text' the mean of both standardised (session-kNN alone where the lake has no titles), the
    best measured on the tuning seeds (docs/agent.md)."""
    prior_weight: Annotated[float, Field(ge=0.0), NotBool] = 1.0
    """Initial alpha, the learned weight of the standardised prior scores in the actor's logits."""

    _heads_divide_hidden_size = field_validator("num_heads")(_heads_divide_hidden_size)

    @field_validator("warmup_epochs")
    @classmethod
    def _warmup_within_epochs(cls, value: int, info: ValidationInfo) -> int:
        epochs = info.data.get("epochs")
        if epochs is not None and value > epochs:
            raise PydanticCustomError("warmup_above_epochs", "must be at most epochs ({epochs})", {"epochs": epochs})
        return value


@_config_model("sequential")
class SequentialConfig:
    """Supervised SASRec-style next-item model on the actor's BERT encoder (``recrl.agents.sequential``)."""

    seed: Seed = 0
    """Seed of initialisation and batch order."""
    hidden_size: Count = 64
    """BERT hidden size (also the item-embedding size)."""
    num_layers: Count = 2
    """BERT transformer layers."""
    num_heads: Count = 2
    """BERT attention heads."""
    intermediate_size: Count = 128
    """BERT feed-forward width."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0), NotBool] = 0.1
    """Dropout inside BERT."""
    lr: Positive = 1e-3
    """Adam learning rate."""
    batch_size: Count = 256
    """Positive decisions per gradient step."""
    epochs: Count = 20
    """Most passes over the training split's positive decisions."""
    patience: NonNegativeInt = 3
    """Early stopping: stop after this many epochs without a better validation NDCG@10 of the next
    positive item (valid split); the best epoch's weights are kept. 0 = run every epoch."""
    temperature: Positive = 1.0
    """Softmax temperature of the served policy."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """'cpu', 'cuda' or 'auto' (cuda when available)."""
    num_threads: Count = 1
    """torch CPU threads while training (see ``AgentConfig.num_threads``)."""

    _heads_divide_hidden_size = field_validator("num_heads")(_heads_divide_hidden_size)


@_config_model("baselines")
class BaselineConfig:
    """Popularity and collaborative-filtering baselines (``recrl.baselines``); the fields below are the
    untuned defaults, and with ``tuning_trials`` > 1 the first configuration the validation search tries."""

    knn_neighbors: Count = 50
    """Neighbours kept per item in item-kNN."""
    knn_history_items: Count = 5
    """Most recent history items in the bag of every history-based baseline (item-kNN, session-kNN, PureSVD)."""
    temperatures: Annotated[tuple[NonNegative, ...], Field(min_length=1)] = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)
    """Serving temperatures tried on the validation split (chosen by ``EvalConfig.temperature_rule``, never on
    test): softmax temperatures > 0, and 0, the greedy slate (``recrl.policies.GREEDY``), every policy's
    sharpest point at any scale of its scores."""
    popularity_prior: NonNegative = 100.0
    """m of exposure-debiased popularity (r_i + m mean) / (n_i + m): impressions' worth of prior at the
    global reward per impression."""
    history_decay: Probability = 0.8
    """Weight decay^age of a history item in the bag (1 for the most recent)."""
    pop_weight: NonNegative = 0.05
    """Weight of the standardised popularity added to every history-based baseline's scores (best item = 1)."""
    knn_shrink: NonNegative = 0.0
    """Shrinkage of item-kNN's cosine, C_ij / (sqrt(n_i n_j) + shrink): damps pairs seen in few sessions."""
    sknn_neighbors: Count = 50
    """Neighbour sessions that vote in session-kNN."""
    sknn_sample: Count = 1000
    """Session-kNN considers only the most recent this-many training sessions sharing an item with the history."""
    svd_factors: Count = 32
    """Factors of PureSVD."""
    tuning_trials: Count = 12
    """Configurations tried per baseline on the validation split (the defaults first, then a seeded random
    sample of ``recrl.baselines.tuning.SEARCH_SPACES``); 1 = defaults only, no tuning."""
    tuning_criterion: Annotated[str, Field(pattern=r"^(auto|snips|ndcg@[1-9][0-9]*)$")] = "auto"
    """Validation score of a configuration: 'snips' (the served policy at its best temperature with ESS above
    the floor; needs logged propensities), 'ndcg@10' (rank of the next positive item; any log), or 'auto'
    (snips where every validation decision has a propensity, else ndcg@10)."""
    tuning_max_decisions: NonNegativeInt = 6000
    """Validation decisions scored per configuration (a seeded sample when there are more; 0 = all)."""
    tuning_slots: NonNegativeInt = 2
    """Only validation decisions at the first this-many slate slots are scored while tuning: the exact
    Plackett-Luce marginal of the third slot costs O(V^2) per decision, the first two O(V); 0 = all slots."""
    tuning_z: NonNegative = 1.0
    """The best configuration replaces the defaults only where its paired gain over them on the validation
    decisions exceeds this many standard errors; 0 = always take the best valid score."""
    tuning_seed: Seed = 0
    """Seed of the random search and of the validation sample."""


def _distinct(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(value)) != len(value):
        raise PydanticCustomError("repeated", "must not repeat a value")
    return value


@_config_model("text")
class TextConfig:
    """The text agent (``recrl.agents.text``): item titles embedded by the packaged all-MiniLM-L6-v2;
    its history settings are tuned on the valid days with the baselines' search (``baselines``)."""

    enabled: pydantic.StrictBool = True
    """Evaluate the text agent where the lake's items table has titles (needs the ``text`` extra)."""
    batch_size: Count = 64
    """Titles per forward pass of the sentence model (only titles missing from the cache are embedded)."""


@_config_model("eval")
class EvalConfig:
    """Off-policy estimates and ranking metrics on the held-out test split."""

    estimators: Annotated[
        tuple[EstimatorName, ...], Field(min_length=1), pydantic.AfterValidator(_distinct)
    ] = ("ips", "snips", "dm", "dr", "sndr", "switch-dr", "dr-os")
    """Estimators reported for every policy (names of ``recrl.ope.estimate``, each once)."""
    n_bootstrap: Count = 500
    """Bootstrap resamples for the percentile intervals."""
    alpha: Annotated[float, Field(gt=0.0, lt=1.0), NotBool] = 0.05
    """1 - confidence level of the intervals, in (0, 1)."""
    temperature_rule: TemperatureRule = "anchored"
    """How each policy's serving temperature is chosen on valid (``recrl.evaluate.offpolicy.choose_temperature``):
    "anchored" serves the sharpest temperature unless a softer one's paired DR gain has a lower bound above 0
    (one-sided, ``temperature_alpha``, Bonferroni over the softer ones); "lcb" the highest DR - z std_err
    (``temperature_z``). Chosen on the tune seeds by the truth of what each rule serves
    (``bench/temperature_rule.py``, docs/agent.md)."""
    temperature_alpha: Annotated[float, Field(gt=0.0, lt=1.0), NotBool] = 0.05
    """One-sided level of the "anchored" rule's paired bound, shared by the softer temperatures (Bonferroni)."""
    temperature_z: NonNegative = 0.5
    """z of the "lcb" rule: the temperature with the highest valid DR - z std_err; 0 is the best valid DR."""
    clip_lambda: NonNegative = 100.0
    """lambda of clipped IPS / Switch-DR / DR-OS."""
    cutoffs: Annotated[tuple[Count, ...], Field(min_length=1), pydantic.AfterValidator(_distinct)] = (5, 10, 20)
    """k of HR@k and NDCG@k."""
    reward_model_folds: Annotated[int, Field(ge=2), NotBool] = 5
    """K (>= 2) of the cross-fitted reward model used by DM and DR."""
    seed: Seed = 0
    """Seed of the bootstrap and the reward model folds."""
    propensity: PropensityChoice = "auto"
    """Propensities of the estimates: 'logged', 'estimated' (a behaviour model fitted on the train days
    and checked on the valid days), or 'auto' (logged where every valid and test decision has one)."""


@_config_model("gate")
class GateConfig:
    """The safe deployment gate (``recrl.evaluate.gate``): a candidate replaces the incumbent only if its
    one-sided lower confidence bound beats the incumbent's estimate by ``margin``."""

    estimator: EstimatorName = "dr"
    """Estimator of the candidate's value (stored as in ``ope_estimates``: 'dr' clipped at
    ``eval.clip_lambda`` is read as 'dr-clip100')."""
    alpha: Annotated[float, Field(gt=0.0, lt=0.5), NotBool] = 0.05
    """1 - level of the one-sided lower bound value - z_{1-alpha} std_err, in (0, 0.5)."""
    margin: NonNegative = 0.0
    """How much the candidate's lower bound must exceed the incumbent's estimate (reward per decision)."""
    candidate: Annotated[str, Field(min_length=1)] = "actor-critic"
    """The run's policy put to the gate (a name of the ``policies`` table: actor-critic, sasrec, item-knn, ...)."""


FusionName = Literal["average", "borda", "gate"]
"""Fusions of the coordinator (``recrl.agents.coordinator.FUSIONS``, kept equal by a test)."""
ChoiceName = Literal["same", "split", "crossfit"]
"""Which valid decisions the coordinator chooses on (``CoordinatorConfig.choice``)."""
AgentName = Literal["actor-critic", "click-specialist", "purchase-specialist", "sasrec", "text", "popularity",
                    "item-knn", "session-knn", "pure-svd", "exploration"]
"""Names of the agents the coordinator fuses (``CoordinatorConfig.anchor``; the ``policies`` rows' names)."""


@_config_model("coordinator")
class CoordinatorConfig:
    """The team of agents and its coordinator (``recrl.agents.coordinator``): specialists, an exploration
    agent, and the fusion of every agent into one slate policy chosen on the valid days."""

    enabled: bool = True
    """Build, choose and evaluate the team (and train the specialists) in the flow."""
    specialists: bool = True
    """Train a click specialist and a purchase specialist (actor-critics on click-only / purchase-only rewards)."""
    specialist_epochs: Count = 2
    """Epochs of each specialist (early stopping on valid as the actor-critic's; fewer epochs keep the
    extra training time modest)."""
    exploration_temperature: Positive = 5.0
    """Fixed serving temperature of the exploration agent (smoothed log-popularity scores): not chosen on valid."""
    fusions: Annotated[tuple[FusionName, ...], Field(min_length=1), pydantic.AfterValidator(_distinct)] = (
        "average", "borda", "gate")
    """Fusions tried on the valid days; the one with the best penalised lower bound is served."""
    max_members: Annotated[int, Field(ge=2), NotBool] = 3
    """Agents in a static fusion's weight grid: the ones with the best valid lower bound alone (>= 2)."""
    weight_grid: Annotated[tuple[NonNegative, ...], Field(min_length=2), pydantic.AfterValidator(_distinct)] = (
        0.0, 1.0)
    """Unnormalised weight values each member takes in the static grid (every combination, normalised to sum 1;
    the default: every equal-weight subset of the members). Each candidate costs exact slate marginals on
    every valid decision, per temperature tried."""
    lcb_alpha: Annotated[float, Field(gt=0.0, lt=1.0), NotBool] = 0.05
    """One-sided level of the valid DR lower bound value - z_{1 - alpha} std_err."""
    support_penalty: NonNegative = 0.05
    """kappa of the choice rule: reward per impression subtracted per unit of served mass on weakly
    supported items (CASP-style)."""
    min_support: Count = 5
    """An item is weakly supported when the valid days showed it fewer than this many times."""
    gate_epochs: Count = 200
    """Full-batch Adam steps of the learned gate."""
    gate_lr: Positive = 0.05
    """Learning rate of the gate."""
    choice: ChoiceName = "crossfit"
    """Which valid decisions the coordinator chooses on (``recrl.agents.coordinator``): 'split', a share of
    users (``choice_share``) kept from the members' tuning; 'crossfit', every valid decision, each scored with
    the members' temperatures chosen on the other half of the users; 'same', the decisions the members were
    tuned on."""
    choice_share: Annotated[float, Field(gt=0.0, lt=1.0), NotBool] = 0.5
    """With choice 'split': share of the valid users (drawn with ``seed``) whose decisions are kept from the
    members' tuning (baseline hyperparameters, the text agent, every temperature) for the coordinator."""
    anchor: AgentName | None = "actor-critic"
    """The agent the team starts from: a fusion (built around it) or another agent replaces it only where
    the paired valid lower bound of its gain in score over the anchor is above ``anchor_margin``
    (``recrl.agents.coordinator.anchored_choice``); None, or an agent the run does not have (the text agent
    without titles): the best score wins, fusion or not. The text team (``recrl.agents.text``) takes it as
    its base too, coordinator on or off."""
    anchor_margin: NonNegative = 0.0
    """Reward per impression the paired lower bound of a rival's gain over the anchor must exceed."""
    gate_folds: Annotated[int, Field(ge=2), NotBool] = 2
    """Folds of valid for the gate's cross-fitted choice score (each fold scored by a gate fitted on the others)."""
    seed: Seed = 0
    """Seed of the gate's folds and initialisation."""

    @field_validator("anchor")
    @classmethod
    def _anchor_is_trained(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value in ("click-specialist", "purchase-specialist") and info.data.get("specialists") is False:
            raise PydanticCustomError("anchor_untrained", "{anchor!r} is trained only with coordinator.specialists "
                                      "on", {"anchor": value})
        return value


@_config_model("flow")
class FlowConfig:
    """How the Prefect flow runs the stages (``pipelines/nightly.py``); no setting here changes a result."""

    io_retries: NonNegativeInt = 3
    """Retries of an I/O stage (simulate, ingest, evaluate's warehouse write, report, the runs row) after an
    I/O error (OSError, DuckDB's IOException such as a held lock); other errors fail at once."""
    retry_delay_seconds: NonNegative = 10.0
    """Wait before the first retry; each further retry waits twice as long (exponential backoff)."""
    timeout_minutes: Positive = 60.0
    """Time limit of every stage but training (a stage over it fails the run, naming the stage)."""
    train_timeout_minutes: Positive = 360.0
    """Time limit of each training stage (actor-critic, sequential)."""


def _existing_source(source: str) -> str:
    """``source`` unless it names input logs that are not there (an existing file or folder, or a glob
    matching at least one file); 'simulator' and 'lake' are always accepted."""
    if source in ("simulator", "lake"):
        return source
    if glob.has_magic(source):
        if not any(Path(p).is_file() for p in glob.iglob(source, recursive=True)):
            raise PydanticCustomError("source_glob", "no file matches this glob")
    elif not source:
        raise PydanticCustomError("source_empty", "expected 'simulator', 'lake', a file, a folder or a glob")
    elif not Path(source).exists():
        raise PydanticCustomError(
            "source_missing", "input logs not found (expected 'simulator', 'lake', a file, a folder or a glob)"
        )
    return source


def _data_root(value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            raise PydanticCustomError("data_root_empty", "expected a folder path")
        if Path(value).exists() and not Path(value).is_dir():
            raise PydanticCustomError("data_root_file", "is an existing file, expected a folder (or one to create)")
    return value


@_config_model("")
class PipelineConfig:
    """One nightly run: where data lives and every stage's settings."""

    data_root: Annotated[str, pydantic.AfterValidator(_data_root)] = "data"
    """Root of raw logs, lake, states, models, reports and the warehouse (a folder, created when missing)."""
    source: Annotated[str, pydantic.AfterValidator(_existing_source)] = "simulator"
    """'simulator' (write logs with the built-in simulator), 'lake' (use the lake already under
    ``data_root``; nothing is ingested), or logs to ingest: a file, a folder (its files, sorted) or a glob
    matching at least one file."""
    source_format: SourceFormat = "events"
    """Format of ``source`` when it is a path (see ``recrl ingest --help``)."""
    sim: SimConfig = field(default_factory=SimConfig)
    """The simulator (read when ``source`` is 'simulator')."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Raw logs -> Parquet lake."""
    states: StatesConfig = field(default_factory=StatesConfig)
    """Lake -> transitions."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    """The actor-critic."""
    sequential: SequentialConfig = field(default_factory=SequentialConfig)
    """The supervised SASRec-style baseline."""
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    """The baseline policies."""
    text: TextConfig = field(default_factory=TextConfig)
    """The text agent (item titles as features)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Off-policy evaluation."""
    gate: GateConfig = field(default_factory=GateConfig)
    """The deployment gate of the closed loop (``recrl demo``)."""
    coordinator: CoordinatorConfig = field(default_factory=CoordinatorConfig)
    """The team of agents and the coordinator that fuses them."""
    flow: FlowConfig = field(default_factory=FlowConfig)
    """Retries and time limits of the flow's stages."""

    @field_validator("states")
    @classmethod
    def _simulated_days_cover_the_splits(cls, value: StatesConfig, info: ValidationInfo) -> StatesConfig:
        sim = info.data.get("sim")
        if info.data.get("source") == "simulator" and sim is not None:
            held_out = value.valid_days + value.test_days
            if held_out >= sim.n_days:
                raise PydanticCustomError(
                    "no_train_days",
                    "valid_days + test_days ({held_out}) leave no train day of the {n_days} simulated days "
                    "(sim.n_days)",
                    {"held_out": held_out, "n_days": sim.n_days},
                )
        return value

    def check_source(self) -> None:
        """Check again, at run time, that the input logs still exist (``ConfigError`` naming ``source``)."""
        try:
            _existing_source(self.source)
        except PydanticCustomError as error:
            raise ConfigError([f"source: {error.message()}, got {self.source!r}"]) from None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError([f"config: not valid JSON: {error}"]) from None
        return from_dict(cls, data)

    @classmethod
    def from_file(cls, path: str | Path) -> PipelineConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        return cls.from_json(path.read_text())


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def from_dict(cls: type[C], data: Any) -> C:
    """Validate (JSON) ``data`` into config class ``cls``; unknown keys are errors, missing keys default.

    Raises ``ConfigError`` naming each bad field by its path in ``PipelineConfig``.
    """
    try:
        return _adapter(cls).validate_python(data)
    except pydantic.ValidationError as error:
        path = SECTIONS.get(cls, "")
        raise ConfigError.from_validation_error(error, cls, (path,) if path else ()) from None


# --- errors in plain words ------------------------------------------------------------------------

_PLAIN = {
    "int_type": "expected an integer", "int_parsing": "expected an integer", "int_from_float": "expected an integer",
    "float_type": "expected a number", "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false", "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "tuple_type": "expected a list", "list_type": "expected a list", "iterable_type": "expected a list",
    "dataclass_type": "expected an object of settings", "dataclass_args_type": "expected an object of settings",
    "dict_type": "expected an object of settings",
    "unexpected_keyword_argument": "unknown setting", "extra_forbidden": "unknown setting",
    "missing": "missing", "missing_argument": "missing",
}
_BOUNDS = {
    "greater_than": "must be greater than {gt}", "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}",
    "too_short": "must hold at least {min_length} value(s)", "too_long": "must hold at most {max_length} value(s)",
    "literal_error": "expected {expected}",
}


def _problem(error: Any, root: type | None, prefix: tuple[str, ...]) -> str:
    """One line, ``path: message, got VALUE``, for one of pydantic's ``ValidationError.errors()``."""
    loc = tuple(error["loc"])
    path = ""
    for part in prefix + loc:  # sim.position_bias[2]
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        message = _BOUNDS[kind].format(**ctx)
    elif kind in _PLAIN:
        message = _PLAIN[kind]
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = _field_names(root, loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return f"{path or 'config'}: {message}" + (f" (did you mean {near[0]}?)" if near else "")
    value = error.get("input")
    if kind in ("missing", "missing_argument") or dataclasses.is_dataclass(value) or isinstance(value, dict):
        return f"{path or 'config'}: {message}"
    shown = repr(value)
    if len(shown) > 120:  # keep both ends: a path's tail names the file, a list's head its kind
        shown = shown[:40] + "..." + shown[-77:]
    return f"{path or 'config'}: {message}, got {shown}"


def _field_names(root: type | None, loc: tuple[Any, ...]) -> list[str]:
    """Field names of the config class at ``loc`` below ``root`` (for 'did you mean')."""
    cls = root
    for part in loc:
        if cls is None or not dataclasses.is_dataclass(cls):
            return []
        hint = typing.get_type_hints(cls).get(str(part))
        cls = hint if isinstance(hint, type) else None
    return [f.name for f in dataclasses.fields(cls)] if cls is not None and dataclasses.is_dataclass(cls) else []


# --- command-line options from a config class ---------------------------------------------------

def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
                names: typing.Iterable[str] | None = None, prefix: str = "") -> None:
    """``--{prefix}field-name`` for each field of ``cls`` (or of ``names``), help from its docstring.

    Options are read as text and validated by ``options_config``, so a bad value gets the same
    ``ConfigError`` line as in a config file. ``prefix`` (e.g. ``"agent."``) tells apart fields of
    several sections on one command: ``--agent.epochs``, ``--sequential.epochs``.
    """
    defaults = cls()
    wanted = set(names) if names is not None else None
    for f in dataclasses.fields(cls):
        if wanted is not None and f.name not in wanted:
            continue
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            continue
        description = (cls.__pydantic_fields__[f.name].description or "").replace("\n", " ").replace("%", "%%")
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs: dict[str, Any] = {"default": None, "help": f"{description} (default: {shown})"}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kwargs["nargs"] = "+"
        parser.add_argument(f"--{prefix}{f.name.replace('_', '-')}", dest=prefix + f.name, **kwargs)


def options_config(cls: type[C], args: argparse.Namespace, base: C | None = None, prefix: str = "") -> C:
    """``base`` (default: ``cls()``) with the options given on the command line (those ``add_options``
    added with the same ``prefix``); ``ConfigError`` if bad."""
    given = {f.name: getattr(args, prefix + f.name) for f in dataclasses.fields(cls)
             if getattr(args, prefix + f.name, None) is not None}
    return dataclasses.replace(base if base is not None else cls(), **given)
