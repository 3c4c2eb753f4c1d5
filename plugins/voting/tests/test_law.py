"""The exact plurality law against independent computations: brute-force enumeration, Monte Carlo,
the two-level closed form, and the argmax of a fully enumerated curve."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.law import (
    dirichlet_plurality_curves,
    optimal_k,
    plurality_curve,
    plurality_curves,
    two_level_curve,
    two_level_curves,
)


def win_weight(counts: np.ndarray, tie: str) -> np.ndarray:
    """Score of each count vector [correct, wrong..., abstain] under the tie rule, written from the rule."""
    c = counts[..., 0]
    wrong = counts[..., 1:-1]
    top = wrong.max(axis=-1) if wrong.shape[-1] else np.zeros_like(c)
    ties = (wrong == c[..., None]).sum(axis=-1)
    win = (c >= 1) & (c >= top)
    per_tie = {"random": 1.0 / (1 + ties), "lose": (ties == 0).astype(float), "win": np.ones_like(c, dtype=float)}[tie]
    return np.where(win, per_tie, 0.0)


def brute_force(p, K, tie, log_pmf=None) -> float:
    """Sum over every count vector with K answers of its probability times its score."""
    p = np.asarray(p, dtype=float)
    total = 0.0
    for head in itertools.product(range(K + 1), repeat=len(p) - 1):
        if sum(head) > K:
            continue
        n = np.array(list(head) + [K - sum(head)])
        if log_pmf is None:
            with np.errstate(divide="ignore"):
                lp = math.lgamma(K + 1) - sum(math.lgamma(x + 1) for x in n) + float(np.sum(np.where(n > 0, n * np.log(np.where(p > 0, p, 1)), 0.0)))
            if np.any((p == 0) & (n > 0)):
                continue
        else:
            lp = log_pmf(n)
        total += math.exp(lp) * float(win_weight(n[None], tie)[0])
    return total


distributions = st.integers(1, 3).flatmap(
    lambda L: st.lists(st.floats(0.0, 1.0), min_size=L + 2, max_size=L + 2)
).filter(lambda xs: sum(xs) > 1e-3).map(lambda xs: np.array(xs) / sum(xs))


@settings(max_examples=40, deadline=None)
@given(p=distributions, K=st.integers(1, 9), tie=st.sampled_from(["random", "lose", "win"]))
def test_exact_equals_enumeration(p, K, tie):
    got = plurality_curve(p, K, tie)[K - 1]
    assert got == pytest.approx(brute_force(p, K, tie), abs=1e-10)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=distributions, K=st.integers(1, 40), seed=st.integers(0, 2**31))
def test_exact_equals_monte_carlo(p, K, seed):
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(K, p, size=1_000_000)
    mc = win_weight(counts, "random").mean()
    assert plurality_curve(p, K)[K - 1] == pytest.approx(mc, abs=0.002)


@settings(max_examples=25, deadline=None)
@given(a=st.lists(st.floats(0.05, 5.0), min_size=3, max_size=5), K=st.integers(1, 7),
       tie=st.sampled_from(["random", "lose"]))
def test_dirichlet_multinomial_equals_enumeration(a, K, tie):
    a = np.array(a)

    def log_pmf(n):
        return (math.lgamma(K + 1) + math.lgamma(a.sum()) - math.lgamma(K + a.sum())
                + sum(math.lgamma(x + y) - math.lgamma(y) - math.lgamma(x + 1) for x, y in zip(n, a)))

    got = dirichlet_plurality_curves(a, K, tie)[0, K - 1]
    assert got == pytest.approx(brute_force(a, K, tie, log_pmf), abs=1e-10)


def test_dirichlet_with_huge_concentration_is_the_multinomial():
    p = np.array([0.4, 0.35, 0.15, 0.1])
    assert np.allclose(dirichlet_plurality_curves(p * 1e7, 60)[0], plurality_curve(p, 60), atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(pc=st.floats(0.0, 1.0), share=st.floats(0.0, 1.0), K=st.integers(1, 60), tie=st.sampled_from(["random", "lose", "win"]))
def test_two_level_equals_exact_where_it_holds(pc, share, K, tie):
    pw = (1 - pc) * share  # the rest of the mass abstains: only two answers can win
    exact = plurality_curve([pc, pw, max(0.0, 1 - pc - pw)], K, tie)
    assert np.allclose(two_level_curve(pc, pw, K, tie), exact, atol=1e-10)


@pytest.mark.parametrize("pc,pw", [(0.25, 0.7499925), (0.4, 0.6 - 1e-7), (0.1, 0.9 - 1e-11)])
def test_two_level_abstain_mass_below_relative_tolerance_still_counts(pc, pw):
    # a sliver of abstain mass (well above 1e-12) must not be rounded to "everyone answers"
    for tie in ("random", "lose", "win"):
        exact = plurality_curve([pc, pw, 1 - pc - pw], 8, tie)
        assert np.allclose(two_level_curve(pc, pw, 8, tie), exact, atol=1e-12)


@pytest.mark.parametrize("pc,pw", [(0.5, 0.5), (0.3, 0.7), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0), (0.25, 0.25)])
@pytest.mark.parametrize("tie", ["random", "lose", "win"])
def test_two_level_edges(pc, pw, tie):
    exact = plurality_curve([pc, pw, 1 - pc - pw], 50, tie)
    closed = two_level_curve(pc, pw, 50, tie)
    assert np.allclose(closed, exact, atol=1e-12)
    if pc == pw == 0.5:
        # equal probabilities: by symmetry the correct answer wins half the time at every K
        expected = {"random": 0.5, "lose": None, "win": None}[tie]
        if expected is not None:
            assert np.allclose(closed, expected)
        # even K: a tie scores by the rule, so "lose" < "random" < "win" exactly at even K
        even = closed[1::2]
        tie_mass = np.array([math.comb(k, k // 2) * 0.5**k for k in range(2, 51, 2)])
        base = plurality_curve([0.5, 0.5, 0.0], 50, "lose")[1::2]
        weight = {"random": 0.5, "lose": 0.0, "win": 1.0}[tie]
        assert np.allclose(even, base + weight * tie_mass)


def test_random_ties_make_even_k_equal_to_the_odd_k_before():
    # two answers, random tie break: K = 2j scores exactly as K = 2j - 1
    curve = plurality_curve([0.6, 0.4, 0.0], 40)
    assert np.allclose(curve[1::2], curve[0::2], atol=1e-12)


def test_large_k_blocks_agree_with_the_closed_form_up_to_1000():
    P = np.array([[0.49, 0.51, 0.0], [0.3, 0.25, 0.45], [0.52, 0.40, 0.08]])
    exact = plurality_curves(P, 1000)
    closed = two_level_curves(P[:, 0], P[:, 1], 1000)
    assert np.max(np.abs(exact - closed)) < 1e-9


def test_optimal_k_is_the_true_argmax_up_to_1000():
    # an easy/hard mixture whose optimum sits between the usual grid points
    rng = np.random.default_rng(0)
    pc = np.concatenate([rng.uniform(0.55, 0.75, 40), rng.uniform(0.44, 0.49, 40)])
    pw = 1 - pc
    curve = two_level_curves(pc, pw, 1000).mean(axis=0)
    k, acc = optimal_k(curve)
    # every K from 1 to 1000 looked at: the best accuracy, and the cheapest K that reaches it
    best = max(curve[j - 1] for j in range(1, 1001))
    brute = min(j for j in range(1, 1001) if curve[j - 1] >= best - 1e-12)
    assert k == brute and acc == curve[brute - 1]
    assert 1 < k < 1000 and curve[0] < acc and curve[-1] < acc  # non-monotone: rises then falls
    grid = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert k not in grid
    # the exact engine gives the same optimum over all 1000 K
    exact = plurality_curves(np.stack([pc, pw, np.zeros_like(pc)], axis=1), 1000).mean(axis=0)
    assert optimal_k(exact)[0] == k


def test_abstentions_never_win():
    # mostly unparsable answers: the one parsable answer elects itself whenever it appears
    curve = plurality_curve([0.05, 0.0, 0.95], 200)
    assert np.allclose(curve, 1 - 0.95 ** np.arange(1, 201))
    # only abstentions: there is nothing to elect, and the query is wrong at every K
    assert np.all(plurality_curve([0.0, 0.0, 1.0], 20) == 0.0)
    # a wrong answer beats many abstentions
    assert plurality_curve([0.0, 0.1, 0.9], 30)[-1] == 0.0


@pytest.mark.parametrize("bad", [[0.5, 0.6, 0.0], [-0.1, 0.6, 0.5], [float("nan"), 0.5, 0.5], [1.0]])
def test_bad_distributions_are_refused(bad):
    with pytest.raises(InvalidInputError):
        plurality_curve(bad, 5)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_k_below_one_is_refused(k):
    with pytest.raises(InvalidInputError, match="K must be"):
        plurality_curve([0.5, 0.5, 0.0], k)


def test_unknown_tie_rule_is_refused():
    with pytest.raises(InvalidInputError, match="tie rule"):
        plurality_curve([0.5, 0.5, 0.0], 3, "coin")
