"""Grounded answering: an answer stands only on a verbatim quote of the documents that holds it. Searched
with hypothesis (a quote that is not verbatim never counts, an answer outside the quote never counts, a
verbatim quote holding the answer always does), on the builder's gold targets over fictional corpora, in
the evaluator's ``grounded`` option with scripted replies whose right scores are known, and the combined
threshold of the calibrated rule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Subject, Suite
from skyplex.testing.fakes import ScriptedModelBackend
from skyplex_raft.builder import (
    ABSTAIN_ANSWER,
    ABSTAIN_TARGET,
    BEGIN,
    END,
    RaftOptions,
    answer_target,
    build_examples,
    write_jsonl,
)
from skyplex_raft.calibrate import choose_grounded_threshold
from skyplex_raft.evaluate import RaftEvaluator, is_abstention, normalize
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.grounded import answer_in_quote, grounded_reply, is_supported, supporting_quote

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=1, max_size=8)
SENTENCE = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
DOCUMENTS = st.lists(st.lists(SENTENCE, min_size=1, max_size=4).map(". ".join), min_size=1, max_size=4)


def reply(quote: str, answer: str) -> str:
    return f"##Reason: {BEGIN}{quote}{END} so\n<ANSWER>: {answer}"


@st.composite
def verbatim_span(draw, documents: list[str]) -> tuple[str, int, int]:
    """A run of whole words of one document: its text, and the document's words it spans."""
    words = draw(st.sampled_from(documents)).split(" ")
    start = draw(st.integers(0, len(words) - 1))
    end = draw(st.integers(start + 1, len(words)))
    return " ".join(words[start:end]), start, end


@settings(max_examples=200, deadline=None)
@given(documents=DOCUMENTS, data=st.data())
def test_a_verbatim_quote_holding_the_answer_supports_it(documents, data):
    quote, _, _ = data.draw(verbatim_span(documents))
    words = quote.split(" ")
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i + 1, len(words)))
    answer = " ".join(words[i:j])
    assume(normalize(answer) and not is_abstention(answer))
    assert is_supported(reply(quote, answer), documents)
    assert supporting_quote(reply(quote, answer), documents) == quote.strip()
    assert grounded_reply(reply(quote, answer), documents) == reply(quote, answer)


@settings(max_examples=200, deadline=None)
@given(documents=DOCUMENTS, data=st.data(), edit=st.sampled_from(["insert", "replace", "swap_case", "invent"]))
def test_a_quote_that_is_not_verbatim_never_counts(documents, data, edit):
    quote, _, _ = data.draw(verbatim_span(documents))
    at = data.draw(st.integers(0, len(quote) - 1))
    if edit == "insert":
        quote = quote[:at] + data.draw(st.sampled_from("xq7 ,")) + quote[at:]
    elif edit == "replace":
        quote = quote[:at] + data.draw(st.sampled_from("xq7")) + quote[at + 1:]
    elif edit == "swap_case":
        quote = quote.swapcase()
    else:
        quote = data.draw(SENTENCE)
    assume(not any(quote.strip() in d for d in documents))
    # the answer is taken from the (altered) quote itself: it is "in the quote", yet the quote is not evidence
    answer = data.draw(st.sampled_from(quote.split() or ["x"]))
    assert not is_supported(reply(quote, answer), documents)
    assert grounded_reply(reply(quote, answer), documents) == ABSTAIN_TARGET


@settings(max_examples=200, deadline=None)
@given(documents=DOCUMENTS, data=st.data(), answer=SENTENCE)
def test_an_answer_outside_the_quote_never_counts(documents, data, answer):
    quote, _, _ = data.draw(verbatim_span(documents))
    assume(normalize(answer) and f" {normalize(answer)} " not in f" {normalize(quote)} ")
    assert not is_supported(reply(quote, answer), documents)
    # even when the answer is elsewhere in the same document, or in another document
    assert not answer_in_quote(answer, quote)


@settings(max_examples=100, deadline=None)
@given(documents=DOCUMENTS, data=st.data())
def test_every_quote_is_tried_and_a_part_word_is_not_the_answer(documents, data):
    quote, _, _ = data.draw(verbatim_span(documents))
    word = quote.split(" ")[0]
    assume(len(word) > 1 and normalize(word[:-1]) and f" {normalize(word[:-1])} " not in f" {normalize(quote)} ")
    # a truncated word is not a word of the quote
    assert not is_supported(reply(quote, word[:-1]), documents)
    # an invented quote first, then a verbatim one holding the answer: the second supports it
    two = f"{BEGIN}not in any document at all zz{END} {reply(quote, word)}"
    assume(not any("not in any document at all zz" in d for d in documents))
    assert is_supported(two, documents)


@pytest.mark.parametrize("text", [ABSTAIN_TARGET, f"<ANSWER>: {ABSTAIN_ANSWER}", "", "<ANSWER>:", "no markers at all",
                                  reply("the documents do not contain the answer", ABSTAIN_ANSWER)])
def test_abstentions_and_empty_answers_are_never_support(text):
    documents = ["the documents do not contain the answer", "no markers at all"]
    assert not is_supported(text, documents)
    assert grounded_reply(text, documents) == ABSTAIN_TARGET


@settings(max_examples=15, deadline=None)
@given(entities=st.integers(12, 40), seed=st.integers(0, 5000), k=st.integers(1, 3), p=st.floats(0.2, 0.8),
       layout=st.sampled_from(["entity", "facts"]))
def test_gold_targets_are_supported_exactly_where_the_oracle_is_shown(entities, seed, k, p, layout):
    chunks, questions = fictional_corpus(entities, seed, layout=layout)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=k, p=p, seed=seed, abstain=True, test_fraction=0.3,
                                                                distractors="siblings"))
    for e in examples:
        shown = [d.text for d in e.documents]
        assert is_supported(e.target(), shown) is e.oracle_present
        # RAFT's answer of an oracle-absent example quotes the unseen oracle: never support here
        raft_answer = answer_target(e.question.quote, e.question.answer)
        assert is_supported(raft_answer, shown) is e.oracle_present


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def fictional_split(tmp_path_factory) -> Path:
    """An abstain-mode split of fictional entities, every question one split, half with its oracle."""
    chunks, questions = fictional_corpus(12, 3, layout="facts")
    examples, _ = build_examples(chunks, questions, RaftOptions(k=2, p=0.5, seed=3, abstain=True, test_fraction=0.0,
                                                                distractors="siblings"))
    path = tmp_path_factory.mktemp("grounded") / "facts.jsonl"
    write_jsonl(examples, path)
    return path


def evaluate(split: Path, reply_for, **options) -> dict[str, tuple[float, int]]:
    backend = ScriptedModelBackend({"Question: " + r["messages"][1]["content"].rsplit("Question: ", 1)[1]: reply_for(r)
                                    for r in records(split)})
    report = RaftEvaluator(backends={"m": backend}).evaluate(
        [Subject(name="m", backend="m")], Suite(name="s", options={"dataset": str(split), "bootstrap": 100,
                                                                   "max_tokens": 4096, **options}))
    return {s.metric: (s.value, s.n) for s in report.scores}


def test_grounded_gold_targets_keep_full_marks(fictional_split):
    scores = evaluate(fictional_split, lambda r: r["messages"][2]["content"], grounded=True)
    assert scores["abstain@distractors"][0] == 1.0 and scores["abstain@oracle"][0] == 0.0
    assert scores["exact_match@oracle"][0] == 1.0 and scores["supported@oracle"][0] == 1.0
    assert scores["supported@distractors"][0] == 0.0


def test_a_right_answer_on_an_invented_quote_becomes_an_abstention(fictional_split):
    def invented(r):
        return reply("The founder is known to all.", r["raft"]["answer"])

    plain = evaluate(fictional_split, invented)
    grounded = evaluate(fictional_split, invented, grounded="true")
    assert plain["exact_match@oracle"][0] == 1.0 and plain["abstain"][0] == 0.0
    assert grounded["exact_match@oracle"][0] == 0.0 and grounded["abstain"][0] == 1.0
    assert grounded["supported"][0] == 0.0 and "supported" not in plain


def test_an_answer_quoted_from_a_sibling_fact_stands_though_wrong(fictional_split):
    """What the check cannot see: a verbatim quote of another fact, its words given as the answer."""
    def sibling(r):
        documents = r["messages"][1]["content"].split("<DOCUMENT>")[1:]
        text = documents[0].split("</DOCUMENT>")[0]
        line = text.split("\n")[-1]
        return reply(line, line.split()[-1].rstrip("."))

    scores = evaluate(fictional_split, sibling, grounded=True)
    assert scores["supported"][0] == 1.0 and scores["abstain"][0] == 0.0


@pytest.mark.parametrize("value", ["maybe", 2, [True]])
def test_a_grounded_option_that_is_not_a_flag_is_named(fictional_split, value):
    with pytest.raises(InvalidInputError, match="grounded"):
        evaluate(fictional_split, lambda r: "", grounded=value)


ITEMS = st.lists(st.tuples(st.floats(-20, 20, allow_nan=False), st.booleans(), st.booleans()), min_size=2, max_size=40)


@settings(max_examples=300, deadline=None)
@given(items=ITEMS, max_false=st.floats(0, 0.5))
def test_the_combined_threshold_is_the_lowest_within_the_bound(items, max_false):
    margins, supported, present = ([x[i] for x in items] for i in range(3))
    assume(0 < sum(present) < len(items))

    def false_rate(threshold: float) -> float:
        hits = [m > threshold or not s for m, s, p in zip(margins, supported, present) if p]
        return sum(hits) / len(hits)

    threshold = choose_grounded_threshold(margins, supported, present, max_false=max_false)
    unsupported = sum(p and not s for s, p in zip(supported, present)) / sum(present)
    if threshold == math.inf:
        assert unsupported > max_false + 1e-9
        return
    assert false_rate(threshold) <= max_false + 1e-9
    if threshold != -math.inf:
        # the threshold is a supported oracle-present item's margin: any lower one abstains on it too, too many
        assert any(m == threshold and s and p for m, s, p in zip(margins, supported, present))
        below = max((m for m in margins if m < threshold), default=-math.inf)
        assert false_rate(below) > max_false


def test_the_combined_threshold_needs_both_kinds_of_item():
    with pytest.raises(InvalidInputError, match="with the oracle and without it"):
        choose_grounded_threshold([0.1, 0.2], [True, True], [True, True])
    with pytest.raises(InvalidInputError, match="max_false"):
        choose_grounded_threshold([0.1, 0.2], [True, True], [True, False], max_false=1.5)
