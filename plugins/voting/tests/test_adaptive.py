"""Adaptive K: curtailment never changes the elected answer; a margin rule trades calls for accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.adaptive import sequential_vote, simulate_adaptive
from skyplex_voting.answers import majority_vote


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(st.one_of(st.none(), st.sampled_from("ABC")), min_size=1, max_size=25))
def test_curtailed_vote_elects_what_the_full_vote_elects(answers):
    k = len(answers)
    leader, calls = sequential_vote(iter(answers), k)
    full = majority_vote(answers, tie_break="first")
    assert calls <= k
    if calls < k:  # stopped early: the leader could no longer be caught, so the full vote agrees
        assert leader == full.answer


def test_simulated_curtailment_keeps_accuracy_and_saves_calls():
    P = np.random.default_rng(0).dirichlet([3, 1, 1, 1, 0.3], size=30)
    r = simulate_adaptive(P, 15, runs=400)
    assert r["accuracy"] == r["fixed_accuracy"] and r["calls_saved"] > 0.05
    m = simulate_adaptive(P, 15, margin=3, runs=400)
    assert m["mean_calls"] < r["mean_calls"]


def test_bad_margin():
    with pytest.raises(InvalidInputError):
        sequential_vote(iter(["A"]), 5, margin=0)
