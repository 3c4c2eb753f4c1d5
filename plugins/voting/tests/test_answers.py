"""Answer extraction, normalisation and the aggregators (majority, weighted, Filter-Vote)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.answers import (
    counts_table,
    extract_letter,
    filter_vote,
    logprob_weighted_vote,
    majority_vote,
    normalise_number,
    normalise_reference,
    normalise_text,
    parse_verdict,
)


@pytest.mark.parametrize("text,letter", [("B", "B"), (" b.", "B"), ("(c)", "C"), ("Answer: D", "D"), ("B) Paris", "B"),
                                         ("The answer is A.", "A"), ("a cat", None), ("I don't know", None), ("", None),
                                         ("E", None)])
def test_letters(text, letter):
    assert extract_letter(text) == letter


@pytest.mark.parametrize("text,number", [("1,000", "1000"), ("1000.0", "1000"), (" -3 apples", "-3"), ("x = 2.50", "2.5"),
                                         ("none", None), ("−4", "-4")])
def test_numbers(text, number):
    assert normalise_number(text) == number


def test_normalisation_differences_vote_together():
    spellings = ["Paris", " paris.", "PARIS", "'Paris'", "paris!"]
    assert {normalise_text(s) for s in spellings} == {"paris"}
    assert normalise_reference("b", "letter") == "B"
    with pytest.raises(InvalidInputError, match="not a valid number"):
        normalise_reference("many", "number")


answer_lists = st.lists(st.one_of(st.none(), st.sampled_from(["A", "B", "C", "D"])), max_size=30)


@settings(max_examples=200, deadline=None)
@given(answers=answer_lists, tie_break=st.sampled_from(["random", "first", "abstain"]), seed=st.integers(0, 99))
def test_abstentions_never_win_and_the_winner_has_the_most_votes(answers, tie_break, seed):
    vote = majority_vote(answers, tie_break=tie_break, rng=random.Random(seed))
    parsed = [a for a in answers if a is not None]
    assert vote.abstentions == len(answers) - len(parsed)
    if not parsed:
        assert vote.answer is None
        return
    top = max(parsed.count(a) for a in set(parsed))
    leaders = {a for a in set(parsed) if parsed.count(a) == top}
    if len(leaders) > 1 and tie_break == "abstain":
        assert vote.answer is None
    else:
        assert vote.answer in leaders
    if len(leaders) > 1 and tie_break == "first":
        assert vote.answer == next(a for a in parsed if a in leaders)


def test_random_tie_break_picks_each_tied_answer():
    rng = random.Random(0)
    picks = {majority_vote(["A", "B", None, None], rng=rng).answer for _ in range(60)}
    assert picks == {"A", "B"}


def test_weighted_and_logprob_votes():
    assert majority_vote(["A", "B", "B"], weights=[5.0, 1.0, 1.0]).answer == "A"
    # a confident minority beats an unsure majority
    assert logprob_weighted_vote(["A", "B", "B"], [-0.01, -3.0, -3.0]).answer == "A"
    assert logprob_weighted_vote(["A", None], [None, -0.1]).answer is None
    with pytest.raises(InvalidInputError):
        majority_vote(["A"], weights=[-1.0])
    with pytest.raises(InvalidInputError):
        majority_vote(["A"], tie_break="coin")


def test_filter_vote():
    vote = filter_vote(["A", "A", "B", None], [False, False, True, True])
    assert vote.answer == "B" and vote.filtered == 2 and vote.abstentions == 1
    # the judge rejects everything: fall back to the plain vote
    assert filter_vote(["A", "A", "B"], [False, False, False]).answer == "A"
    assert parse_verdict("No, it is wrong") is False and parse_verdict("Yes.") is True


def test_counts_table_fixed_and_free_form():
    rows, lumped = counts_table([["A", "B", None, "B"], ["C", "C"]], ["A", "C"], n_wrong=3)
    assert rows == [[1, 2, 0, 0, 1], [2, 0, 0, 0, 0]] and lumped == [0, 0]
    rows, lumped = counts_table([["1", "2", "3", "4", "4", None]], ["1"], max_wrong=2)
    assert rows == [[1, 2, 1, 2]] and lumped == [1]  # the rarest wrong answer is lumped with abstentions
    with pytest.raises(InvalidInputError, match="distinct wrong answers"):
        counts_table([["A", "B", "C", "D", "E"]], ["A"], n_wrong=3)


def test_filter_vote_with_a_judge_backend(kernel):
    from skyplex_voting.sampling import judge_verdicts

    judge = kernel.models.get("judge")  # accepts only the answer B
    answers = ["A", "A", "A", "B", None, "C"]
    verdicts = judge_verdicts(judge, "Second letter?", answers)
    assert verdicts == [False, False, False, True, False, False]
    assert majority_vote(answers).answer == "A"
    assert filter_vote(answers, verdicts).answer == "B"  # the judge overturns the plain majority
