"""The attribution check from the relation schema (``grounded.answers_question``): a reply counts only when its
verbatim quote states the asked relation of the asked entity and its answer is inside the stated value. A
verbatim quote about another relation, another entity (a namesake, a part of the asked one) never counts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex_raft.builder import ABSTAIN_TARGET, answer_target
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.grounded import answers_question, schema_grounded_reply
from skyplex_raft.paraphrase import paraphrased_corpus
from skyplex_raft.relations import question_relation, stated_facts


def corpus(layout: str, entities: int, seed: int):
    if layout == "paraphrase":
        return paraphrased_corpus(entities, seed, phrasings="test")
    return fictional_corpus(entities, seed, layout=layout)


def sentences(chunk) -> list[str]:
    """The lines of a document after its heading: each a sentence the corpus states facts in."""
    return [line for line in chunk.text.split("\n")[1:] if line.strip()]


@settings(max_examples=25, deadline=None)
@given(layout=st.sampled_from(["entity", "facts", "paraphrase"]), entities=st.integers(2, 40),
       seed=st.integers(0, 10_000), pick=st.integers(0, 10_000), data=st.data())
def test_a_verbatim_quote_of_another_fact_never_counts_and_the_oracle_s_always_does(layout, entities, seed, pick,
                                                                                  data):
    chunks, questions = corpus(layout, entities, seed)
    q = questions[pick % len(questions)]
    entity, relation = question_relation(q.question)
    oracle = next(c for c in chunks if c.id == q.oracle_id)
    # the other documents shown: any of the corpus (namesakes, siblings, confusers)
    shown = data.draw(st.lists(st.sampled_from(chunks), min_size=1, max_size=4))
    documents = [c.text for c in shown]
    for chunk in shown:
        for line in sentences(chunk):
            facts = stated_facts(line, chunk.title)
            answers_asked = [f for f in facts if f.entity == entity and f.relation == relation]
            # every answer a reader could take from this sentence: its stated values and any word of it
            for answer in {f.value for f in facts} | set(line.rstrip(".").split()):
                reply = answer_target(line, answer)
                counted = answers_question(reply, documents, q.question)
                if not answers_asked:
                    assert not counted, (q.question, line, answer)
                    assert schema_grounded_reply(reply, documents, q.question) == ABSTAIN_TARGET
                elif answer == answers_asked[0].value:
                    assert counted
    # the oracle's quote with the gold answer counts, shown among any of those documents
    assert answers_question(answer_target(q.quote, q.answer), [*documents, oracle.text], q.question)
    # and not once the oracle is gone, whatever else is shown, unless a shown document is the oracle's twin
    if oracle.text not in documents:
        assert not answers_question(answer_target(q.quote, q.answer), documents, q.question)


def test_the_check_reads_pronouns_by_the_quoting_document_s_heading():
    chunks, questions = fictional_corpus(30, 2)
    place = [q for q in questions if q.template == "place"]
    by_id = {c.id: c for c in chunks}
    first, other = place[0], place[1]
    reply = answer_target(first.quote, first.answer)  # "It stands in ..., and its emblem is ..."
    assert first.quote.startswith("It stands in ")
    assert answers_question(reply, [by_id[first.oracle_id].text], first.question)
    # the same words asked of another institution: the quoting document names the first one
    asked_other = other.question
    assert not answers_question(reply, [by_id[first.oracle_id].text], asked_other)


def test_partial_answers_full_stops_and_what_is_never_support():
    chunks, questions = paraphrased_corpus(6, 1, phrasings="train")
    founder = next(q for q in questions if q.template == "founder")
    oracle = next(c.text for c in chunks if c.id == founder.oracle_id)
    surname = founder.answer.split()[-1]
    assert answers_question(answer_target(founder.quote, surname), [oracle], founder.question)
    assert answers_question(answer_target(founder.quote.rstrip("."), founder.answer), [oracle], founder.question)
    # words added in front: not verbatim; an abstention; a question outside the schema; an answer not stated
    assert not answers_question(answer_target("Indeed " + founder.quote, founder.answer), [oracle], founder.question)
    assert not answers_question(ABSTAIN_TARGET, [oracle], founder.question)
    assert not answers_question(answer_target(founder.quote, founder.answer), [oracle], "Who painted the Quorlo Guild?")
    year = next(q for q in questions if q.template == "year" and q.oracle_id == founder.oracle_id)
    assert not answers_question(answer_target(founder.quote, year.answer), [oracle], founder.question)
    assert answers_question(answer_target(founder.quote, year.answer), [oracle], year.question)
