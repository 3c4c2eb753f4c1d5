"""The fictional institutions written so that no string rule tells whether a document answers a question:
facts stated in varied sentences (``relations.STATEMENTS``), questions asked in other words (a train set
and a disjoint test set of phrasings), and beside each fact a *confuser*: a sibling document stating the
same relation, in the same kind of sentence, of a part of the same institution ("In 1520, Dravo Kel
established the Velmora Institute's east wing.").

A question whose oracle is missing is then shown documents that name the asked institution and use the
words of the asked relation: the rule "abstain iff the asked name is in no document" never abstains, and
neither does "... or no document holds the name and the relation's verb". Whether a document answers
takes reading whose fact it states. A reader that knows the schema can still decide it
(:func:`skyplex_raft.relations.stated_facts`): that is the attribution check grounded answering uses.
"""

from __future__ import annotations

import hashlib
import random

from skyplex.errors import InvalidInputError

from .documents import Chunk
from .fictional import PLACES, _chunk, _unique_words, fictional_corpus
from .questions import Question, check_quote
from .relations import PHRASING_SETS, RELATIONS, STATEMENTS, phrase_question

#: what a confuser's subject is: a part of the institution, per statement kind
PARTS = {"founding": ("east wing", "reading room", "summer school", "print shop", "seed bank", "music hall"),
         "place": ("sister house", "winter lodge", "second campus", "storehouse", "boathouse")}
#: the most institutions: each needs a founding year no other fact uses
MAX_ENTITIES = 300


def paraphrased_corpus(entities: int, seed: int = 0, *, phrasings: str = "train") -> tuple[list[Chunk], list[Question]]:
    """The institutions of ``fictional_corpus(entities, seed)`` (same names and facts), four documents each,
    all headed by its name: its founding, its place, a founding confuser and a place confuser. Each fact
    and confuser is stated in a sentence drawn from ``relations.STATEMENTS``; each question (founder, year,
    place, as before) is asked in a wording drawn from the ``phrasings`` set (``train`` or ``test``, disjoint).
    Every answer is a substring of its quote and of no other document. The same seed gives the same documents
    whatever ``phrasings`` is, so one corpus can be asked in either set."""
    if not 1 <= entities <= MAX_ENTITIES:
        raise InvalidInputError(f"entities={entities}: give between 1 and {MAX_ENTITIES} paraphrased entities",
                                field="entities")
    if phrasings not in PHRASING_SETS:
        raise InvalidInputError(f"phrasings={phrasings!r}: choose one of {', '.join(PHRASING_SETS)}",
                                field="phrasings")
    base_chunks, base_questions = fictional_corpus(entities, seed)
    facts: dict[str, dict[str, str]] = {}
    titles = {c.id: c.title for c in base_chunks}
    for q in base_questions:
        facts.setdefault(titles[q.oracle_id], {})[q.template] = q.answer
    # the confusers' people, places and years are new words and years: no answer is in two documents
    rng = random.Random(f"paraphrase:{seed}")
    taken = {w for c in base_chunks for w in c.text.replace("\n", " ").replace(".", " ").replace(",", " ").split()
             if w[:1].isupper() and len(w) >= 4}
    n = len(facts)
    people = [f"{a} {b}" for a, b in zip(_unique_words(rng, n, 2, taken), _unique_words(rng, n, 2, taken))]
    places = [f"{w} {rng.choice(PLACES)}" for w in _unique_words(rng, n, 2, taken)]
    years = rng.sample(sorted(set(range(1200, 1900)) - {int(f["year"]) for f in facts.values()}), n)
    # the question wordings draw from their own generator, so the documents do not depend on the set asked
    ask = random.Random(f"paraphrase-questions:{seed}:{phrasings}")
    chunks: list[Chunk] = []
    questions: list[Question] = []
    for i, (entity, fact) in enumerate(facts.items()):
        founding = _chunk(entity, rng.choice(STATEMENTS["founding"]).format(
            entity=entity, founder=fact["founder"], year=fact["year"]))
        place = _chunk(entity, rng.choice(STATEMENTS["place"]).format(entity=entity, place=fact["place"]))
        confusers = [
            _chunk(entity, rng.choice(STATEMENTS["founding"]).format(
                entity=f"{entity}'s {rng.choice(PARTS['founding'])}", founder=people[i], year=years[i])),
            _chunk(entity, rng.choice(STATEMENTS["place"]).format(
                entity=f"{entity}'s {rng.choice(PARTS['place'])}", place=places[i]))]
        chunks += [founding, place, *confusers]
        for relation in RELATIONS:
            oracle = place if relation == "place" else founding
            question = phrase_question(relation, entity, ask.randrange(6), phrasings)
            questions.append(_question(oracle, relation, question, fact[relation]))
    return chunks, questions


def _question(oracle: Chunk, relation: str, question: str, answer: str) -> Question:
    """The question with its oracle's sentence (the text after the heading) as the quote."""
    qid = hashlib.sha1(f"{oracle.id}\0{question}".encode()).hexdigest()[:12]
    q = Question(id=qid, oracle_id=oracle.id, question=question, answer=answer,
                 quote=oracle.text.split("\n\n", 1)[1], template=relation)
    check_quote(q, oracle)
    return q
