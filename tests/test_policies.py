"""Plackett-Luce position marginals and the softmax serving rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recrl import policies
from recrl.policies import (
    GREEDY,
    MAX_SLATE_SIZE,
    N_RESERVED,
    SERVING_EPSILON,
    SOFTMAX_FLOOR,
    explore,
    plackett_luce_marginals,
    plackett_luce_slot_marginals,
    served_slate_marginals,
    served_slot_probs,
    slate_size_of,
    softmax_probs,
)


def sample_slates(probs: np.ndarray, slate_size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Gumbel-top-k draws: exactly Plackett-Luce sampling without replacement (log 0 = -inf: never drawn)."""
    with np.errstate(divide="ignore"):
        keys = np.log(probs)[None, :] - np.log(-np.log(rng.random((n, len(probs)))))
    return np.argsort(-keys, axis=1)[:, :slate_size]


@pytest.mark.parametrize("concentration", [0.3, 1.0, 5.0])
def test_marginals_match_monte_carlo(concentration: float) -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(8, concentration))
    exact = plackett_luce_marginals(probs[None, :], 3)[0]  # (V, K)
    n = 200_000
    slates = sample_slates(probs, 3, n, rng)
    for k in range(3):
        freq = np.bincount(slates[:, k], minlength=8) / n
        sigma = np.sqrt(exact[:, k] * (1 - exact[:, k]) / n)
        assert np.all(np.abs(freq - exact[:, k]) <= 5 * sigma + 1e-9)


def test_marginals_are_distributions_per_position_and_item() -> None:
    probs = np.random.default_rng(0).dirichlet(np.ones(30), size=4)
    marginals = plackett_luce_marginals(probs, 3)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-12)  # each slot holds one item
    assert np.all(marginals.sum(axis=2) <= 1.0 + 1e-12)  # an item is shown at most once
    np.testing.assert_allclose(marginals[:, :, 0], probs)


def test_uniform_policy_has_uniform_marginals() -> None:
    marginals = plackett_luce_marginals(np.full((1, 10), 0.1), 3)
    np.testing.assert_allclose(marginals, 0.1, atol=1e-12)


def test_marginals_reject_unsupported_slate_size() -> None:
    with pytest.raises(ValueError, match="slate_size"):
        plackett_luce_marginals(np.full((1, 10), 0.1), MAX_SLATE_SIZE + 1)
    with pytest.raises(ValueError, match="slots"):  # more slots than items
        plackett_luce_slot_marginals(np.full((1, 3), 1 / 3), np.array([3]))


def brute_force_marginals(probs: np.ndarray, slate_size: int) -> np.ndarray:
    """(V, K) by enumerating every ordered slate: P(slate) = prod_k p_{i_k} / (mass not yet drawn)."""
    out = np.zeros((len(probs), slate_size))
    for slate in itertools.permutations(range(len(probs)), slate_size):
        chance, left = 1.0, list(range(len(probs)))
        for i in slate:
            chance *= probs[i] / probs[left].sum()
            left.remove(i)
        out[list(slate), np.arange(slate_size)] += chance
    return out


@pytest.mark.parametrize("concentration", [0.3, 1.0, 5.0])
@pytest.mark.parametrize("n_items", [5, 8])
def test_marginals_up_to_five_slots_equal_brute_force_enumeration(concentration: float, n_items: int) -> None:
    probs = np.random.default_rng(n_items).dirichlet(np.full(n_items, concentration), size=3)
    sharp = softmax_probs(np.random.default_rng(1).normal(size=(2, n_items + 2)) * 30.0, 0.1)[:, 2:]
    for p in [*probs, *(sharp / sharp.sum(axis=1, keepdims=True))]:
        np.testing.assert_allclose(plackett_luce_marginals(p[None], 5)[0], brute_force_marginals(p, 5), atol=1e-10)


def test_a_sharp_policys_later_slots_follow_its_ranking() -> None:
    """Scores 1 apart at T = 0.05: every item but the top one holds e^-20 of the mass. Slot k is then the
    k-th ranked item almost surely, exactly as enumeration says (a 1e-6 floor in the softmax made slots 1
    and 2 uniform over the other items), and so for gaps of e^-200 between every pair of ranks."""
    scores = np.array([[0.0, 0.0, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0]])
    probs = softmax_probs(scores, 0.05)
    assert policies.left_after_likeliest(probs[:, 2:], 1)[0] < 1e-8  # 1 - p_top would cancel
    marginals = plackett_luce_marginals(probs, 5)[0]
    np.testing.assert_allclose(marginals[2:], brute_force_marginals(probs[0, 2:], 5), atol=1e-10)
    np.testing.assert_allclose(np.diag(marginals[2:7]), 1.0, atol=1e-8)  # item ranked k at slot k
    sharper = softmax_probs(scores, 0.005)
    np.testing.assert_allclose(plackett_luce_marginals(sharper, 3)[0, 2:], brute_force_marginals(sharper[0, 2:], 3),
                               atol=1e-12)


def test_near_deterministic_marginals_equal_enumeration_whatever_dominates() -> None:
    """One item with all but e^-100 of the mass, two near-equal items with all of it, three nested ones:
    the closed forms of slots 1 and 2 cancel in none of them (1e-6 of a floor was their conditioning)."""
    rng = np.random.default_rng(7)
    shapes = [lambda: rng.normal(size=7) * 200.0,
              lambda: np.r_[100.0, 100.0 - rng.uniform(), rng.normal(size=5)],
              lambda: np.r_[200.0, 100.0 + rng.normal(), rng.normal(size=5)],
              lambda: np.r_[300.0, 200.0, 100.0, rng.normal(size=4)]]
    for trial in range(40):
        logits = rng.permutation(shapes[trial % 4]())
        probs = softmax_probs(np.r_[0.0, 0.0, logits][None], 1.0)[0, 2:]
        np.testing.assert_allclose(plackett_luce_marginals(probs[None], 4)[0], brute_force_marginals(probs, 4),
                                   atol=1e-13)


def test_race_quadrature_has_converged_on_two_hundred_items() -> None:
    """Halving the exponential race's step changes no marginal (slots 3, 4) by more than 1e-12."""
    probs = softmax_probs(np.random.default_rng(4).normal(size=(6, 200)) * 2.0, 1.0)
    slots = np.array([3, 4, 3, 4, 3, 4])
    coarse = plackett_luce_slot_marginals(probs, slots)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(policies, "RACE_STEP", policies.RACE_STEP / 2)
        fine = plackett_luce_slot_marginals(probs, slots)
    np.testing.assert_allclose(coarse, fine, atol=1e-12)
    np.testing.assert_allclose(coarse.sum(axis=1), 1.0, atol=1e-11)


def test_softmax_never_recommends_reserved_indices_and_checks_temperature() -> None:
    scores = np.array([[9.0, 9.0, 1.0, 2.0, 3.0]])
    probs = softmax_probs(scores, 0.5)
    assert np.all(probs[:, :N_RESERVED] == 0)
    np.testing.assert_allclose(probs.sum(), 1.0)
    assert probs[0, 4] > probs[0, 3] > probs[0, 2]
    # a near one-hot softmax still leaves every recommendable item its conditioning floor
    sharp = softmax_probs(np.array([[0.0, 0.0, 0.0, 0.0, 1000.0]]), 0.01)
    assert sharp[0, 2:].min() >= SOFTMAX_FLOOR / 3 - 1e-18
    with pytest.raises(ValueError, match="temperature"):
        softmax_probs(scores, 0.0)


def test_slate_size_of_positions() -> None:
    assert slate_size_of(np.array([0, 2, 1])) == 3
    assert slate_size_of(np.array([-1, -1])) == 1


def test_slot_marginals_pick_each_rows_own_slot() -> None:
    probs = np.random.default_rng(5).dirichlet(np.ones(9), size=6)
    slots = np.array([0, 1, 2, 2, 1, 0])
    full = plackett_luce_marginals(probs, 3)
    np.testing.assert_allclose(plackett_luce_slot_marginals(probs, slots), full[np.arange(6), :, slots], atol=1e-15)
    with pytest.raises(ValueError, match="slots"):
        plackett_luce_slot_marginals(probs, np.array([0, 1, -1, 0, 0, 0]))


def test_near_deterministic_policy_marginals_stay_probabilities() -> None:
    scores = np.random.default_rng(2).normal(size=(50, 200)) * 40.0  # softmax close to one-hot
    probs = softmax_probs(scores, 0.05)
    marginals = plackett_luce_marginals(probs, 3)
    assert marginals.min() >= 0.0 and marginals.max() <= 1.0
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-8)
    rng = np.random.default_rng(4)
    n = 100_000
    slates = sample_slates(probs[0], 3, n, rng)
    for k in range(3):  # still exact where it matters: against Monte Carlo at every slot
        freq = np.bincount(slates[:, k], minlength=200) / n
        sigma = np.sqrt(marginals[0, :, k] * (1 - marginals[0, :, k]) / n)
        assert np.all(np.abs(freq - marginals[0, :, k]) <= 5 * sigma + 1e-6)


def test_served_slates_explore_at_every_slot_and_keep_the_ranking_in_later_slots() -> None:
    """The uniform share is mixed into the slate, not the softmax: every item keeps eps / V' at every slot,
    and a sharp policy's second and third slots still go to its second and third items (mixed into the
    softmax, they were mostly the uniform share)."""
    scores = np.r_[-np.inf, -np.inf, np.arange(200, dtype=np.float64)[::-1]][None, :]  # item 2 best, then 3, 4
    served = explore(plackett_luce_marginals(softmax_probs(scores, 0.2), 3))  # (1, V, 3)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-8)
    assert np.all(served[0, :2] == 0) and served[0, 2:].min() >= SERVING_EPSILON / 200 * (1 - 1e-9)
    assert served[0, 3, 1] > 0.95 and served[0, 4, 2] > 0.9
    on_sim_items = explore(np.full((1, 4, 2), 0.25), n_servable=4)  # a simulator's items: every column servable
    np.testing.assert_allclose(on_sim_items, 0.25)


@pytest.mark.parametrize("temperature", [GREEDY, 0.3])
def test_served_slate_marginals_are_the_served_slot_probabilities_of_every_slot(temperature) -> None:
    """One served distribution whichever helper asks: every slot's column is ``served_slot_probs`` at that
    slot, sums to 1, and every servable item keeps the uniform share; greedily, slot k is the k-th ranked
    item (each item at most one slot), with the uniform share and nothing else."""
    scores = np.random.default_rng(5).normal(size=(20, 30)) * 50.0
    marginals = served_slate_marginals(scores, temperature, 4)
    for k in range(4):
        np.testing.assert_array_equal(marginals[:, :, k], served_slot_probs(scores, np.full(20, k), temperature))
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(marginals[:, :N_RESERVED] == 0)
    assert marginals[:, N_RESERVED:].min() >= SERVING_EPSILON / 28 * (1 - 1e-12)
    if temperature == GREEDY:
        top = np.argsort(-scores[:, N_RESERVED:], axis=1)[:, :4] + N_RESERVED
        np.testing.assert_array_equal(marginals.argmax(axis=1), top)
        np.testing.assert_allclose(marginals.max(axis=1), 1 - SERVING_EPSILON + SERVING_EPSILON / 28, rtol=1e-14)
        assert marginals.sum(axis=2).max() <= 1.0 + 1e-12
