"""The RAFT dataset builder: each question comes with k documents -- its oracle among k-1 distractors for
a share P of examples, k distractors alone for the rest -- and a chain-of-thought target that quotes the
oracle verbatim between ``##begin_quote##`` and ``##end_quote##`` before the final answer."""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .documents import Chunk
from .questions import Question, check_quote

BEGIN, END = "##begin_quote##", "##end_quote##"
SYSTEM_PROMPT = ("You answer questions from the documents given. Quote the text that supports the answer "
                 f"between {BEGIN} and {END}, then give the final answer after <ANSWER>:.")
#: the final answer an abstaining example teaches when its oracle is not among the documents
ABSTAIN_ANSWER = "The documents do not contain the answer."
#: the whole target of an abstaining example: no quote, as no document holds one
ABSTAIN_TARGET = ("##Reason: None of the documents states the answer to this question, so there is nothing to "
                  f"quote.\n<ANSWER>: {ABSTAIN_ANSWER}")
#: the system turn of an abstain-mode dataset, on every example alike (so it says nothing of the oracle)
ABSTAIN_SYSTEM_PROMPT = f"{SYSTEM_PROMPT} If no document holds the answer, answer: {ABSTAIN_ANSWER}"
_TOKEN = re.compile(r"[a-z0-9]+")
#: how distractors are picked (RaftOptions.distractors)
DISTRACTOR_MODES = ("bm25", "random", "siblings")
#: words of the question templates and common English: left out of BM25 queries, else every question
#: "Which parameters does X take?" would rank the chunks that talk about parameters above those about X
QUERY_STOPWORDS = frozenset(
    "a an and are as at be by does do for from how in is it its of on or state first section take the this "
    "to what when which who why with parameters return returns".split())


@dataclass
class RaftOptions:
    """``k`` documents per example, oracle present in a share ``p`` of examples, distractors by ``bm25``
    (hard negatives: the corpus chunks that best match the question), ``random``, or ``siblings`` (the
    oracle's siblings first -- the other chunks of the same title, e.g. the same entity's other facts -- in
    random order, then BM25's picks). With ``abstain``, an
    example without its oracle teaches the answer that the documents do not contain it, instead of
    RAFT's quote of the unseen oracle. ``test_p``, when set, is the oracle share of the held-out split
    alone (so models trained with different ``p`` are scored on the same mix). With ``pairing``, train
    questions come in pairs, one example with the oracle and one without it, the same question and the
    same distractors otherwise: whether the documents hold the answer is then the only thing that tells
    the two targets apart. As many train questions are paired as a share ``p`` allows (all at 0.5); the
    rest keep their oracle (p above 0.5) or lack it (below). The held-out split is never paired.
    With ``curriculum``, half the train questions, chosen at random, get random distractors (stage 0, easy)
    and the rest BM25's hard negatives (stage 1); a fine-tune with ``curriculum`` trains on the easy stage
    first. The held-out split keeps BM25 distractors and is the one a build without it holds out."""

    k: int = 4
    p: float = 0.8
    distractors: str = "bm25"
    test_fraction: float = 0.2
    seed: int = 0
    abstain: bool = False
    test_p: float | None = None
    pairing: bool = False
    curriculum: bool = False

    def validate(self) -> None:
        """Refuse settings that cannot make a dataset, naming the setting."""
        if self.curriculum and self.distractors != "bm25":
            raise InvalidInputError(f"curriculum with distractors={self.distractors!r}: the curriculum goes from "
                                    "random to bm25 distractors; leave distractors at bm25", field="curriculum")
        if not 0.0 <= self.p <= 1.0:
            raise InvalidInputError(f"p={self.p} is outside [0, 1]; give the share of examples that keep their "
                                    "oracle, e.g. 0.8", field="p")
        if self.test_p is not None and not 0.0 <= self.test_p <= 1.0:
            raise InvalidInputError(f"test_p={self.test_p} is outside [0, 1]; give the share of held-out examples "
                                    "that keep their oracle, e.g. 0.5", field="test_p")
        if self.k < 1:
            raise InvalidInputError(f"k={self.k}: each example needs at least 1 document", field="k")
        if self.distractors not in DISTRACTOR_MODES:
            raise InvalidInputError(f"distractors={self.distractors!r}: choose one of {', '.join(DISTRACTOR_MODES)}",
                                    field="distractors")
        if not 0.0 <= self.test_fraction < 1.0:
            raise InvalidInputError(f"test_fraction={self.test_fraction} is outside [0, 1)", field="test_fraction")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric runs: identifiers split at dots and underscores, as questions name them."""
    return _TOKEN.findall(text.lower())


class DistractorPicker:
    """Picks distractors for a question from ``pool``: never the oracle, never a chunk holding the answer."""

    def __init__(self, pool: list[Chunk], mode: str, rng: random.Random) -> None:
        self.pool, self.mode, self.rng = pool, mode, rng
        self._bm25 = None
        if mode in ("bm25", "siblings"):
            import bm25s

            self._bm25 = bm25s.BM25()
            self._bm25.index([tokens(c.text) or ["_"] for c in pool], show_progress=False)

    def pick(self, question: Question, oracle: Chunk, n: int) -> list[Chunk] | None:
        """``n`` distractors (best BM25 match first, or random), or None when the pool has too few."""
        eligible = [i for i, c in enumerate(self.pool)
                    if c.id != oracle.id and c.text != oracle.text and question.answer not in c.text]
        if len(eligible) < n:
            return None
        if self._bm25 is None:
            return [self.pool[i] for i in self.rng.sample(eligible, n)]
        query = [t for t in tokens(question.question) if t not in QUERY_STOPWORDS]
        scores = self._bm25.get_scores(query or ["_"])
        # ties (score 0 for every unrelated chunk) break at random so no chunk is favoured by its place
        noise = {i: self.rng.random() for i in eligible}
        # siblings: a chunk under the oracle's title (the same entity's other facts) before any other
        sibling = {i: self.mode == "siblings" and self.pool[i].title == oracle.title for i in eligible}
        ranked = sorted(eligible, key=lambda i: (not sibling[i], -float(scores[i]) if not sibling[i] else 0.0,
                                                 noise[i]))
        return [self.pool[i] for i in ranked[:n]]


@dataclass
class Example:
    """One training example: the question, the shown documents in order, and the target answer."""

    question: Question
    documents: list[Chunk]
    oracle_present: bool
    split: str
    metadata: dict[str, Any] = field(default_factory=dict)
    abstain: bool = False
    #: curriculum stage (0: random distractors, 1: BM25's), None outside a curriculum build
    stage: int | None = None

    @property
    def abstains(self) -> bool:
        """Whether the target says the documents lack the answer (abstain mode, oracle not shown)."""
        return self.abstain and not self.oracle_present

    def target(self) -> str:
        """The chain-of-thought answer: the oracle quoted verbatim, then the final answer; in abstain mode
        without the oracle, the statement that no document holds the answer."""
        if self.abstains:
            return ABSTAIN_TARGET
        return answer_target(self.question.quote, self.question.answer)

    def to_chat(self) -> dict[str, Any]:
        """The example as a chat record (system/user/assistant) with its provenance under ``raft``."""
        docs = "\n".join(f"<DOCUMENT>{d.text}</DOCUMENT>" for d in self.documents)
        oracle_position = next((i for i, d in enumerate(self.documents) if d.id == self.question.oracle_id), None)
        record = {
            "messages": [
                {"role": "system", "content": ABSTAIN_SYSTEM_PROMPT if self.abstain else SYSTEM_PROMPT},
                {"role": "user", "content": f"{docs}\n\nQuestion: {self.question.question}"},
                {"role": "assistant", "content": self.target()},
            ],
            "raft": {"question_id": self.question.id, "oracle_id": self.question.oracle_id,
                     "oracle_present": self.oracle_present, "oracle_position": oracle_position,
                     "document_ids": [d.id for d in self.documents], "answer": self.question.answer,
                     "quote": self.question.quote, "template": self.question.template, "split": self.split,
                     "abstain": self.abstains},
        }
        if self.stage is not None:
            record["raft"]["stage"] = self.stage
        return record


def answer_target(quote: str, answer: str) -> str:
    """The chain-of-thought target of an answered question: the quote, then the final answer."""
    return (f"##Reason: The document that answers this says {BEGIN}{quote}{END} "
            f"The answer is stated there in these words: {answer}\n<ANSWER>: {answer}")


def quotes_in(target: str) -> list[str]:
    """Every quoted span of a target answer."""
    return re.findall(re.escape(BEGIN) + r"(.*?)" + re.escape(END), target, re.S)


def split_by_oracle(chunks: list[Chunk], questions: list[Question], test_fraction: float,
                    rng: random.Random) -> tuple[set[str], set[str]]:
    """Oracle chunk ids for train and for test: a chunk's questions all go to one side, so no test
    question's oracle is ever a train oracle."""
    oracles = sorted({q.oracle_id for q in questions})
    rng.shuffle(oracles)
    n_test = round(len(oracles) * test_fraction)
    if test_fraction > 0 and n_test == 0 and len(oracles) > 1:
        n_test = 1
    return set(oracles[n_test:]), set(oracles[:n_test])


def check_leakage(examples: list[Example], chunks_by_id: dict[str, Chunk]) -> None:
    """Refuse a dataset where a test question's oracle text appears in any train example's documents."""
    test_oracles = {chunks_by_id[e.question.oracle_id].text for e in examples if e.split == "test"}
    for e in examples:
        if e.split == "train":
            leaked = [d.title for d in e.documents if d.text in test_oracles]
            if leaked:
                raise InvalidInputError(f"leakage: train question {e.question.id} shows test oracle {leaked[0]!r}",
                                        field="split")


def build_examples(chunks: list[Chunk], questions: list[Question], options: RaftOptions,
                   progress: Callable[[int, int], None] | None = None) -> tuple[list[Example], dict[str, int]]:
    """RAFT examples for ``questions`` over ``chunks``; returns them with counts of what was skipped."""
    options.validate()
    by_id = {c.id: c for c in chunks}
    for q in questions:
        if q.oracle_id not in by_id:
            raise InvalidInputError(f"question {q.id} ({q.question!r}): its oracle chunk {q.oracle_id} is not in "
                                    "the corpus", field="oracle")
        check_quote(q, by_id[q.oracle_id])
    rng = random.Random(options.seed)
    train_ids, test_ids = split_by_oracle(chunks, questions, options.test_fraction, rng)
    test_texts = {by_id[i].text for i in test_ids}
    # train examples never show a test oracle, even as a distractor; test examples retrieve from everything
    train_pool = [c for c in chunks if c.text not in test_texts]
    if options.k > len(train_pool) - 1:
        raise InvalidInputError(
            f"k={options.k} needs {options.k} distractor documents besides the oracle, but the corpus has only "
            f"{len(chunks)} chunks ({len(train_pool)} usable for training); lower k or add documents", field="k")
    pickers = {"train": DistractorPicker(train_pool, options.distractors, rng),
               "test": DistractorPicker(chunks, options.distractors, rng)}
    planned: list[tuple[Question, str, list[Chunk]]] = []
    skipped = 0
    for n, q in enumerate(questions):
        split = "test" if q.oracle_id in test_ids else "train"
        picked = pickers[split].pick(q, by_id[q.oracle_id], options.k)
        if picked is None:
            skipped += 1  # too few chunks without the answer in them: no honest distractor set exists
        else:
            planned.append((q, split, picked))
        if progress:
            progress(n + 1, len(questions))
    stages = _curriculum(planned, train_pool, by_id, options) if options.curriculum else {}
    examples = []
    for split in ("train", "test"):
        group = [item for item in planned if item[1] == split]
        # exactly round(P * n) examples keep their oracle, chosen at random, in each split (test_p in test)
        share = options.test_p if split == "test" and options.test_p is not None else options.p
        present = set(rng.sample(range(len(group)), round(share * len(group))))
        unpaired = []
        for i, (q, _, picked) in enumerate(group):
            docs = [by_id[q.oracle_id], *picked[:options.k - 1]] if i in present else list(picked)
            rng.shuffle(docs)  # the oracle's place must carry no signal
            unpaired.append(Example(q, docs, i in present, split, abstain=options.abstain))
        if split == "train" and options.pairing:
            # pairs draw from their own generator: the main one advanced as without pairing, so the held-out
            # split is the same with and without it and runs of both compare on the same questions
            unpaired = _paired_examples(group, options, by_id, random.Random(f"pairing:{options.seed}"))
        for e in unpaired:
            e.stage = stages.get(e.question.id) if split == "train" else None
        examples += unpaired
    check_leakage(examples, by_id)
    for e in examples:
        if any(quote not in by_id[e.question.oracle_id].text for quote in quotes_in(e.target())):
            raise InvalidInputError(f"question {e.question.id}: a quote in its answer is not verbatim in its oracle",
                                    field="quote")
    return examples, {"skipped_too_few_distractors": skipped}


def _curriculum(planned: list[tuple[Question, str, list[Chunk]]], train_pool: list[Chunk],
                by_id: dict[str, Chunk], options: RaftOptions) -> dict[str, int]:
    """Stage of each train question, replacing in ``planned`` the BM25 distractors of the easy half (stage 0)
    with random ones. Its own generator: the main one, and so the held-out split, is as without it."""
    rng = random.Random(f"curriculum:{options.seed}")
    easy_picker = DistractorPicker(train_pool, "random", rng)
    train = [n for n, (_, split, _) in enumerate(planned) if split == "train"]
    easy = set(rng.sample(train, len(train) // 2))
    stages = {}
    for n in train:
        q, split, picked = planned[n]
        if n in easy:
            # the pool that served BM25 has at least k eligible chunks, so random picks cannot run short
            planned[n] = (q, split, easy_picker.pick(q, by_id[q.oracle_id], options.k) or picked)
        stages[q.id] = 0 if n in easy else 1
    return stages


def paired_count(n: int, p: float) -> int:
    """How many of ``n`` questions get a pair (one example with the oracle, one without) so that the share
    of examples with the oracle is ``p``: the rest keep it (p > 0.5: n / (n + m) = p) or lack it
    (p < 0.5: m / (n + m) = p)."""
    if p >= 0.5:
        return min(n, round(n * (1 - p) / p))
    return min(n, round(n * p / (1 - p)))


def _paired_examples(group: list[tuple[Question, str, list[Chunk]]], options: RaftOptions,
                     by_id: dict[str, Chunk], rng: random.Random) -> list[Example]:
    """Train examples in pairs: the same question with its oracle among k-1 distractors, then without it
    among the same k-1 and one more; the questions left unpaired keep or lack their oracle as ``p`` asks."""
    paired = set(rng.sample(range(len(group)), paired_count(len(group), options.p)))
    examples = []
    for i, (q, split, picked) in enumerate(group):
        shown = [True, False] if i in paired else [options.p >= 0.5]
        for present in shown:
            docs = [by_id[q.oracle_id], *picked[:options.k - 1]] if present else list(picked)
            rng.shuffle(docs)  # the oracle's place must carry no signal
            examples.append(Example(q, docs, present, split, abstain=options.abstain))
    return examples


def write_jsonl(examples: list[Example], path: Path) -> int:
    """Write the examples as chat JSONL, one line each, dropping exact duplicate records; returns the count.
    The file is written beside ``path`` and renamed over it, so it is either whole or as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for e in examples:
            line = json.dumps(e.to_chat(), ensure_ascii=False, sort_keys=True)
            key = json.dumps(e.to_chat()["messages"], sort_keys=True)
            if key not in seen:
                seen.add(key)
                fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(seen)


def held_out_path(train_path: Path) -> Path:
    """Where the test split goes beside ``train_path``: ``data.jsonl`` -> ``data.test.jsonl``."""
    return train_path.with_name(train_path.stem + ".test" + train_path.suffix)
