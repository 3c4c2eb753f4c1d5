"""Re-picking the quoted sentence in the chosen document (``attribution.requote``, ``relation_question``).
Searched with hypothesis: the subject named by the heading is read as "it" and nothing else of the question
changes; the re-picked passage is a sentence of the same document, verbatim in it, and the replies still
abstain or quote a shown sentence and answer inside it. On a model that favours sentences sharing the
question's words (as the untuned model does with names), the sentence stating the asked relation is picked;
the mutation that scores the whole question (the subject's name left in) is caught. The real local model, on
fictional place questions: the founding sentence the full-question score prefers is replaced by the
sentence that states the place."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex_raft import attribution
from skyplex_raft.attribution import (
    Support,
    attribution_replies,
    best_support,
    passages,
    requote,
    support_scores,
)
from skyplex_raft.builder import ABSTAIN_TARGET
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.grounded import supporting_quote

# the document grammar and the made-up model of test_attribution.py (tests import by path here)
_SPEC = importlib.util.spec_from_file_location("raft_test_attribution", Path(__file__).with_name("test_attribution.py"))
_BASE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_BASE)
DOCUMENTS, QUESTION, MadeUpModel = _BASE.DOCUMENTS, _BASE.QUESTION, _BASE.MadeUpModel

WORDS = ["where", "does", "who", "founded", "in", "which", "year", "was", "stand", "emblem", "its"]
NAME = st.text(alphabet="bcdfgklmnrstvaeiou", min_size=2, max_size=8).map(str.capitalize).filter(
    lambda name: name.lower() not in WORDS)
LOWER = st.sampled_from(WORDS)


@settings(max_examples=200, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=3), st.lists(LOWER, min_size=1, max_size=3),
       st.lists(LOWER, max_size=3), st.sampled_from(["", "the ", "a "]), st.sampled_from(["?", "", "."]))
def test_the_subject_is_read_as_it_and_the_rest_is_kept(name, before, after, article, end):
    heading = " ".join(name)
    question = " ".join([*before, article + heading, *after]).replace("  ", " ") + end
    kept = " ".join([*before, "it", *after]) + end
    assert attribution.relation_question(question, heading) == kept
    assert attribution.relation_question(question, "Qqq Zzz") == question  # a heading the question does not name


def test_mutation_a_subject_left_in_is_caught(monkeypatch):
    """Break the rule: leave the question as it is. The search finds a question whose subject stays."""
    monkeypatch.setattr(attribution, "relation_question", lambda question, heading: question)
    with pytest.raises(AssertionError):
        test_the_subject_is_read_as_it_and_the_rest_is_kept()


@settings(max_examples=150, deadline=None)
@given(DOCUMENTS, QUESTION, st.integers(0, 10**6), st.floats(-60, 60))
def test_the_repicked_passage_is_a_sentence_of_the_same_document(documents, question, seed, threshold):
    backend = MadeUpModel(seed)
    best = best_support(support_scores(backend, question, documents), "sentence")
    if best is None:
        return
    again = requote(backend, question, documents, best)
    assert again.passage.document == best.passage.document and again.passage in passages(documents)
    assert again.passage.sentence in documents[best.passage.document]
    assert (again.sentence_pmi, again.question_pmi) == (best.sentence_pmi, best.question_pmi)
    [reply] = attribution_replies(backend, [question], [best], threshold, "sentence", documents=[documents])
    if reply != ABSTAIN_TARGET:
        assert supporting_quote(reply, documents) == again.passage.sentence


class WordSharingModel:
    """log P(continuation | context): 3 nats lost per word of the continuation, 3 of them given back per word
    whose first four letters the context holds (a model that copies the question's words, names included)."""

    @staticmethod
    def _keys(text: str) -> set[str]:
        return {w.lower()[:4] for w in re.findall(r"\w+", text)}

    def score(self, requests):
        return [SimpleNamespace(logprob=sum(-3.0 + 3.0 * (w.lower()[:4] in self._keys(r.context))
                                            for w in re.findall(r"\w+", r.continuation))) for r in requests]


DOCUMENT = ("Vaemkru Orchard\n\nThe Vaemkru Orchard was founded in 1202 by Krournio Quaentae.\n"
            "It stands in Gaemlon Ford, and its emblem is a slate wheel.")


def test_the_sentence_stating_the_relation_is_quoted():
    backend = WordSharingModel()
    question = "Where does the Vaemkru Orchard stand?"
    chosen = best_support(support_scores(backend, question, [DOCUMENT]), "sentence")
    assert "founded" in chosen.passage.sentence  # the full question's score copies the name
    assert requote(backend, question, [DOCUMENT], chosen).passage.sentence.startswith("It stands in")


def test_mutation_scoring_the_whole_question_is_caught(monkeypatch):
    monkeypatch.setattr(attribution, "relation_question", lambda question, heading: question)
    with pytest.raises(AssertionError):
        test_the_sentence_stating_the_relation_is_quoted()


@pytest.mark.timeout(900)
def test_requote_on_the_real_local_model(skyplex_local_backend):
    """Fictional place questions, the decision having picked the oracle document's founding sentence (as the
    full-question score does): the re-picked sentence is the gold quote on most of them, and more often than
    with the subject left in the question."""
    chunks, questions = fictional_corpus(8, 11)
    text = {c.id: c.text for c in chunks}
    asked = [q for q in questions if q.template == "place"][:6]

    def right(pick_question) -> int:
        hits = 0
        for q in asked:
            found = passages([text[q.oracle_id]])
            founding = Support(next(p for p in found if "founded" in p.sentence), 0.0, 0.0)
            hits += requote(skyplex_local_backend, pick_question(q.question), [text[q.oracle_id]],
                            founding).passage.sentence == q.quote
        return hits

    requoted = right(lambda question: question)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attribution, "relation_question", lambda question, heading: question)
        whole = right(lambda question: question)
    assert requoted > len(asked) / 2 and requoted > whole, (requoted, whole)
