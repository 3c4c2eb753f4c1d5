"""Fictional entities: documents about institutions that do not exist, generated from a seed, with
questions whose answers no model can know from pretraining.

Abstention is only measured honestly on such facts: a question about a real API can be answered from
memory, so a model that answers it without its oracle may be recalling, not guessing. Here a model
either reads the answer in the documents shown or cannot have it. Names are built from invented
syllables; entities share name words and kinds ("Velmora Institute", "Velmora Foundry", "Quendar
Institute"), so the distractors BM25 retrieves for a question are about near namesakes, and telling
that the oracle is missing takes reading the name, not spotting an unfamiliar topic.
"""

from __future__ import annotations

import hashlib
import random

from skyplex.errors import InvalidInputError

from .documents import Chunk, chunk_id
from .questions import Question, check_quote
from .relations import phrase_question

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "th", "qu"]
_NUCLEI = ["a", "e", "i", "o", "u", "ae", "io", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "s", "m"]
KINDS = ["Institute", "Foundry", "Observatory", "Guild", "Archive", "Harbor", "Academy", "Orchard", "Mill",
         "Library", "Workshop", "Garden"]
PLACES = ["Vale", "Ford", "Reach", "Hollow", "Crossing", "Heights", "Marsh", "Point"]
SOURCE = "fictional"
#: how an institution's facts are laid out in documents: all in one, or one document per fact
LAYOUTS = ("entity", "facts")


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
                   for _ in range(syllables)).capitalize()


def _unique_words(rng: random.Random, count: int, syllables: int, taken: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        word = _word(rng, syllables)
        # a word inside another (Vel / Velmor) would let one entity's answer appear in another's document
        if len(word) >= 4 and not any(word in t or t in word for t in taken):
            taken.add(word)
            words.append(word)
    return words


def _question(chunk: Chunk, template: str, question: str, answer: str, quote: str) -> Question:
    qid = hashlib.sha1(f"{chunk.id}\0{question}".encode()).hexdigest()[:12]
    q = Question(id=qid, oracle_id=chunk.id, question=question, answer=answer, quote=quote, template=template)
    check_quote(q, chunk)
    return q


def fictional_corpus(entities: int, seed: int = 0, *, layout: str = "entity") -> tuple[list[Chunk], list[Question]]:
    """``entities`` documents, one per invented institution (its founding year and founder, where it
    stands, its emblem), and three questions on each (founder, year, place), each answer a substring
    of a quoted line of its document and of no other document. The same seed gives the same corpus.

    ``layout="facts"`` writes the same institutions (the same seed gives the same names and facts) as
    one document per fact instead: its founding (year and founder), its place, its emblem, each headed
    by the institution's name. The documents of one institution are then *siblings*: they name it, but
    only one holds a given answer, so a question whose oracle is missing can be shown its entity's other
    facts (``RaftOptions(distractors="siblings")``) and telling that the answer is absent takes reading
    which fact a document states, not spotting the name."""
    if not 1 <= entities <= 2000:
        raise InvalidInputError(f"entities={entities}: give between 1 and 2000 fictional entities", field="entities")
    if layout not in LAYOUTS:
        raise InvalidInputError(f"layout={layout!r}: choose one of {', '.join(LAYOUTS)}", field="layout")
    rng = random.Random(seed)
    taken: set[str] = set()
    # few name words, many kinds: most names recur across kinds, so namesakes are the distractors
    names = _unique_words(rng, max(2, entities // 3), 2, taken)
    pairs = [(n, k) for n in names for k in KINDS]
    rng.shuffle(pairs)
    if len(pairs) < entities:  # only for tiny counts: two names times every kind
        raise InvalidInputError(f"entities={entities}: too many for the generated names", field="entities")
    firsts = _unique_words(rng, entities, 2, taken)
    lasts = _unique_words(rng, entities, 2, taken)
    places = _unique_words(rng, entities, 2, taken)
    years = rng.sample(range(1200, 1900), entities)  # distinct: a year names one founding only
    emblems = [f"{rng.choice(['copper', 'silver', 'amber', 'slate', 'violet'])} "
               f"{rng.choice(['heron', 'lantern', 'key', 'wheel', 'fox', 'anchor'])}" for _ in range(entities)]
    chunks: list[Chunk] = []
    questions: list[Question] = []
    for i, (name, kind) in enumerate(pairs[:entities]):
        entity = f"{name} {kind}"
        founder, place = f"{firsts[i]} {lasts[i]}", f"{places[i]} {rng.choice(PLACES)}"
        founded = f"The {entity} was founded in {years[i]} by {founder}."
        if layout == "entity":
            stands = f"It stands in {place}, and its emblem is a {emblems[i]}."
            founding_doc = place_doc = _chunk(entity, f"{founded}\n{stands}")
            chunks.append(founding_doc)
        else:
            stands = f"The {entity} stands in {place}."
            founding_doc, place_doc = _chunk(entity, founded), _chunk(entity, stands)
            chunks += [founding_doc, place_doc, _chunk(entity, f"The emblem of the {entity} is {_article(emblems[i])} {emblems[i]}.")]
        questions += [
            _question(founding_doc, "founder", phrase_question("founder", entity, 0, "train"), founder, founded),
            _question(founding_doc, "year", phrase_question("year", entity, 0, "train"), str(years[i]), founded),
            _question(place_doc, "place", phrase_question("place", entity, 0, "train"), place, stands),
        ]
    return chunks, questions


def _chunk(entity: str, body: str) -> Chunk:
    """A document about ``entity``: its name as the heading, then ``body``."""
    text = f"{entity}\n\n{body}"
    return Chunk(id=chunk_id(SOURCE, text), source=SOURCE, title=entity, text=text, kind="section")


def _article(noun: str) -> str:
    """``an`` before a vowel, else ``a``."""
    return "an" if noun[0] in "aeiou" else "a"
