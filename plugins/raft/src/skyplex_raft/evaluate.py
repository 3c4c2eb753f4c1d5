"""The ``raft`` evaluator: open-book QA on a RAFT test split, with the oracle among the documents and without.

Each subject is a model (a kernel backend by name, or a fine-tuned folder) answering the held-out
questions, either with the example's documents (``params.documents``, the default: RAG, or RAFT when
the model was fine-tuned on RAFT data) or closed-book (``documents: false``: the question alone). The
final answer is what follows ``<ANSWER>:`` (the whole reply when the marker is missing) and is scored
against the gold answer by exact match and token F1 (lower case, punctuation and articles dropped).
Quotes between ``##begin_quote##`` markers are scored too: *quote precision* is the share of quotes that
are verbatim in the documents shown, *quote recall* the share of oracle-present answers that quote the
oracle. *Abstention* is a final answer saying the documents do not hold the answer: its rate with the
oracle shown is false abstention, without it the share of honest refusals; *abstain precision* is the
share of abstentions made when the oracle was absent, *abstain recall* the share of oracle-absent
questions abstained on. Every score is reported per condition (``@oracle``: the oracle shown;
``@distractors``: only distractors) with a percentile bootstrap 95% interval.

With the suite option ``grounded``, a reply made with the documents stands only when it quotes them
verbatim and the quote holds its final answer (``skyplex_raft.grounded``); any other reply is scored as
the abstaining answer, and ``supported`` reports the share of replies that stood.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Evaluator, ItemRecord, Report, Score, Subject, Suite
from skyplex.stats import bootstrap_ci as _kernel_bootstrap_ci
from skyplex.stats import paired_bootstrap_diff as _kernel_paired_diff

from .builder import ABSTAIN_ANSWER, ABSTAIN_TARGET, SYSTEM_PROMPT, quotes_in

ANSWER_MARK = "<ANSWER>:"
CLOSED_BOOK_PROMPT = "Answer the question. Give the final answer after <ANSWER>:."
_DOCUMENT = re.compile(r"<DOCUMENT>(.*?)</DOCUMENT>", re.S)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
#: ways of saying the documents lack the answer, matched on the normalized final answer (articles and
#: punctuation gone, so "don't" reads "don t"); the builder's own phrase is the first
_ABSTAIN = re.compile(
    r"\b(documents?|context|passages?|texts?) (do|does|did) (not|n t) (contain|hold|include|state|give|mention|"
    r"say|provide|answer)\b"
    r"|\b(documents?|context|passages?|texts?) (don|doesn|didn) t (contain|hold|include|state|give|mention|say|"
    r"provide|answer)\b"
    r"|\bnot (in|found in|given in|stated in|mentioned in|provided in|present in) (any of )?(documents?|context)\b"
    r"|\b(cannot|can not|can t|unable to) (be )?(answer|answered|find|found|determine|determined)\b"
    r"|\bno (document|documents|passage) (contains?|holds?|states?|mentions?)\b")


@dataclass
class EvalItem:
    """One held-out question with the documents it is shown and its gold answer."""

    question_id: str
    question: str
    documents: list[str]
    oracle_present: bool
    oracle_text: str | None
    answer: str
    messages: list[dict[str, str]]


def load_items(path: Path, limit: int | None = None) -> list[EvalItem]:
    """The items of a RAFT test split (chat JSONL written by the builder), the first ``limit`` of them."""
    if not path.is_file():
        raise InvalidInputError(f"dataset {path}: no such file; give the NAME.test.jsonl a build wrote",
                                field="dataset")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            raft, messages = record["raft"], record["messages"]
            user = messages[1]["content"]
            documents = _DOCUMENT.findall(user)
            position = raft["oracle_position"]
            items.append(EvalItem(
                question_id=raft["question_id"], question=user.rsplit("Question: ", 1)[1],
                documents=documents, oracle_present=bool(raft["oracle_present"]),
                oracle_text=documents[position] if raft["oracle_present"] else None,
                answer=raft["answer"], messages=messages[:2]))
        except (ValueError, KeyError, TypeError, IndexError):
            raise InvalidInputError(f"dataset {path} line {n}: not a RAFT record (messages and raft provenance)",
                                    field="dataset") from None
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise InvalidInputError(f"dataset {path} holds no examples", field="dataset")
    return items


def final_answer(reply: str) -> str:
    """The text after the last ``<ANSWER>:`` (the whole reply when there is none), on one line."""
    text = reply.rsplit(ANSWER_MARK, 1)[1] if ANSWER_MARK in reply else reply
    return text.strip().split("\n", 1)[0].strip()


def normalize(text: str) -> str:
    """Lower case, punctuation and English articles dropped, blank space collapsed (SQuAD style)."""
    text = "".join(" " if ch in string.punctuation else ch for ch in text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalized answers are equal."""
    return float(normalize(prediction) == normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the normalized answers' word multisets (1.0 when both are empty)."""
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def is_abstention(answer: str) -> bool:
    """Whether a final answer says the documents do not hold the answer (rather than answering)."""
    return bool(_ABSTAIN.search(normalize(answer)))


def score_reply(item: EvalItem, reply: str, *, shown: bool = True) -> dict[str, Any]:
    """Every per-item measure of one reply; ``shown`` says whether the documents were in the prompt."""
    answer = final_answer(reply)
    abstained = is_abstention(answer)
    quotes = [q.strip() for q in quotes_in(reply) if q.strip()]
    documents = item.documents if shown else []
    verbatim = [q for q in quotes if any(q in d for d in documents)]
    result: dict[str, Any] = {"prediction": answer, "exact_match": exact_match(answer, item.answer),
                              "f1": token_f1(answer, item.answer), "quotes": len(quotes),
                              "quote_precision": len(verbatim) / len(quotes) if quotes else None,
                              "abstain": float(abstained),
                              # per-item parts of abstain precision (over abstentions) and recall (over
                              # oracle-absent items): the mean over the items that carry a value
                              "abstain_precision": float(not item.oracle_present) if abstained else None,
                              "abstain_recall": None if item.oracle_present else float(abstained)}
    if item.oracle_present and item.oracle_text is not None:
        result["quote_recall"] = float(shown and any(q in item.oracle_text for q in quotes))
    return result


def bootstrap_ci(values: Sequence[float], *, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval ``(low, high)`` of the mean of ``values``: the kernel's
    :func:`skyplex.stats.bootstrap_ci` (the one bootstrap every plugin shares), NaNs for no values."""
    if len(values) == 0:  # an empty condition has no interval; callers report it as missing, not an error
        return (float("nan"), float("nan"))
    _, low, high = _kernel_bootstrap_ci(values, rounds=resamples, seed=seed)
    return (low, high)


def paired_bootstrap_diff(treatment: Sequence[float], control: Sequence[float], *, resamples: int = 2000,
                          seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``treatment - control`` over paired items (the same questions) and its percentile bootstrap
    95% interval, resampling questions (the kernel's :func:`skyplex.stats.paired_bootstrap_diff`): far
    tighter than two separate intervals, as each question's difficulty cancels out of its difference.
    NaNs for no pairs."""
    if len(treatment) != len(control):
        raise ValueError(f"paired samples differ in length: {len(treatment)} and {len(control)}")
    if len(treatment) == 0:
        return (float("nan"), float("nan"), float("nan"))
    return _kernel_paired_diff(treatment, control, rounds=resamples, seed=seed)


def prompt_for(item: EvalItem, *, documents: bool) -> list[dict[str, str]]:
    """The chat prompt: the example's system and user turns, or the question alone (closed book)."""
    if documents:
        return [dict(m) for m in item.messages]
    return [{"role": "system", "content": CLOSED_BOOK_PROMPT},
            {"role": "user", "content": f"Question: {item.question}"}]


_METRICS = ("exact_match", "f1", "quote_precision", "quote_recall", "abstain", "supported")
#: reported overall only: each is already defined over one condition's items
_OVERALL_METRICS = ("abstain_precision", "abstain_recall")
#: every score name a report may hold
METRIC_NAMES = tuple(m + suffix for suffix in ("", "@oracle", "@distractors") for m in _METRICS) + _OVERALL_METRICS


def summarize(subject: str, rows: list[dict[str, Any]], *, resamples: int, seed: int) -> list[Score]:
    """Scores of one subject: each metric overall and per condition, with bootstrap intervals."""
    scores = []
    groups = {"": rows, "@oracle": [r for r in rows if r["oracle_present"]],
              "@distractors": [r for r in rows if not r["oracle_present"]]}
    for suffix, group in groups.items():
        for metric in _METRICS + (_OVERALL_METRICS if not suffix else ()):
            values = [r[metric] for r in group if r.get(metric) is not None]
            if not values:
                continue
            low, high = bootstrap_ci(values, resamples=resamples, seed=seed)
            scores.append(Score(subject=subject, metric=metric + suffix, value=sum(values) / len(values),
                                ci_low=low, ci_high=high, n=len(values)))
    return scores


class RaftEvaluator(Evaluator):
    """Open-book QA on a RAFT test split. Suite options: ``dataset`` (the test JSONL, required), ``limit``,
    ``max_tokens`` (default 128), ``batch_size`` (8), ``bootstrap`` (resamples, 1000), ``seed``, ``grounded``
    (false; true: answers made with the documents stand only when a verbatim quote holds them, else they
    are scored as abstentions). A subject names a kernel model ``backend`` (or a fine-tuned folder as
    ``model``); ``params.documents: false`` asks closed-book (never grounded: it is shown nothing to quote)."""

    name = "raft"

    def __init__(self, kernel: Any = None, backends: dict[str, Any] | None = None) -> None:
        """``backends`` (name -> model backend) is used before the kernel's registry when given."""
        self.kernel = kernel
        self.backends = dict(backends or {})
        self._folders: dict[str, Any] = {}

    def _backend(self, subject: Subject) -> Any:
        if subject.model and (Path(subject.model) / "config.json").is_file():
            if subject.model not in self._folders:
                from skyplex.models.local import LocalBackend

                self._folders[subject.model] = LocalBackend(model_dir=subject.model, kernel=self.kernel)
            return self._folders[subject.model]
        if subject.model:
            raise InvalidInputError(f"subject {subject.name!r}: model {subject.model!r} is not a folder holding a "
                                    "model (config.json); give a fine-tune's model folder", field="model")
        name = subject.backend or "local"
        if name in self.backends:
            return self.backends[name]
        if self.kernel is None:
            raise InvalidInputError(f"subject {subject.name!r}: backend {name!r} is unknown here", field="backend")
        return self.kernel.models.get(name)

    def close(self) -> None:
        """Release the models this evaluator loaded from folders."""
        for backend in self._folders.values():
            backend.close()
        self._folders.clear()

    def evaluate(self, subjects: Sequence[Subject], suite: Suite, *, progress: Any = None) -> Report:
        """Answer every held-out question with each subject and score the replies."""
        from skyplex.interfaces import ChatMessage, GenerationParams

        options = dict(suite.options)
        if not options.get("dataset"):
            raise InvalidInputError("the raft suite needs options.dataset: a test split (NAME.test.jsonl)",
                                    field="dataset")
        if not subjects:
            raise InvalidInputError("give at least one subject to evaluate", field="subjects")
        names = [s.name for s in subjects]
        if len(set(names)) != len(names):
            raise InvalidInputError("subject names must differ; each names a row of the report", field="subjects")
        try:
            limit = int(options["limit"]) if options.get("limit") is not None else None
            max_tokens, batch = int(options.get("max_tokens", 128)), int(options.get("batch_size", 8))
            resamples, seed = int(options.get("bootstrap", 1000)), int(options.get("seed", 0))
            grounded = _flag(options.get("grounded", False))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"raft suite options: {exc}", field="options") from None
        if max_tokens < 1 or batch < 1 or resamples < 1 or (limit is not None and limit < 1):
            raise InvalidInputError("limit, max_tokens, batch_size and bootstrap must be at least 1", field="options")
        items = load_items(Path(options["dataset"]), limit)
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        total, done = len(items) * len(subjects), 0
        scores: list[Score] = []
        records: list[ItemRecord] = []
        for subject in subjects:
            backend = self._backend(subject)
            shown = bool(subject.params.get("documents", True))
            rows = []
            for start in range(0, len(items), batch):
                chunk = items[start:start + batch]
                prompts = [[ChatMessage(**m) for m in prompt_for(it, documents=shown)] for it in chunk]
                for item, completion in zip(chunk, backend.generate(prompts, params)):
                    reply, extra = completion.text, {}
                    if grounded and shown:
                        from .grounded import is_supported

                        supported = is_supported(completion.text, item.documents)
                        reply = completion.text if supported else ABSTAIN_TARGET
                        extra = {"supported": float(supported), "grounded_reply": reply}
                    row = {**score_reply(item, reply, shown=shown), "oracle_present": item.oracle_present}
                    if "supported" in extra:
                        row["supported"] = extra["supported"]
                    rows.append(row)
                    records.append(ItemRecord(item_id=item.question_id, subject=subject.name,
                                              score=row["exact_match"],
                                              data={**row, **extra, "answer": item.answer, "reply": completion.text}))
                done += len(chunk)
                if progress is not None:
                    progress(done, total, f"{subject.name}: {start + len(chunk)}/{len(items)} questions")
            scores += summarize(subject.name, rows, resamples=resamples, seed=seed)
        return Report(evaluator=self.name, suite=suite.name, scores=scores, items=records,
                      metadata={"dataset": str(options["dataset"]), "questions": len(items),
                                "oracle_present": sum(i.oracle_present for i in items),
                                "system_prompt": SYSTEM_PROMPT, "grounded": grounded})


def _flag(value: Any) -> bool:
    """A yes/no suite option: a bool, 0/1, or the words true/false (as YAML, JSON or a query string give it)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ValueError(f"grounded={value!r} is not true or false")
