"""Likelihood attribution: a model-based grounded decision that reads no relation schema.

Each sentence of the documents shown (a *passage*: the sentence with its document's heading, so "It stands in
..." keeps its subject) is scored as support for the question by the model's pointwise mutual information,
in one of two directions or both:

* ``sentence``: log P(sentence | "Question: q / Answer:") - log P(sentence | "Answer:"), how much more likely
  the question makes the sentence as its answer;
* ``question``: log P(question | passage) - log P(question), how much more likely the passage makes the
  question;
* ``both``: their sum.

The best-supported passage answers only when its support clears a threshold; otherwise the reply is the
abstaining answer. The threshold is chosen on calibration items (questions that are not reported: the
development split), as the lowest support at which at most ``max_false`` of the calibration questions shown
their oracle are abstained on (:func:`choose_support_threshold`); it is then applied unchanged.

Where it answers, the answer is extractive: the model's greedy reply constrained (``OutputConstraint``
regex) to a run of at most ``max_words`` words of the passage's sentence, quoted whole. So every reply that
does not abstain quotes a sentence that is verbatim in a shown document and gives an answer inside it: it
passes the verbatim check of :mod:`skyplex_raft.grounded` by construction, and what the decision is
measured on is whether the model picked a sentence that answers the question.

:func:`requote` (optional) re-picks the quoted sentence inside the chosen document by the asked relation
alone: the question with its subject read as "it" (:func:`relation_question`), scored against each sentence
with the document's heading in both contexts, so the subject's name, which the question shares with every
sentence that names it, no longer draws the quote to the founding sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skyplex.errors import InvalidInputError

from .builder import ABSTAIN_TARGET, BEGIN, END, answer_target
from .calibrate import choose_threshold
from .evaluate import ANSWER_MARK, is_abstention, normalize

#: the directions support is scored in (the module docstring)
METHODS = ("sentence", "question", "both")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Passage:
    """One sentence of a shown document, with the document's heading (its first line) and index."""

    document: int
    heading: str
    sentence: str

    @property
    def text(self) -> str:
        """The passage as the model reads it: heading, blank line, sentence."""
        return f"{self.heading}\n\n{self.sentence}" if self.heading else self.sentence


@dataclass(frozen=True)
class Support:
    """The two pointwise mutual informations of one passage with the question."""

    passage: Passage
    sentence_pmi: float
    question_pmi: float

    def score(self, method: str) -> float:
        """The support under ``method`` (one of METHODS)."""
        if method == "sentence":
            return self.sentence_pmi
        if method == "question":
            return self.question_pmi
        if method == "both":
            return self.sentence_pmi + self.question_pmi
        raise InvalidInputError(f"attribution method {method!r}: choose one of {', '.join(METHODS)}", field="method")


def passages(documents: Sequence[str]) -> list[Passage]:
    """Every sentence of every document's body (the text after its first line; a one-line document is all
    body), each a substring of its document. Sentences holding the reply markers are left out: a quote of
    them could not be read back."""
    out = []
    for index, document in enumerate(documents):
        heading, newline, body = document.partition("\n")
        if not newline:
            heading, body = "", document
        for line in body.split("\n"):
            for sentence in _SENTENCE_END.split(line.strip()):
                sentence = sentence.strip()
                if sentence and not any(mark in sentence for mark in (BEGIN, END, ANSWER_MARK)):
                    out.append(Passage(index, heading.strip(), sentence))
    return out


def _requests(question: str, found: Sequence[Passage]) -> list[Any]:
    from skyplex.interfaces import ScoreRequest

    asked = " " + question.strip()
    requests = [ScoreRequest(context="Question:", continuation=asked)]
    for p in found:
        requests += [ScoreRequest(context="Answer:", continuation=" " + p.sentence),
                     ScoreRequest(context=f"Question:{asked}\nAnswer:", continuation=" " + p.sentence),
                     ScoreRequest(context=f"{p.text}\n\nQuestion:", continuation=asked)]
    return requests


def support_scores(backend: Any, question: str, documents: Sequence[str]) -> list[Support]:
    """Each passage of ``documents`` scored as support for ``question`` under ``backend`` (a model backend
    with ``score``): both PMIs, one forward pass per request."""
    found = passages(documents)
    if not found:
        return []
    scores = backend.score(_requests(question, found))
    alone = scores[0].logprob
    return [Support(p, scores[1 + 3 * i + 1].logprob - scores[1 + 3 * i].logprob, scores[1 + 3 * i + 2].logprob - alone)
            for i, p in enumerate(found)]


def best_support(supports: Sequence[Support], method: str) -> Support | None:
    """The passage with the highest support under ``method`` (the first on ties), or None when there is none."""
    if method not in METHODS:
        raise InvalidInputError(f"attribution method {method!r}: choose one of {', '.join(METHODS)}", field="method")
    best = None
    for s in supports:
        if best is None or s.score(method) > best.score(method):
            best = s
    return best


def item_support(support: Support | None, method: str) -> float:
    """The support an item's decision is taken on: its best passage's, minus infinity without a passage."""
    return support.score(method) if support is not None else float("-inf")


def choose_support_threshold(supports: Sequence[float], oracle_present: Sequence[bool], *,
                             max_false: float = 0.05) -> float:
    """The threshold (abstain when an item's best support is below it) that abstains most while abstaining on
    at most ``max_false`` of the calibration items that show their oracle. Only the calibration items' supports
    enter: the items reported are never seen."""
    return -choose_threshold([-s for s in supports], oracle_present, max_false=max_false)


def abstains(support: float, threshold: float) -> bool:
    """The decision rule: abstain when the best support is below the threshold."""
    return support < threshold


def relation_question(question: str, heading: str) -> str:
    """``question`` with its subject taken out: every run of its words that are all words of the document's
    ``heading`` (a run holding a capitalized word, with an article before it) read as "it", so that "Where does
    the Vaemkru Orchard stand?" under "Vaemkru Orchard" becomes "Where does it stand?". What is left is the
    asked relation."""
    named = {w.lower() for w in re.findall(r"\w+", heading)}
    core = [re.sub(r"\W", "", t).lower() for t in question.split()]
    tokens, out, i = question.split(), [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and core[j] and core[j] in named:
            j += 1
        if j > i and any(t[:1].isupper() for t in tokens[i:j]):
            if out and out[-1].lower() in ("the", "a", "an"):
                out.pop()
            out.append("it" + tokens[j - 1][len(tokens[j - 1].rstrip("?.!,;:")):])
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


def requote(backend: Any, question: str, documents: Sequence[str], support: Support) -> Support:
    """``support`` with its passage re-picked among the sentences of the same document: the one the asked
    relation (:func:`relation_question`) makes most likely given the document's heading, log P(sentence |
    heading, "Question: relation / Answer:") - log P(sentence | heading, "Answer:"). The subject's name, which
    the question shares with every sentence that names it, then adds nothing; which document answers is still
    decided by ``support``. A document of one sentence keeps it."""
    from skyplex.interfaces import ScoreRequest

    same = [p for p in passages(documents) if p.document == support.passage.document]
    if len(same) < 2:
        return support
    asked = " " + relation_question(question.strip(), support.passage.heading)
    requests = []
    for p in same:
        head = f"{p.heading}\n\n" if p.heading else ""
        requests += [ScoreRequest(context=f"{head}Answer:", continuation=" " + p.sentence),
                     ScoreRequest(context=f"{head}Question:{asked}\nAnswer:", continuation=" " + p.sentence)]
    scores = [s.logprob for s in backend.score(requests)]
    gain = [scores[2 * i + 1] - scores[2 * i] for i in range(len(same))]
    best = max(range(len(same)), key=gain.__getitem__)  # the first on ties
    return support if same[best] == support.passage else Support(same[best], support.sentence_pmi, support.question_pmi)


def answer_spans(sentence: str, max_words: int) -> list[str]:
    """Every run of at most ``max_words`` whitespace-separated words of ``sentence`` (the sentence's final
    full stop dropped) that can stand as an answer: its normalized words are not empty and it does not read
    as an abstention."""
    words = sentence.rstrip(".").split()
    spans = {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(len(words), i + max_words) + 1)}
    return sorted(s for s in spans if normalize(s) and not is_abstention(s))


def extract_answer(backend: Any, question: str, passage: Passage, *, max_words: int = 4) -> str | None:
    """The model's greedy answer to ``question`` from ``passage``, constrained to one of its ``answer_spans``;
    None when the sentence has no such span."""
    from skyplex.interfaces import GenerationParams, OutputConstraint

    spans = answer_spans(passage.sentence, max_words)
    if not spans:
        return None
    pattern = "(" + "|".join(re.escape(s) for s in spans) + ")"
    params = GenerationParams(max_tokens=8 * max_words, temperature=0.0,
                              constraint=OutputConstraint(type="regex", pattern=pattern))
    text = backend.generate([f"{passage.text}\n\nQuestion: {question.strip()}\nAnswer: "], params)[0].text.strip()
    return text if text in spans else _span_of(text, spans)


def _span_of(text: str, spans: Sequence[str]) -> str | None:
    """The span a generation cut short (by its token budget) was writing: the shortest span it begins, else
    the longest span it holds at its start; None when it matches no span."""
    longer = [s for s in spans if text and s.startswith(text)]
    if longer:
        return min(longer, key=len)
    shorter = [s for s in spans if text.startswith(s)]
    return max(shorter, key=len) if shorter else None


def attributed_reply(support: Support | None, answer: str | None) -> str:
    """The reply of an item the rule answers: the passage's sentence quoted whole and ``answer`` (a span of
    it); the abstaining answer when there is no passage or no answer."""
    if support is None or not answer:
        return ABSTAIN_TARGET
    return answer_target(support.passage.sentence, answer)


def attribution_replies(backend: Any, questions: Sequence[str], supports: Sequence[Support | None], threshold: float,
                        method: str, *, max_words: int = 4,
                        documents: Sequence[Sequence[str]] | None = None) -> list[str]:
    """Per item, the rule's reply: abstain when the best support under ``method`` is below ``threshold``,
    else the extractive answer from the best passage (with each item's ``documents`` given, the passage
    :func:`requote` re-picks in the same document)."""
    replies = []
    for n, (question, support) in enumerate(zip(questions, supports)):
        if support is None or abstains(item_support(support, method), threshold):
            replies.append(ABSTAIN_TARGET)
        else:
            if documents is not None:
                support = requote(backend, question, documents[n], support)
            replies.append(attributed_reply(support, extract_answer(backend, question, support.passage,
                                                                    max_words=max_words)))
    return replies


def evaluate_attribution(backend: Any, calibration: Sequence[Any], items: Sequence[Any], *, method: str = "both",
                         max_false: float = 0.05, max_words: int = 4, resamples: int = 1000,
                         seed: int = 0, requoted: bool = False) -> dict[str, Any]:
    """The whole procedure on two RAFT splits (``evaluate.load_items``): the threshold chosen on the
    ``calibration`` items, then applied unchanged to ``items``, each scored as the evaluator scores a reply
    (abstention with and without the oracle, F1, ``supported``) with bootstrap intervals; ``requoted``: the
    quoted sentence re-picked in the chosen document (:func:`requote`). Returns the
    threshold, both splits' AUC of the best support (how well it ranks oracle-present items above the
    rest; 0.5: not at all), the scores and each item's reply."""
    from .calibrate import roc_auc
    from .evaluate import score_reply, summarize
    from .grounded import is_supported

    if method not in METHODS:
        raise InvalidInputError(f"attribution method {method!r}: choose one of {', '.join(METHODS)}", field="method")
    if max_words < 1:
        raise InvalidInputError(f"max_words={max_words}: give at least 1", field="max_words")
    best = {name: [best_support(support_scores(backend, it.question, it.documents), method) for it in split]
            for name, split in (("calibration", calibration), ("items", items))}
    supports = {name: [item_support(b, method) for b in found] for name, found in best.items()}
    threshold = choose_support_threshold(supports["calibration"], [it.oracle_present for it in calibration],
                                         max_false=max_false)
    replies = attribution_replies(backend, [it.question for it in items], best["items"], threshold, method,
                                  max_words=max_words, documents=[it.documents for it in items] if requoted else None)
    rows = [{**score_reply(it, r), "oracle_present": it.oracle_present, "supported": float(is_supported(r, it.documents))}
            for it, r in zip(items, replies)]
    auc = {name: roc_auc([-s for s in supports[name]], [it.oracle_present for it in split])
           for name, split in (("calibration", calibration), ("items", items))}
    return {"method": method, "threshold": threshold, "auc": auc, "replies": replies,
            "scores": summarize(f"attribution ({method})", rows, resamples=resamples, seed=seed)}
