"""Grounded answering: an answer stands only when the reply quotes the documents verbatim and the quote
holds the final answer; otherwise the reply is replaced by the statement that the documents do not hold
the answer.

This is attribution-checked answering: a RAFT reply carries its evidence (``##begin_quote##...
##end_quote##``), so whether the evidence exists in the documents shown, and whether it states the
answer given, can be checked in code rather than trusted. The check is strict on purpose: a quote counts
only when it is an exact substring of one document (after trimming blank space at its ends), and the
final answer counts as inside it only when its normalized words (lower case, punctuation and articles
dropped, as exact match compares them) are a contiguous run of the quote's normalized words. An invented
quote, a paraphrase, or a quote of one fact followed by an answer from elsewhere is never support.
What that check cannot see is whether the quoted fact answers the question asked: a verbatim quote of a
namesake's founder, given as the founder asked about, passes it. :func:`answers_question` adds that for
the fictional corpora, from their relation schema (``skyplex_raft.relations``): the quote must state the
asked relation of the asked entity (read from the question), and the answer must be inside the value it
states. A quote about another entity (a namesake, a part of the asked one) or another relation never counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from .builder import ABSTAIN_TARGET, quotes_in
from .evaluate import final_answer, is_abstention, normalize
from .relations import question_relation, stated_facts


def answer_in_quote(answer: str, quote: str) -> bool:
    """Whether the normalized words of ``answer`` are a contiguous run of the normalized words of
    ``quote`` (an empty answer is in no quote)."""
    words = normalize(answer)
    return bool(words) and f" {words} " in f" {normalize(quote)} "


def supporting_quote(reply: str, documents: Sequence[str]) -> str | None:
    """The first quote of ``reply`` that is verbatim in one of ``documents`` and holds the reply's final
    answer, or None (also when the reply abstains or gives no answer)."""
    answer = final_answer(reply)
    if not normalize(answer) or is_abstention(answer):
        return None
    for quote in quotes_in(reply):
        quote = quote.strip()
        if quote and any(quote in document for document in documents) and answer_in_quote(answer, quote):
            return quote
    return None


def is_supported(reply: str, documents: Sequence[str]) -> bool:
    """Whether ``reply`` answers with a verbatim quote of ``documents`` that holds its final answer."""
    return supporting_quote(reply, documents) is not None


def grounded_reply(reply: str, documents: Sequence[str]) -> str:
    """``reply`` when it is supported by ``documents``; else the abstaining answer (the builder's
    ``ABSTAIN_TARGET``: no document states the answer)."""
    return reply if is_supported(reply, documents) else ABSTAIN_TARGET


def answers_question(reply: str, documents: Sequence[str], question: str) -> bool:
    """Whether ``reply`` answers ``question`` from a quote that is verbatim in one of ``documents`` and states
    the asked relation of the asked entity, its final answer inside the stated value. A pronoun subject
    (``It stands in ...``) is the entity the quoting document is headed by. False for a question in no
    phrasing of the schema: nothing can then be checked."""
    asked = question_relation(question)
    answer = final_answer(reply)
    if asked is None or not normalize(answer) or is_abstention(answer):
        return False
    entity, relation = asked
    for quote in quotes_in(reply):
        quote = quote.strip()
        for document in (d for d in documents if quote and quote in d):
            heading = document.split("\n", 1)[0].strip()
            if any(f.entity == entity and f.relation == relation and answer_in_quote(answer, f.value)
                   for f in stated_facts(quote, heading)):
                return True
    return False


def schema_grounded_reply(reply: str, documents: Sequence[str], question: str) -> str:
    """``reply`` when it answers ``question`` by the schema check (:func:`answers_question`); else the
    abstaining answer."""
    return reply if answers_question(reply, documents, question) else ABSTAIN_TARGET
