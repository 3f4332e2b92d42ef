"""The coordinator: fusions, the learned gate, the valid-day choice rule, and the team in the evaluation stage."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

from recrl.agents.coordinator import (
    FUSIONS,
    GREEDY_FUSION_TEMPERATURE,
    Candidate,
    Team,
    ValidDays,
    anchored_choice,
    choice_rows,
    choose_team,
    fit_gate,
    gain_lower_bound,
    gate_weights,
    log_served,
    score_candidate,
    weight_grid,
)
from recrl.agents.protocol import BaselineAgent, ExplorationAgent
from recrl.baselines import fit_baselines, interactions_from_transitions
from recrl.config import BaselineConfig, CoordinatorConfig, EvalConfig, FusionName
from recrl.evaluate.offpolicy import decision_probs
from recrl.policies import GREEDY, N_RESERVED, SERVING_EPSILON, StateBatch, slate_size_of, softmax_probs
from recrl.states import load_transitions, to_arrays
from recrl.states.export import TransitionArrays

N_ITEMS = 12  # 10 servable items


def fixed_agent(favoured: list[int], temperature: float = 0.5, name: str = "fixed") -> ExplorationAgent:
    """An agent whose scores favour ``favoured`` items whatever the state (log(1 + 100) vs 0)."""
    counts = np.zeros(N_ITEMS)
    counts[favoured] = 100.0
    return ExplorationAgent(counts, temperature, name)


def decisions(n: int, seed: int, rewarded: typing.Callable[[np.ndarray, np.ndarray], np.ndarray]) -> TransitionArrays:
    """A uniform logger at slot 0 over the servable items; ``rewarded(action, filled)`` says which earn 1.
    Half the states have a full history, half one event."""
    rng = np.random.default_rng(seed)
    filled = rng.random(n) < 0.5
    types = np.zeros((n, 10), dtype=np.int64)
    types[:, -1] = 1
    types[filled] = 1
    history = np.where(types > 0, rng.integers(N_RESERVED, N_ITEMS, (n, 10)), 0)
    users = np.array([f"u{i % 97}" for i in range(n)], dtype=object)
    states = StateBatch(history, types, users)
    action = rng.integers(N_RESERVED, N_ITEMS, n)
    reward = rewarded(action, filled).astype(np.float64)
    zeros = np.zeros(n, np.int8)
    return TransitionArrays(
        states=states, next_states=states, action=action, position=np.zeros(n, dtype=np.int64),
        click=reward.astype(np.int8), cart=zeros, purchase=zeros, reward=reward,
        propensity=np.full(n, 1.0 / (N_ITEMS - N_RESERVED)), done=np.ones(n, bool),
        request_id=np.array([f"r{i}" for i in range(n)], dtype=object),
        decision_id=np.array([f"d{i}" for i in range(n)], dtype=object),
        ts=np.zeros(n, dtype="datetime64[us]"), kind=np.array(["bandit"] * n, dtype=object),
    )


def test_fusions_match_the_config_choices() -> None:
    assert set(typing.get_args(FusionName)) == set(FUSIONS)


def test_weight_grid_is_every_normalised_combination_once() -> None:
    grid = weight_grid(3, (0.0, 0.5, 1.0))
    # 26 non-zero combinations; (0.5, 0.5, 0) = (1, 1, 0) etc. collapse: 3 one-hot, 3 pairs, 6 (1, .5, 0),
    # 3 (1, .5, .5), 3 (1, 1, .5), 1 equal.
    assert len(grid) == 19
    np.testing.assert_allclose([w.sum() for w in grid], 1.0)
    assert {tuple(w) for w in grid} >= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}


def test_one_hot_average_serves_the_member_and_borda_of_opposite_rankings_is_flat() -> None:
    states = decisions(8, 0, lambda a, f: a == 2).states
    rising = ExplorationAgent(np.arange(N_ITEMS, dtype=float) ** 2, 0.3, "rising")
    falling = ExplorationAgent(np.arange(N_ITEMS, dtype=float)[::-1] ** 2, 0.3, "falling")
    team = Team([rising, falling], "average", weights=np.array([1.0, 0.0]), temperature=1.0)
    member = softmax_probs(rising.item_scores(states), rising.temperature)
    # Served again through softmax_probs, the exploration is mixed in twice: at most eps apart.
    np.testing.assert_allclose(softmax_probs(team.item_scores(states), 1.0), member, atol=SERVING_EPSILON)
    # Rank voting: two voters with reversed rankings and equal weight give every item the same points.
    borda = Team([rising, falling], "borda", weights=np.array([0.5, 0.5]))
    np.testing.assert_allclose(borda.item_scores(states)[:, N_RESERVED:], 0.0, atol=1e-12)
    # ... and with more weight on one voter its top item leads.
    leaning = Team([rising, falling], "borda", weights=np.array([0.7, 0.3])).item_scores(states)
    assert (leaning[:, N_RESERVED:].argmax(axis=1) == N_ITEMS - 1 - N_RESERVED).all()


def test_gate_learns_which_member_users_reward_in_which_state() -> None:
    """Users with a long history reward items 2-4 (member 'long'), users with one event items 7-9."""
    long_items, short_items = [2, 3, 4], [7, 8, 9]

    def rewarded(action, filled):
        return np.where(filled, np.isin(action, long_items), np.isin(action, short_items))

    agents = [fixed_agent(long_items, name="long"), fixed_agent(short_items, name="short")]
    logged = decisions(4000, 1, rewarded)
    log_probs = np.stack([log_served(a, logged.states) for a in agents])
    gate = fit_gate(log_probs, logged.states, logged, CoordinatorConfig())
    held_out = decisions(400, 2, rewarded)
    weights = gate_weights(gate, held_out.states)  # (B, 2)
    filled = held_out.states.history_types[:, 0] > 0
    assert weights[filled, 0].mean() > 0.75 and weights[~filled, 1].mean() > 0.75  # 0.5 = no idea
    # The gated team is worth more than either member on the held-out decisions (true expected reward).
    team = Team(agents, "gate", gate=gate)

    def value(agent) -> float:
        probs = softmax_probs(agent.item_scores(held_out.states), agent.temperature)
        good = np.where(filled[:, None], np.isin(np.arange(N_ITEMS), long_items), np.isin(np.arange(N_ITEMS), short_items))
        return float((probs * good).sum(axis=1).mean())

    assert value(team) > max(value(a) for a in agents) + 0.3


def test_choice_score_subtracts_the_penalty_for_mass_on_weakly_supported_items() -> None:
    logged = decisions(2000, 3, lambda a, f: a == 5)
    q_logged = np.zeros(len(logged))
    q_candidates = np.zeros((len(logged), N_ITEMS))
    valid = ValidDays.of(logged, q_logged, q_candidates, min_support=1)
    valid = dataclasses.replace(valid, weakly_supported=np.isin(np.arange(N_ITEMS), [8, 9]))
    scores = fixed_agent([8, 9]).item_scores(logged.states)
    probs = decision_probs(scores, logged.position, 0.5, 1)
    no_penalty = score_candidate(scores, 0.5, valid, CoordinatorConfig(support_penalty=0.0), EvalConfig(), 1)
    penalised = score_candidate(scores, 0.5, valid, CoordinatorConfig(support_penalty=0.2), EvalConfig(), 1)
    weak = probs[:, [8, 9]].sum(axis=1).mean()
    assert weak > 0.5 and penalised[2] == pytest.approx(weak)
    assert penalised[3] == pytest.approx(no_penalty[3] - 0.2 * weak)
    # With q_hat = 0, DR is IPS: the mean of pi(a_i) / p_i r_i.
    assert no_penalty[0] == pytest.approx(np.mean(probs[np.arange(len(logged)), logged.action] * 10 * logged.reward))


def test_choice_on_the_tiny_world_serves_the_best_scored_fusion(tiny_pipeline) -> None:
    layout, config = tiny_pipeline.layout, tiny_pipeline.config
    train_table = load_transitions(layout, "train")
    valid = to_arrays(load_transitions(layout, "valid", kind="bandit"), config.states.history_len)
    n_items = int(train_table.column("action").to_numpy().max()) + 1
    fitted = fit_baselines(interactions_from_transitions(train_table, n_items), BaselineConfig(tuning_trials=1))
    agents = [BaselineAgent(b) for b in fitted]
    for agent in agents:
        agent.temperature = 0.2
    rng = np.random.default_rng(0)  # a q_hat with no signal: DR's correction carries the value
    q_logged = np.full(len(valid), valid.reward.mean())
    q_candidates = np.full((len(valid), n_items), valid.reward.mean()) + 1e-3 * rng.random((len(valid), n_items))
    valid_days = ValidDays.of(valid, q_logged, q_candidates, min_support=5)
    coordinator = CoordinatorConfig(gate_epochs=50, anchor=None)  # no anchor: the best score is served
    choice = choose_team(agents, valid_days, coordinator, EvalConfig(), (0.2, 1.0), slate_size_of(valid.position))
    team, best = choice.team, choice.best
    assert [c.fusion for c in best] == list(coordinator.fusions)
    chosen = max(best, key=lambda c: c.score)
    assert team.fusion == chosen.fusion and team.temperature == chosen.temperature
    for candidate in best:
        assert candidate.weights.sum() == pytest.approx(1.0)
        assert candidate.valid_lcb < candidate.valid_dr
        assert candidate.score == pytest.approx(candidate.valid_lcb - coordinator.support_penalty * candidate.weak_mass)
    static = [c for c in best if c.fusion != "gate"]
    # Static weights sit on the max_members agents with the best single scores only.
    top = {a.name for a, _ in sorted(zip(agents, choice.alone, strict=True),
                                     key=lambda pair: -pair[1].score)[:coordinator.max_members]}
    for candidate in static:
        assert {a.name for a, w in zip(agents, candidate.weights, strict=True) if w > 0} <= top


def test_choice_rows_keep_each_user_on_one_side() -> None:
    states = decisions(1000, 4, lambda a, f: a == 2).states  # 97 users
    rows = choice_rows(states, 0.5, seed=0)
    users = states.user_ids.astype(str)
    assert set(users[rows]).isdisjoint(users[~rows]) and len(set(users[rows])) == round(0.5 * 97)
    np.testing.assert_array_equal(rows, choice_rows(states, 0.5, seed=0))
    assert not choice_rows(states, 0.0, seed=0).any()
    assert (~choice_rows(states, 0.999, seed=0)).any()  # the members keep at least one user


def test_the_team_falls_back_on_one_agent_where_fusing_loses() -> None:
    """Users reward items 2-4 only: the agent favouring them alone beats every mix with the one that does not."""
    good, bad = fixed_agent([2, 3, 4], name="good"), fixed_agent([7, 8, 9], name="bad")
    logged = decisions(4000, 5, lambda a, f: np.isin(a, [2, 3, 4]))
    valid = ValidDays.of(logged, np.zeros(len(logged)), np.zeros((len(logged), N_ITEMS)), min_support=1)
    coordinator = CoordinatorConfig(fusions=("average", "borda"), anchor=None)
    choice = choose_team([bad, good], valid, coordinator, EvalConfig(), (0.2, 1.0), 1)
    np.testing.assert_array_equal(choice.team.weights, [0.0, 1.0])
    assert max(c.score for c in choice.alone) == pytest.approx(max(c.score for c in choice.best))


def test_a_rival_replaces_the_anchor_only_on_paired_evidence() -> None:
    """Scores on the same decisions share their noise: a gain of 0.01 everywhere shows through noise ten
    times larger, a gain of 0.01 on average with noise of its own does not."""
    rng = np.random.default_rng(7)
    shared = rng.normal(0.1, 0.3, 2000)  # (B,) what every policy's DR contributions share

    def candidate(decision_scores, fusion="average"):
        mean = float(decision_scores.mean())
        lcb = mean - 1.645 * float(decision_scores.std(ddof=1)) / np.sqrt(len(decision_scores))
        return Candidate(fusion, np.array([1.0, 0.0]), 1.0, mean, lcb, 0.0, lcb, decision_scores)

    anchor = candidate(shared)
    steady = candidate(shared + 0.01 + rng.normal(0.0, 0.01, 2000), fusion="borda")
    noisy = candidate(shared + 0.01 + rng.normal(0.0, 0.3, 2000), fusion="gate")
    assert gain_lower_bound(anchor, anchor, 0.05) == 0.0
    assert steady.valid_lcb < anchor.valid_dr < steady.valid_dr  # unpaired, the steady gain is invisible
    assert gain_lower_bound(steady, anchor, 0.05) > 0.0 > gain_lower_bound(noisy, anchor, 0.05)
    assert anchored_choice([anchor, steady, noisy], anchor, 0.05, margin=0.0) is steady
    assert anchored_choice([anchor, noisy], anchor, 0.05, margin=0.0) is anchor
    # The best of many bounds: a gain that clears one test at 95% need not clear the largest of twenty.
    def gain(mean):  # (B,) noise of sd 0.01 exactly, mean ``mean`` exactly: bounds known in closed form
        noise = rng.normal(0.0, 0.01, 2000)
        return mean + (noise - noise.mean()) / noise.std(ddof=1) * 0.01

    marginal = candidate(shared + gain(0.0005), fusion="borda")  # bound 0.0005 - z * 0.01 / sqrt(2000)
    assert gain_lower_bound(marginal, anchor, 0.05) > 0.0 > gain_lower_bound(marginal, anchor, 0.05 / 20)
    field = [anchor, marginal] + [candidate(shared + gain(0.0)) for _ in range(19)]
    assert anchored_choice(field, anchor, 0.05, margin=0.0, familywise=False) is marginal
    assert anchored_choice(field, anchor, 0.05, margin=0.0) is anchor
    assert anchored_choice([anchor, steady, noisy], anchor, 0.05, margin=0.02) is anchor  # 0.01 < 0.02
    assert anchored_choice([anchor, steady, noisy], None, 0.05, margin=0.0) is max([anchor, steady, noisy],
                                                                                   key=lambda c: c.score)


@pytest.mark.parametrize("rewarded_items, anchor_stays", [([7, 8, 9], True), ([2, 3, 4], False)])
def test_the_team_keeps_its_anchor_unless_a_rival_gains_on_valid(rewarded_items, anchor_stays) -> None:
    anchor = fixed_agent([7, 8, 9], name="actor-critic")  # the default anchor's name
    rival = fixed_agent([2, 3, 4], name="session-knn")
    logged = decisions(4000, 8, lambda a, f: np.isin(a, rewarded_items))
    valid = ValidDays.of(logged, np.zeros(len(logged)), np.zeros((len(logged), N_ITEMS)), min_support=1)
    choice = choose_team([anchor, rival], valid, CoordinatorConfig(fusions=("average", "borda")), EvalConfig(),
                         (0.2, 1.0), 1)
    assert choice.anchor == 0
    if anchor_stays:
        assert choice.chosen is choice.alone[0]
        np.testing.assert_array_equal(choice.team.weights, [1.0, 0.0])
    else:
        assert gain_lower_bound(choice.chosen, choice.alone[0], choice.gain_alpha) > 0.0
        assert choice.team.weights[1] > 0.0
    assert 0.05 / (len(choice.best) + len(choice.alone)) <= choice.gain_alpha < 0.05  # alpha / rivals
    rows = choice.weight_rows([anchor, rival])
    assert {row["anchor"] for row in rows} == {"actor-critic"}
    served = [row for row in rows if row["chosen"]]
    assert max(row["gain_lcb"] for row in rows) == served[0]["gain_lcb"]


def test_log_served_at_per_state_temperatures_is_each_temperature_s_rows() -> None:
    states = decisions(50, 6, lambda a, f: a == 2).states
    agent = ExplorationAgent(np.arange(N_ITEMS, dtype=float) ** 2, 0.3, "rising")
    temperatures = np.where(np.arange(50) % 2 == 0, 0.3, 2.0)
    mixed = log_served(agent, states, temperatures)
    np.testing.assert_array_equal(mixed[::2], log_served(agent, states)[::2])
    agent.temperature = 2.0
    np.testing.assert_array_equal(mixed[1::2], log_served(agent, states)[1::2])


def test_a_one_hot_team_serves_a_sharp_member_s_whole_slate_exactly() -> None:
    """The member's later slots follow its ranking: a floor under its log probabilities would tie every item
    below the floor and draw slots 2 and 3 uniformly among them."""
    states = decisions(60, 9, lambda a, f: a == 2).states
    sharp = ExplorationAgent(np.arange(N_ITEMS, dtype=float) ** 2, 0.02, "actor-critic")  # gaps of >= 5 / T
    other = fixed_agent([2, 3], name="text")
    team = Team([sharp, other], "average", weights=np.array([1.0, 0.0]))
    positions = np.arange(60) % 3
    served_alone = decision_probs(sharp.item_scores(states), positions, sharp.temperature, 3)
    served_by_team = decision_probs(team.item_scores(states), positions, team.temperature, 3)
    np.testing.assert_allclose(served_by_team, served_alone, atol=1e-12)
    third = served_alone[positions == 2]
    assert (third.argmax(axis=1) == N_ITEMS - 3).all() and third.max() > 0.99  # the third-ranked item


def test_a_greedy_member_enters_fusions_at_a_finite_scale_and_a_greedy_one_hot_team_serves_it_exactly() -> None:
    """A member served greedily has log-probabilities of -inf off its top item; it enters a fusion as its
    softmax at ``GREEDY_FUSION_TEMPERATURE`` (finite everywhere), and the one-hot average served greedily is
    the member's own greedy slate at every slot."""
    states = decisions(60, 9, lambda a, f: a == 2).states
    greedy = ExplorationAgent(np.arange(N_ITEMS, dtype=float) ** 2, GREEDY, "actor-critic")
    other = fixed_agent([2, 3], name="text")
    log_probs = log_served(greedy, states)
    assert np.isfinite(log_probs).all()
    greedy.temperature = GREEDY_FUSION_TEMPERATURE
    np.testing.assert_array_equal(log_probs, log_served(greedy, states))
    greedy.temperature = GREEDY
    team = Team([greedy, other], "average", weights=np.array([1.0, 0.0]), temperature=GREEDY)
    positions = np.arange(60) % 3
    np.testing.assert_array_equal(decision_probs(team.item_scores(states), positions, GREEDY, 3),
                                  decision_probs(greedy.item_scores(states), positions, GREEDY, 3))
