"""The off-policy actor-critic: importance ratios, learning direction, checkpoints."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from recrl.agents.actor_critic import (
    CONFIG_FILE,
    ActorCriticPolicy,
    load_checkpoint,
    train,
    uses_logged_propensity,
)
from recrl.agents.fit import TRAINING_LOG_FILE, fit_actor_critic
from recrl.agents.networks import NetworkShape, plackett_luce_marginal_at
from recrl.config import AgentConfig
from recrl.policies import StateBatch, plackett_luce_marginals, softmax_probs
from recrl.states import load_transitions, to_arrays
from recrl.states.export import TransitionArrays

SMALL_AGENT = AgentConfig(hidden_size=32, intermediate_size=64, epochs=3, warmup_epochs=3, batch_size=128, lr=5e-3,
                          prior="none")  # synthetic logs: the actor alone


def test_torch_marginal_at_logged_slot_equals_numpy_marginals() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(12, 0.5), size=64)
    action = rng.integers(0, 12, 64)
    position = rng.integers(0, 5, 64)  # slates of five: the race integral at slots 3 and 4
    expected = plackett_luce_marginals(probs, 5)[np.arange(64), action, position]
    got = plackett_luce_marginal_at(torch.tensor(probs), torch.tensor(action), torch.tensor(position))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-14)


def bandit_transitions(n: int, n_items: int, good_item: int, seed: int) -> TransitionArrays:
    """A uniform logger over items 2..V-1 at slot 0; only ``good_item`` earns reward."""
    rng = np.random.default_rng(seed)
    history = rng.integers(2, n_items, (n, 10))
    types = np.ones((n, 10), dtype=np.int64)
    states = StateBatch(history, types, np.array(["u"] * n, dtype=object))
    action = rng.integers(2, n_items, n)
    reward = (action == good_item).astype(np.float64)
    return TransitionArrays(
        states=states, next_states=states, action=action, position=np.zeros(n, dtype=np.int64),
        click=reward.astype(np.int8), cart=np.zeros(n, np.int8), purchase=np.zeros(n, np.int8), reward=reward,
        propensity=np.full(n, 1.0 / (n_items - 2)), done=np.ones(n, bool),
        request_id=np.array([f"r{i}" for i in range(n)], dtype=object),
        decision_id=np.array([f"d{i}" for i in range(n)], dtype=object),
        ts=np.zeros(n, dtype="datetime64[us]"), kind=np.array(["bandit"] * n, dtype=object),
    )


@pytest.mark.parametrize("behaviour", ["logged", "learned"])
def test_actor_learns_the_rewarded_item_from_uniform_logs(behaviour: str) -> None:
    n_items, good = 22, 7
    data = bandit_transitions(2000, n_items, good, seed=1)
    config = dataclasses.replace(SMALL_AGENT, behaviour=behaviour)
    model, logs = train(data, NetworkShape(n_items, 10, 1), config)
    probs = softmax_probs(ActorCriticPolicy(model).item_scores(data.states.take(slice(0, 500))), 1.0)
    assert np.mean(probs.argmax(axis=1) == good) > 0.9
    assert probs[:, good].mean() > 5.0 / (n_items - 2)  # far above the uniform logger's share
    assert all(np.isfinite([e["critic_loss"], e["actor_loss"], e["behaviour_loss"]]).all() for e in logs)


def test_inverse_propensity_weights_undo_the_loggers_exposure_bias() -> None:
    """The logger shows item 2 (click rate 0.3) 8x as often as item 3 (click rate 0.6): item 2 earns
    more clicks in the log, item 3 more per impression. Weighted by 1 / beta (cap 10 x the median, which
    leaves these weights uncapped) the actor must rank item 3 first; capped at the median, which here is
    item 2's weight, every weight is equal (no correction) and it ranks item 2 first: the weights, not the
    data alone, make the difference."""
    rng = np.random.default_rng(3)
    n, n_items = 4000, 6
    shown_share = np.array([0.8, 0.1, 0.05, 0.05])  # items 2..5
    click_rate = np.array([0.3, 0.6, 0.05, 0.05])
    data = bandit_transitions(n, n_items, good_item=-1, seed=3)
    pick = rng.choice(4, n, p=shown_share)
    reward = (rng.random(n) < click_rate[pick]).astype(np.float64)
    data = dataclasses.replace(data, action=pick + 2, reward=reward, click=reward.astype(np.int8),
                               propensity=shown_share[pick])
    top_item = {}
    for cap in (10.0, 1.0):
        # The supervised head counts clicks unweighted (item 2 has more): off, so the weights alone decide.
        weights_only = dataclasses.replace(SMALL_AGENT, weight_cap=cap, supervised_weight=0.0)
        model, _ = train(data, NetworkShape(n_items, 10, 1), weights_only)
        scores = ActorCriticPolicy(model).item_scores(data.states.take(slice(0, 500)))
        top_item[cap] = np.bincount(scores.argmax(axis=1), minlength=n_items).argmax()
    assert top_item == {10.0: 3, 1.0: 2}


def test_behaviour_source_rules() -> None:
    with_nan = np.array([0.5, np.nan])
    assert uses_logged_propensity(AgentConfig(behaviour="auto"), np.array([0.5, 0.2]))
    assert not uses_logged_propensity(AgentConfig(behaviour="auto"), with_nan)
    assert not uses_logged_propensity(AgentConfig(behaviour="learned"), np.array([0.5]))
    with pytest.raises(ValueError, match="no logged propensity"):
        uses_logged_propensity(AgentConfig(behaviour="logged"), with_nan)
    with pytest.raises(ValueError, match="behaviour"):
        uses_logged_propensity(AgentConfig(behaviour="sometimes"), with_nan)


def test_fit_writes_safetensors_checkpoint_that_reloads_to_the_same_policy(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    directory = fit_actor_critic(layout, config.states, config.agent, "ckpt-test")
    assert (directory / "actor_critic.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    epochs = json.loads((directory / TRAINING_LOG_FILE).read_text())
    assert len(epochs) == config.agent.epochs
    model, agent_config = load_checkpoint(directory)
    assert agent_config == config.agent
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 50))
    reloaded = ActorCriticPolicy(model).item_scores(states)
    again, _ = load_checkpoint(directory)
    np.testing.assert_array_equal(ActorCriticPolicy(again).item_scores(states), reloaded)
    assert np.isfinite(reloaded[:, 2:]).all()


def test_checkpoint_with_other_shapes_is_refused(tiny_pipeline, tmp_path) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    directory = fit_actor_critic(layout, config.states, dataclasses.replace(config.agent, epochs=1), "ckpt-shape")
    meta = json.loads((directory / CONFIG_FILE).read_text())
    meta["shape"]["n_items"] += 5
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(directory)
    with pytest.raises(FileNotFoundError, match="actor_critic"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("form", ["inverse", "ratio", "none"])
@pytest.mark.parametrize("topk", [False, True])
def test_actor_weight_forms_match_their_formulas(form: str, topk: bool) -> None:
    """u = min(u_raw, c median(u_raw)) [x K (1 - pi(a))^(K-1)], w = u / mean(u), against numpy."""
    from recrl.agents.actor_critic import actor_weight

    rng = np.random.default_rng(5)
    batch, n_items, slate = 64, 9, 3
    pi = torch.tensor(rng.dirichlet(np.ones(n_items), size=batch))
    action = torch.tensor(rng.integers(2, n_items, batch))
    position = torch.tensor(rng.integers(0, slate, batch))
    beta = torch.tensor(rng.uniform(0.01, 0.5, batch))
    config = AgentConfig(weight_form=form, topk_correction=topk, weight_cap=2.0)
    weight, raw, cap = actor_weight(config, pi, torch.zeros(batch, n_items), action, position, beta, True, slate)
    pi_np, a = pi.numpy(), action.numpy()
    if form == "inverse":
        expected_raw = 1.0 / beta.numpy()
    elif form == "ratio":
        expected_raw = plackett_luce_marginals(pi_np, slate)[np.arange(batch), a, position.numpy()] / beta.numpy()
    else:
        expected_raw = np.ones(batch)
    np.testing.assert_allclose(raw.numpy(), expected_raw, rtol=1e-9)
    lower_median = np.sort(expected_raw)[(batch - 1) // 2]  # torch's median: the lower middle value
    u = np.minimum(expected_raw, 2.0 * lower_median)
    if topk:
        u = u * slate * (1.0 - pi_np[np.arange(batch), a]) ** (slate - 1)
    np.testing.assert_allclose(weight.numpy(), u / u.mean(), rtol=1e-6)
    assert float(cap) == pytest.approx(2.0 * float(raw.median()))


def test_advantage_return_is_nonnegative_and_zero_without_feedback() -> None:
    from recrl.agents.actor_critic import actor_return

    rng = np.random.default_rng(6)
    batch, n_items, slate = 32, 10, 2
    q_both = [torch.tensor(rng.normal(size=(batch, n_items, slate))) for _ in range(2)]
    reward = torch.tensor(rng.choice([0.0, 0.2, 1.0], batch))
    rows, action = torch.arange(batch), torch.tensor(rng.integers(2, n_items, batch))
    position, negatives = torch.tensor(rng.integers(0, slate, batch)), torch.tensor(rng.integers(2, n_items, (batch, 4)))
    config = AgentConfig(actor_return="advantage", warmup_epochs=0)
    adv = actor_return(config, 1, reward, torch.zeros(batch), q_both, rows, action, position, negatives)
    q = torch.minimum(*q_both)
    expected = (q[rows, action, position] - (q[rows, action, position] + q[rows[:, None], negatives, position[:, None]].sum(1)) / 5)
    np.testing.assert_allclose(adv.numpy(), (expected.clamp_min(0) * (reward > 0)).numpy(), rtol=1e-9)
    # During warm-up every choice weights by the logged reward.
    warm = AgentConfig(actor_return="advantage", warmup_epochs=1)
    assert torch.equal(actor_return(warm, 0, reward, torch.zeros(batch), q_both, rows, action, position, negatives), reward)


PRIOR_AGENT = dataclasses.replace(SMALL_AGENT, epochs=1, warmup_epochs=1, prior="session-knn")


def prior_world(tiny_pipeline):
    """The tiny pipeline's train split and a session-kNN prior fitted on it (untuned: fast)."""
    from recrl.agents.prior import fit_prior
    from recrl.baselines import interactions_from_transitions
    from recrl.config import BaselineConfig
    from recrl.states import load_vocab

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    table = load_transitions(layout, "train")
    n_items = load_vocab(layout).size
    prior = fit_prior("session-knn", interactions_from_transitions(table, n_items), BaselineConfig(tuning_trials=1))
    data = to_arrays(table, config.states.history_len)
    return data, NetworkShape(n_items, config.states.history_len, 1 + int(data.position.max())), prior


def test_residual_actor_serves_the_prior_plus_its_correction(tiny_pipeline) -> None:
    """logits = f_theta + alpha z(prior): with f_theta zeroed the policy is alpha x the standardised
    prior scores; trained, it differs from the same actor without a prior."""
    from recrl.agents.prior import standardise

    data, shape, prior = prior_world(tiny_pipeline)
    model, _ = train(data, shape, PRIOR_AGENT, prior=prior)
    assert model.prior is prior
    states = data.states.take(slice(0, 64))
    expected = standardise(prior.item_scores(states))[:, 2:]
    assert np.ptp(expected, axis=1).min() > 0  # the prior tells these states' items apart
    with torch.no_grad():
        model.actor_proj.weight.zero_()
        model.actor_proj.bias.zero_()
        model.actor_bias.zero_()
        alpha = float(model.prior_weight)
    np.testing.assert_allclose(ActorCriticPolicy(model).item_scores(states)[:, 2:], alpha * expected, rtol=1e-5,
                               atol=1e-5)

    trained, _ = train(data, shape, PRIOR_AGENT, prior=prior)
    alone, _ = train(data, shape, dataclasses.replace(PRIOR_AGENT, prior="none"))
    with_prior, without = ActorCriticPolicy(trained).item_scores(states), ActorCriticPolicy(alone).item_scores(states)
    assert np.abs(with_prior[:, 2:] - without[:, 2:]).max() > 1.0
    # The prior, not the initialisation, moves the ranking towards its own top item.
    prior_top = expected.argmax(axis=1)
    rows = np.arange(len(states))
    assert (with_prior[:, 2:][rows, prior_top] >= np.quantile(with_prior[:, 2:], 0.9, axis=1)).mean() > 0.9


def test_prior_must_match_the_config(tiny_pipeline) -> None:
    data, shape, prior = prior_world(tiny_pipeline)
    with pytest.raises(ValueError, match="prior"):
        train(data, shape, PRIOR_AGENT)
    with pytest.raises(ValueError, match="prior"):
        train(data, shape, dataclasses.replace(PRIOR_AGENT, prior="none"), prior=prior)


def test_prior_is_scored_per_batch_never_for_every_transition(tiny_pipeline, monkeypatch) -> None:
    """Bounded memory: the prior scores at most one batch of states at a time (the 5,000-item world
    must not allocate T x V)."""
    import recrl.agents.actor_critic as actor_critic

    data, shape, prior = prior_world(tiny_pipeline)
    sizes = []
    score = actor_critic.prior_z
    monkeypatch.setattr(actor_critic, "prior_z", lambda p, s: sizes.append(len(s)) or score(p, s))
    train(data, shape, dataclasses.replace(PRIOR_AGENT, batch_size=64), prior=prior)
    assert sizes and max(sizes) <= 64 + 1  # array_split batches differ by at most one row
    assert len(sizes) >= 2 * (len(data) // 65)  # the state and the next state of every batch


def test_fit_with_a_prior_saves_it_and_reloads_to_the_same_policy(tiny_pipeline) -> None:
    from recrl.agents.prior import PRIOR_DIR

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    agent = dataclasses.replace(config.agent, epochs=1, warmup_epochs=1, prior="best")
    directory = fit_actor_critic(layout, config.states, agent, "ckpt-prior")
    assert (directory / PRIOR_DIR / "params.safetensors").is_file()
    model, agent_config = load_checkpoint(directory)
    assert agent_config == agent and model.prior.kind in ("session-knn", "item-knn", "pure-svd")
    assert model.prior.tuning is not None  # tuned on valid
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 50))
    scores = ActorCriticPolicy(model).item_scores(states)
    again, _ = load_checkpoint(directory)
    np.testing.assert_array_equal(ActorCriticPolicy(again).item_scores(states), scores)
    assert np.isfinite(scores[:, 2:]).all()


def test_checkpoint_from_before_the_prior_loads_without_one(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    directory = fit_actor_critic(layout, config.states, dataclasses.replace(config.agent, epochs=1, prior="none"),
                                 "ckpt-old")
    meta = json.loads((directory / CONFIG_FILE).read_text())
    del meta["agent"]["prior"], meta["agent"]["prior_weight"]
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    model, agent_config = load_checkpoint(directory)
    assert agent_config.prior == "none" and model.prior is None and model.prior_weight is None


@pytest.mark.parametrize(("field", "value"), [("prior", "svd"), ("prior", None), ("prior_weight", -1.0),
                                              ("prior_weight", True)])
def test_prior_config_is_validated(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        AgentConfig(**{field: value})


def test_an_ensemble_prior_averages_its_members_standardised_scores_and_reloads(tiny_pipeline) -> None:
    from recrl.agents.prior import PRIOR_DIR, standardise

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    agent = dataclasses.replace(config.agent, epochs=1, warmup_epochs=1, prior="session-knn+pure-svd")
    directory = fit_actor_critic(layout, config.states, agent, "ckpt-ensemble")
    assert {p.name for p in (directory / PRIOR_DIR).iterdir()} == {"session-knn", "pure-svd"}
    model, _ = load_checkpoint(directory)
    knn, svd = model.prior.members
    assert (knn.kind, svd.kind) == ("session-knn", "pure-svd") and knn.tuning is not None
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 50))
    expected = (standardise(knn.item_scores(states)) + standardise(svd.item_scores(states))) / 2
    np.testing.assert_allclose(model.prior.item_scores(states), expected, rtol=1e-6)
    again, _ = load_checkpoint(directory)
    np.testing.assert_array_equal(ActorCriticPolicy(again).item_scores(states),
                                  ActorCriticPolicy(model).item_scores(states))


def test_a_text_ensemble_prior_reads_the_titles_and_reloads(tiny_pipeline) -> None:
    """'session-knn+text': session-kNN and the tuned text agent (title embeddings), averaged standardised;
    saved with the checkpoint and reloaded to the same policy."""
    from recrl.agents.prior import PRIOR_DIR, standardise
    from recrl.agents.text import text_history_part

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    agent = dataclasses.replace(config.agent, epochs=1, warmup_epochs=1, prior="session-knn+text")
    directory = fit_actor_critic(layout, config.states, agent, "ckpt-text-prior", text=config.text)
    assert {p.name for p in (directory / PRIOR_DIR).iterdir()} == {"session-knn", "text"}
    model, _ = load_checkpoint(directory)
    knn, text = model.prior.members
    assert (knn.kind, text.kind) == ("session-knn", "text") and text.tuning is not None
    states = to_arrays(load_transitions(layout, "test"), config.states.history_len).states.take(slice(0, 50))
    assert (np.ptp(text_history_part(text, states)[:, 2:], axis=1) > 0).mean() > 0.5  # titles tell items apart
    expected = (standardise(knn.item_scores(states)) + standardise(text.item_scores(states))) / 2
    np.testing.assert_allclose(model.prior.item_scores(states), expected, rtol=1e-6)
    again, _ = load_checkpoint(directory)
    np.testing.assert_array_equal(ActorCriticPolicy(again).item_scores(states),
                                  ActorCriticPolicy(model).item_scores(states))


def test_a_text_prior_without_titles_keeps_its_cf_member_or_says_what_is_missing(tiny_pipeline) -> None:
    from recrl.agents.prior import PRIOR_DIR, fit_prior
    from recrl.baselines import interactions_from_transitions
    from recrl.config import BaselineConfig
    from recrl.states import load_vocab

    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    no_text = dataclasses.replace(config.text, enabled=False)  # as for a lake without titles (OBD, OTTO)
    agent = dataclasses.replace(config.agent, epochs=1, warmup_epochs=1, prior="session-knn+text")
    directory = fit_actor_critic(layout, config.states, agent, "ckpt-text-off", text=no_text)
    assert [p.name for p in (directory / PRIOR_DIR).iterdir()] == ["session-knn"]
    model, _ = load_checkpoint(directory)
    assert [m.kind for m in model.prior.members] == ["session-knn"]
    interactions = interactions_from_transitions(load_transitions(layout, "train"), load_vocab(layout).size)
    with pytest.raises(ValueError, match="prior 'text' needs item titles"):
        fit_prior("text", interactions, BaselineConfig(tuning_trials=1))
