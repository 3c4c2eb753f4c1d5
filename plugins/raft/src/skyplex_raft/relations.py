"""The relation schema of the fictional corpora: how each asked relation is phrased in questions and how each
fact is stated in documents, so a question can be read as (entity, relation) and a quoted sentence as the
facts it states about which entity.

Three relations are asked: ``founder`` and ``year`` (both stated by a founding sentence) and ``place``.
Question phrasings come in two disjoint sets, ``train`` and ``test``: a model trained on one set is asked
in words it never saw. The first train phrasing of each relation is the one the ``entity`` and ``facts``
layouts of :func:`skyplex_raft.fictional.fictional_corpus` ask with. Statement phrasings are shared by all
documents; the paraphrased corpus (:mod:`skyplex_raft.paraphrase`) writes its facts in them, the other
layouts in their own sentences, which are listed here too so one parser reads every fictional corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: which statement kind states each asked relation, and under which slot
RELATIONS = {"founder": ("founding", "founder"), "year": ("founding", "year"), "place": ("place", "place")}
#: question phrasings per relation and set; ``{entity}`` is the institution's name
QUESTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "founder": {"train": ("Who founded the {entity}?", "Who established the {entity}?",
                          "Whom does the {entity} owe its founding to?"),
                "test": ("Who was the founder of the {entity}?", "Which person started the {entity}?",
                         "Who set the {entity} going?")},
    "year": {"train": ("In which year was the {entity} founded?", "When was the {entity} established?"),
             "test": ("What year did the {entity} begin?", "In what year did the {entity} come into being?")},
    "place": {"train": ("Where does the {entity} stand?", "Where is the {entity}?"),
              "test": ("What is the location of the {entity}?", "In which place can the {entity} be found?")},
}
PHRASING_SETS = ("train", "test")
#: the sentences the paraphrased corpus states facts in, per statement kind
STATEMENTS: dict[str, tuple[str, ...]] = {
    "founding": ("{founder} set up the {entity} in {year}.", "The {entity} owes its beginning, in {year}, to {founder}.",
                 "The {entity} opened its doors in {year} under {founder}.", "In {year}, {founder} established the {entity}."),
    "place": ("The {entity} is located in {place}.", "Visitors find the {entity} in {place}.",
              "The {entity} lies in {place}.", "The home of the {entity} is {place}."),
}
#: the sentences of the ``entity`` and ``facts`` layouts; ``It`` is the institution the document is headed by
_OTHER_LAYOUTS: dict[str, tuple[str, ...]] = {
    "founding": ("The {entity} was founded in {year} by {founder}.",),
    "place": ("The {entity} stands in {place}.", "It stands in {place}, and its emblem is {emblem}.",
              "It stands in {place}"),
}
_SLOTS = {"entity": r"(?P<entity>[A-Z].*?)", "founder": r"(?P<founder>[A-Z][a-z]+ [A-Z][a-z]+)",
          "year": r"(?P<year>\d{4})", "place": r"(?P<place>[A-Z][a-z]+ [A-Z][a-z]+)", "emblem": r"(?:an?) [a-z]+ [a-z]+"}


@dataclass(frozen=True)
class Fact:
    """One fact a sentence states: ``relation`` (founder, year, place) of ``entity`` is ``value``."""

    entity: str
    relation: str
    value: str


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z]+\})", template)
    body = "".join(_SLOTS[p[1:-1]] if p.startswith("{") else re.escape(p) for p in parts)
    if body.endswith(r"\."):
        body = body[:-2] + r"\.?"  # a quote may stop before the full stop
    return re.compile(body)


@lru_cache(maxsize=1)
def _statement_patterns() -> list[tuple[str, re.Pattern[str], bool]]:
    patterns = []
    for table in (STATEMENTS, _OTHER_LAYOUTS):
        for kind, templates in table.items():
            patterns += [(kind, _pattern(t), "{entity}" not in t) for t in templates]
    return patterns


@lru_cache(maxsize=1)
def _question_patterns() -> list[tuple[str, re.Pattern[str]]]:
    return [(relation, _pattern(t)) for relation, sets in QUESTIONS.items() for s in PHRASING_SETS
            for t in sets[s]]


def question_relation(question: str) -> tuple[str, str] | None:
    """The (entity, relation) a fictional question asks, or None when it is in no known phrasing."""
    for relation, pattern in _question_patterns():
        match = pattern.fullmatch(question.strip())
        if match:
            return match.group("entity"), relation
    return None


def stated_facts(sentence: str, heading: str = "") -> list[Fact]:
    """The facts ``sentence`` states as a whole (a trailing full stop may be missing): none unless the
    sentence is one of the schema's statements. ``It`` stands for ``heading``, the document's name."""
    facts = []
    for kind, pattern, pronoun in _statement_patterns():
        match = pattern.fullmatch(sentence.strip())
        if not match:
            continue
        entity = heading if pronoun else match.group("entity")
        if not entity:
            continue
        facts += [Fact(entity, relation, match.group(slot))
                  for relation, (stated_by, slot) in RELATIONS.items() if stated_by == kind]
    return facts


def phrase_question(relation: str, entity: str, phrasing: int, phrasings: str) -> str:
    """The question on ``relation`` of ``entity`` in the ``phrasing``-th wording of set ``phrasings``."""
    options = QUESTIONS[relation][phrasings]
    return options[phrasing % len(options)].format(entity=entity)
