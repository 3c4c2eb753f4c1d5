"""The paraphrased fictional corpus: the same institutions and facts, stated in varied sentences, asked in two
disjoint sets of wordings, each fact beside a confuser of the same relation; and the relation schema that
reads its questions and sentences."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import RaftOptions, build_examples
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.paraphrase import MAX_ENTITIES, paraphrased_corpus
from skyplex_raft.questions import check_quote
from skyplex_raft.relations import QUESTIONS, RELATIONS, question_relation, stated_facts


def sentence(chunk) -> str:
    """A paraphrased document's one sentence (the text after its heading)."""
    return chunk.text.split("\n\n", 1)[1]


@settings(max_examples=25, deadline=None)
@given(entities=st.integers(1, 90), seed=st.integers(0, 10_000), phrasings=st.sampled_from(["train", "test"]))
def test_the_paraphrased_corpus_holds_the_same_facts_each_answer_in_one_document(entities, seed, phrasings):
    chunks, questions = paraphrased_corpus(entities, seed, phrasings=phrasings)
    _, plain = fictional_corpus(entities, seed)
    by_id = {c.id: c for c in chunks}
    assert len(chunks) == 4 * entities and len({c.text for c in chunks}) == 4 * entities
    # the same institutions and answers as the plain corpus, in the same order
    assert [(question_relation(q.question), q.answer) for q in questions] == \
        [(question_relation(q.question), q.answer) for q in plain]
    for q in questions:
        check_quote(q, by_id[q.oracle_id])
        assert [c.id for c in chunks if q.answer in c.text] == [q.oracle_id]
        entity, relation = question_relation(q.question)
        assert relation == q.template and by_id[q.oracle_id].title == entity
        # asked in the chosen set of wordings only
        assert any(t.format(entity=entity) == q.question for t in QUESTIONS[relation][phrasings])
        # the oracle's sentence states exactly the asked fact of the asked entity
        assert any(f.entity == entity and f.relation == relation and f.value == q.answer
                   for f in stated_facts(sentence(by_id[q.oracle_id]), entity))
    for c in chunks:  # every document is headed by its institution, names it in its sentence, and states facts
        facts = stated_facts(sentence(c), c.title)
        assert c.text.startswith(c.title + "\n\n") and c.title in sentence(c) and facts
        assert all(f.entity == c.title or f.entity.startswith(c.title + "'s ") for f in facts)


@settings(max_examples=15, deadline=None)
@given(entities=st.integers(1, 60), seed=st.integers(0, 10_000))
def test_the_documents_do_not_depend_on_the_wordings_asked_and_the_wordings_do(entities, seed):
    train_chunks, train_questions = paraphrased_corpus(entities, seed, phrasings="train")
    test_chunks, test_questions = paraphrased_corpus(entities, seed, phrasings="test")
    assert train_chunks == test_chunks
    assert [q.answer for q in train_questions] == [q.answer for q in test_questions]
    assert not {q.question for q in train_questions} & {q.question for q in test_questions}


def test_train_and_test_wordings_are_disjoint_and_every_wording_is_read_back():
    for relation, sets in QUESTIONS.items():
        assert not set(sets["train"]) & set(sets["test"])
        for wording in sets["train"] + sets["test"]:
            assert question_relation(wording.format(entity="Quorlo Guild")) == ("Quorlo Guild", relation)
    assert question_relation("Who painted the Quorlo Guild?") is None


@settings(max_examples=15, deadline=None)
@given(entities=st.integers(2, 60), seed=st.integers(0, 10_000), p=st.floats(0, 1))
def test_without_the_oracle_every_shown_document_names_the_entity_and_one_states_the_relation_of_a_part(
        entities, seed, p):
    """With sibling distractors and k = 3, an example without its oracle shows every other document of the asked
    institution: its name is in all of them and the asked relation's confuser among them, so neither the name
    nor the relation's words tell that the answer is missing."""
    chunks, questions = paraphrased_corpus(entities, seed, phrasings="test")
    examples, skipped = build_examples(chunks, questions, RaftOptions(k=3, p=p, seed=seed, abstain=True,
                                                                      test_fraction=0.0, distractors="siblings"))
    assert skipped == {"skipped_too_few_distractors": 0}
    for e in examples:
        entity, relation = question_relation(e.question.question)
        assert all(entity in d.text for d in e.documents)
        if not e.oracle_present:
            stated = [f for d in e.documents for f in stated_facts(sentence(d), d.title)]
            assert not [f for f in stated if f.entity == entity and f.relation == relation]
            assert [f for f in stated if f.relation == relation and f.entity.startswith(entity + "'s ")]


def test_bad_settings_are_named():
    with pytest.raises(InvalidInputError, match="entities=0"):
        paraphrased_corpus(0)
    with pytest.raises(InvalidInputError, match=f"entities={MAX_ENTITIES + 1}"):
        paraphrased_corpus(MAX_ENTITIES + 1)
    with pytest.raises(InvalidInputError, match="phrasings='dev'"):
        paraphrased_corpus(5, phrasings="dev")


def test_the_schema_reads_the_other_layouts_sentences_too():
    for layout in ("entity", "facts"):
        chunks, questions = fictional_corpus(12, 7, layout=layout)
        by_id = {c.id: c for c in chunks}
        for q in questions:
            entity, relation = question_relation(q.question)
            assert relation in RELATIONS and by_id[q.oracle_id].title == entity
            facts = stated_facts(q.quote, by_id[q.oracle_id].title)
            assert any(f.entity == entity and f.relation == relation and f.value == q.answer for f in facts)
    # a sentence the schema does not know states nothing; a pronoun needs the heading
    assert stated_facts("The Quorlo Guild was painted in 1450 by Dravo Kel.") == []
    assert stated_facts("It stands in Dravo Reach, and its emblem is a copper fox.") == []
    assert re.fullmatch(r"\d{4}", stated_facts("In 1450, Dravo Kel established the Quorlo Guild.")[1].value)
