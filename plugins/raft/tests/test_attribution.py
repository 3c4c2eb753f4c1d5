"""Likelihood attribution (``skyplex_raft.attribution``). Searched with hypothesis over document sets, model
scores and model replies a fake backend makes up (including replies that are not in the documents): a reply
either abstains or quotes a sentence verbatim in a shown document and answers inside it, whatever the model
says; the threshold is chosen from the calibration items alone and keeps their false abstention within the
bound. Mutation checks: trusting the model's reply instead of constraining it to a span, and choosing the
threshold with the sign turned, are both caught. The rule on the real local model, on fictional questions."""

from __future__ import annotations

import hashlib
import math
import random
from types import SimpleNamespace

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft import attribution
from skyplex_raft.attribution import (
    METHODS,
    abstains,
    answer_spans,
    attribution_replies,
    best_support,
    choose_support_threshold,
    item_support,
    passages,
    support_scores,
)
from skyplex_raft.builder import ABSTAIN_TARGET, BEGIN, END, RaftOptions, build_examples, held_out_path, write_jsonl
from skyplex_raft.evaluate import final_answer, is_abstention, load_items
from skyplex_raft.grounded import answer_in_quote, is_supported, supporting_quote
from skyplex_raft.paraphrase import paraphrased_corpus

WORD = st.text(alphabet="abcdefghijAB0123#.,'-", min_size=1, max_size=7)
SENTENCE = st.lists(WORD, min_size=1, max_size=9).map(" ".join)
DOCUMENT = st.tuples(st.text(alphabet="abcdXY ", max_size=10), st.lists(SENTENCE, min_size=1, max_size=3)).map(
    lambda d: f"{d[0]}\n\n" + ". ".join(d[1]))
DOCUMENTS = st.lists(st.one_of(DOCUMENT, SENTENCE, st.just(f"h\n\nx {BEGIN}y{END} z.")), min_size=1, max_size=4)
QUESTION = st.lists(WORD, min_size=1, max_size=6).map(lambda w: " ".join(w) + "?")


class MadeUpModel:
    """A model backend whose scores and replies are made up from a seed: log-probabilities drawn per request,
    replies that are a span of the prompt's sentence, a run of words from anywhere, or invented text."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def _rng(self, *parts: str) -> random.Random:
        return random.Random(hashlib.sha256("\0".join((str(self.seed), *parts)).encode()).digest())

    def score(self, requests):
        return [SimpleNamespace(logprob=-self._rng(r.context, r.continuation).uniform(0, 40)) for r in requests]

    def generate(self, prompts, params):
        out = []
        for prompt in prompts:
            rng = self._rng(prompt)
            words = prompt.split()
            kind = rng.randrange(3)
            if kind == 0:  # a span the constraint allows
                sentence = prompt.rsplit("\n\nQuestion:", 1)[0].split("\n\n")[-1]
                text = rng.choice(answer_spans(sentence, 4) or ["x"])
            elif kind == 1:  # words from the prompt, the question's among them
                start = rng.randrange(len(words))
                text = " ".join(words[start:start + rng.randint(1, 5)])
            else:
                text = "Zorblat Quenn"
            out.append(SimpleNamespace(text=text))
        return out


def check_replies(documents: list[str], question: str, seed: int, threshold: float, method: str) -> None:
    """Every reply the rule gives abstains, or quotes a shown sentence verbatim and answers inside it."""
    backend = MadeUpModel(seed)
    best = best_support(support_scores(backend, question, documents), method)
    [reply] = attribution_replies(backend, [question], [best], threshold, method)
    if reply == ABSTAIN_TARGET:
        assert is_abstention(final_answer(reply))
        return
    quote = supporting_quote(reply, documents)
    assert quote is not None, reply  # verbatim in a document and holding the final answer
    assert quote == best.passage.sentence and quote in documents[best.passage.document]
    assert not abstains(item_support(best, method), threshold)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, QUESTION, st.integers(0, 10**6), st.floats(-60, 60), st.sampled_from(METHODS))
def test_a_reply_abstains_or_quotes_a_shown_sentence_and_answers_inside_it(documents, question, seed, threshold,
                                                                           method):
    check_replies(documents, question, seed, threshold, method)


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS)
def test_passages_are_verbatim_sentences_and_every_span_stands_in_its_sentence(documents):
    for p in passages(documents):
        assert p.sentence and p.sentence in documents[p.document]
        assert BEGIN not in p.sentence and END not in p.sentence
        for span in answer_spans(p.sentence, 4):
            assert answer_in_quote(span, p.sentence) and span in p.sentence


def test_mutation_trusting_the_model_reply_is_caught(monkeypatch):
    """Break the rule: keep whatever the model wrote instead of a span of the sentence. The search finds a
    reply whose answer is not in its quote (refused, never passed)."""
    def trusting(backend, question, passage, *, max_words=4):
        return backend.generate([f"{passage.text}\n\nQuestion: {question}\nAnswer: "], None)[0].text

    monkeypatch.setattr(attribution, "extract_answer", trusting)
    with pytest.raises(AssertionError):
        test_a_reply_abstains_or_quotes_a_shown_sentence_and_answers_inside_it()


SUPPORTS = st.lists(st.tuples(st.floats(-50, 50), st.booleans()), min_size=2, max_size=40).filter(
    lambda pairs: 0 < sum(p for _, p in pairs) < len(pairs))


def check_threshold(pairs, max_false, choose=choose_support_threshold) -> None:
    """The threshold keeps false abstention on the calibration items within the bound, and no lower support
    seen among them would abstain on more oracle-absent items within it."""
    supports, present = [s for s, _ in pairs], [p for _, p in pairs]
    threshold = choose(supports, present, max_false=max_false)
    n_present = sum(present)
    false = sum(abstains(s, threshold) for s, p in pairs if p)
    assert false <= max_false * n_present + 1e-9
    for candidate in {s for s, _ in pairs if s > threshold}:  # any higher threshold breaks the bound
        assert sum(abstains(s, candidate) for s, p in pairs if p) > max_false * n_present + 1e-9


@settings(max_examples=200, deadline=None)
@given(SUPPORTS, st.sampled_from([0.0, 0.05, 0.2, 0.5]))
def test_the_threshold_is_the_highest_within_the_false_abstention_bound(pairs, max_false):
    check_threshold(pairs, max_false)


def test_mutation_a_threshold_with_the_sign_turned_is_caught():
    """Break the calibration: take the margin rule's threshold on the supports themselves (abstain when the
    support is *above* it) and read it as a support threshold. The search finds calibration items on which it
    abstains beyond the bound."""
    from skyplex_raft.calibrate import choose_threshold

    @settings(max_examples=200, deadline=None, database=None)
    @given(SUPPORTS, st.sampled_from([0.0, 0.05, 0.2]))
    def search(pairs, max_false):
        check_threshold(pairs, max_false, choose=choose_threshold)

    with pytest.raises(AssertionError):
        search()


def test_the_threshold_reads_the_calibration_items_only():
    """The threshold is a function of the calibration supports: the same calibration items give the same
    threshold whatever the items scored with it are; it needs both kinds of calibration item."""
    calibration = ([3.0, 1.0, -2.0, 5.0, 0.5], [True, True, False, False, True])
    assert choose_support_threshold(*calibration, max_false=0.0) == 0.5
    assert choose_support_threshold(*calibration, max_false=0.34) == 1.0
    with pytest.raises(InvalidInputError, match="with the oracle and without it"):
        choose_support_threshold([1.0, 2.0], [True, True])
    with pytest.raises(InvalidInputError, match="attribution method 'best'"):
        best_support(support_scores(MadeUpModel(0), "q?", ["h\n\na b."]), "best")
    assert best_support([], "both") is None and item_support(None, "both") == -math.inf


@pytest.fixture(scope="module")
def paraphrase_items(tmp_path_factory):
    """Four paraphrased fictional questions (test wordings, sibling distractors, k = 3): two with their oracle,
    two whose shown documents hold the asked relation's confuser instead."""
    chunks, questions = paraphrased_corpus(6, 1, phrasings="test")
    examples, _ = build_examples(chunks, questions, RaftOptions(k=3, p=0.5, distractors="siblings",
                                                                test_fraction=0.0, abstain=True))
    out = tmp_path_factory.mktemp("attribution") / "p.jsonl"
    write_jsonl(examples, held_out_path(out))
    items = load_items(held_out_path(out))
    return [i for i in items if i.oracle_present][:2] + [i for i in items if not i.oracle_present][:2]


@pytest.mark.timeout(900)
def test_the_rule_on_the_real_local_model(skyplex_local_backend, paraphrase_items):
    scored = [support_scores(skyplex_local_backend, it.question, it.documents) for it in paraphrase_items]
    for item, supports in zip(paraphrase_items, scored):
        assert len(supports) == len(item.documents)  # one sentence per paraphrased document
        assert all(math.isfinite(s.sentence_pmi) and math.isfinite(s.question_pmi) for s in supports)
    best = [best_support(s, "both") for s in scored]
    values = sorted(item_support(b, "both") for b in best)
    threshold = (values[1] + values[2]) / 2  # two items below it abstain, two answer
    replies = attribution_replies(skyplex_local_backend, [it.question for it in paraphrase_items], best, threshold,
                                  "both", max_words=3)
    assert sum(r == ABSTAIN_TARGET for r in replies) == 2
    for item, b, reply in zip(paraphrase_items, best, replies):
        if reply != ABSTAIN_TARGET:  # the model picked a span of the best sentence
            assert is_supported(reply, item.documents) and supporting_quote(reply, item.documents) == b.passage.sentence


ITEM = st.tuples(DOCUMENTS, QUESTION, st.booleans())


def made_items(drawn) -> list[SimpleNamespace]:
    return [SimpleNamespace(documents=d, question=q, oracle_present=p, answer="gold", oracle_text=d[0] if p else None)
            for d, q, p in drawn]


CALIBRATION = st.lists(ITEM, min_size=2, max_size=6).filter(lambda xs: 0 < sum(p for *_, p in xs) < len(xs))


def check_calibration_only(calibration, scored, other, seed, method, evaluate=None) -> None:
    """The threshold follows the calibration items alone: scoring other items with the same calibration gives
    the same threshold, and every reply abstains or is supported by a shown sentence."""
    evaluate = evaluate or attribution.evaluate_attribution
    backend = MadeUpModel(seed)
    first = evaluate(backend, made_items(calibration), made_items(scored), method=method, resamples=50)
    second = evaluate(backend, made_items(calibration), made_items(other), method=method, resamples=50)
    assert first["threshold"] == second["threshold"]
    for item, reply in zip(made_items(scored), first["replies"]):
        assert reply == ABSTAIN_TARGET or is_supported(reply, item.documents)


@settings(max_examples=60, deadline=None)
@given(CALIBRATION, st.lists(ITEM, min_size=1, max_size=4), st.lists(ITEM, min_size=1, max_size=4),
       st.integers(0, 10**6), st.sampled_from(METHODS))
def test_the_threshold_follows_the_calibration_items_alone(calibration, scored, other, seed, method):
    check_calibration_only(calibration, scored, other, seed, method)


def test_mutation_calibrating_on_the_scored_items_is_caught():
    """Break the procedure: choose the threshold on the calibration and the scored items together. The search
    finds scored items that move it."""
    def leaky(backend, calibration, items, **options):
        return attribution.evaluate_attribution(backend, [*calibration, *items], items, **options)

    @settings(max_examples=100, deadline=None, database=None, phases=(Phase.generate,))  # found, not shrunk
    @given(CALIBRATION, st.lists(ITEM, min_size=1, max_size=4), st.lists(ITEM, min_size=1, max_size=4),
           st.integers(0, 10**6), st.sampled_from(METHODS))
    def search(calibration, scored, other, seed, method):
        check_calibration_only(calibration, scored, other, seed, method, evaluate=leaky)

    with pytest.raises(AssertionError):
        search()
