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

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "th", "qu"]
_NUCLEI = ["a", "e", "i", "o", "u", "ae", "io", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "s", "m"]
KINDS = ["Institute", "Foundry", "Observatory", "Guild", "Archive", "Harbor", "Academy", "Orchard", "Mill",
         "Library", "Workshop", "Garden"]
PLACES = ["Vale", "Ford", "Reach", "Hollow", "Crossing", "Heights", "Marsh", "Point"]
SOURCE = "fictional"


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


def fictional_corpus(entities: int, seed: int = 0) -> tuple[list[Chunk], list[Question]]:
    """``entities`` documents, one per invented institution (its founding year and founder, where it
    stands, its emblem), and three questions on each (founder, year, place), each answer a substring
    of a quoted line of its document and of no other document. The same seed gives the same corpus."""
    if not 1 <= entities <= 2000:
        raise InvalidInputError(f"entities={entities}: give between 1 and 2000 fictional entities", field="entities")
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
        stands = f"It stands in {place}, and its emblem is a {emblems[i]}."
        text = f"{entity}\n\n{founded}\n{stands}"
        chunk = Chunk(id=chunk_id(SOURCE, text), source=SOURCE, title=entity, text=text, kind="section")
        chunks.append(chunk)
        questions += [
            _question(chunk, "founder", f"Who founded the {entity}?", founder, founded),
            _question(chunk, "year", f"In which year was the {entity} founded?", str(years[i]), founded),
            _question(chunk, "place", f"Where does the {entity} stand?", place, stands),
        ]
    return chunks, questions
