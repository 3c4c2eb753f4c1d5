"""Answers: extraction from completions, and aggregation of K answers into one (the vote).

An answer that cannot be parsed is ``None``: it is an abstention, counted separately and never
elected. Extracted answers are normalised so that spellings of the same answer vote together
("B", "(b)", "b." are one letter; "1,000", "1000.0" are one number; case, spacing and trailing
punctuation do not split a string answer).
"""

from __future__ import annotations

import math
import random
import re
from decimal import Decimal, InvalidOperation, localcontext
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from skyplex.errors import InvalidInputError

AnswerKind = Literal["letter", "number", "text"]
ANSWER_KINDS: tuple[str, ...] = ("letter", "number", "text")
TIE_BREAKS: tuple[str, ...] = ("random", "first", "abstain")

_NUMBER = re.compile(r"(?:[-+]?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+)(?:[eE][-+]?\d+)?")
#: beyond this many digits of exponent a number is spelled in scientific form (no million-digit strings)
_PLAIN_DIGITS = 40


def normalise_text(text: str) -> str | None:
    """Lower case, inner whitespace collapsed, surrounding quotes and trailing punctuation dropped."""
    t = " ".join(text.strip().split()).lower()
    t = t.strip("\"'`*").rstrip(".!?;:,").strip()
    return t or None


def normalise_number(text: str) -> str | None:
    """A number's canonical spelling (``"1,000.50"`` -> ``"1000.5"``), or None when there is none."""
    match = _NUMBER.search(text.replace("−", "-"))
    if not match:
        return None
    raw = match.group(0).replace(",", "")
    # decimal arithmetic, not float: two different whole numbers past 2**53 must not vote together,
    # and "1e5" is 100000, not 1
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value.is_zero():
        return "0"
    with localcontext() as ctx:
        ctx.prec = len(raw) + 2  # normalize() rounds to the context's precision (28 digits by default)
        value = value.normalize()
    if abs(value.adjusted()) > _PLAIN_DIGITS:
        return format(value, "E")
    return format(value, "f")


def extract_letter(text: str, letters: Sequence[str] = ("A", "B", "C", "D")) -> str | None:
    """The option letter a completion picks: its first standalone letter among ``letters``.

    Accepts "B", " B.", "(b)", "Answer: B", "B) Paris"; a completion naming no option is None.
    """
    allowed = {x.upper() for x in letters}
    for match in re.finditer(r"(?<![A-Za-z])([A-Za-z])(?![A-Za-z])", text):
        letter = match.group(1).upper()
        if letter in allowed:
            # "a" as an English article is not an answer unless the options are lower-case-free
            if match.group(1) == "a" and text[match.end():match.end() + 1] == " " and \
                    re.match(r"\s+[a-z]", text[match.end():]):
                continue
            return letter
    return None


def extractor(kind: str, letters: Sequence[str] = ("A", "B", "C", "D")) -> Callable[[str], str | None]:
    """The extraction function for an answer kind (``letter``, ``number`` or ``text``)."""
    if kind == "letter":
        return lambda text: extract_letter(text, letters)
    if kind == "number":
        return normalise_number
    if kind == "text":
        return lambda text: normalise_text(text.strip().splitlines()[0]) if text.strip() else None
    raise InvalidInputError(f"unknown answer kind {kind!r}; use one of {', '.join(ANSWER_KINDS)}", field="answer_kind")


def normalise_reference(answer: str, kind: str) -> str:
    """The reference answer normalised like extracted answers, so that they compare equal."""
    value = {"letter": lambda a: a.strip().upper() or None, "number": normalise_number, "text": normalise_text}
    if kind not in value:
        raise InvalidInputError(f"unknown answer kind {kind!r}; use one of {', '.join(ANSWER_KINDS)}", field="answer_kind")
    out = value[kind](str(answer))
    if out is None:
        raise InvalidInputError(f"reference answer {answer!r} is not a valid {kind} answer", field="answer")
    return out


# ------------------------------------------------------------------------------------------------
@dataclass
class Vote:
    """The outcome of one vote: the elected answer (None when nothing could be elected) and why."""

    answer: str | None
    counts: dict[str, float]
    abstentions: int
    tied: list[str] = field(default_factory=list)
    filtered: int = 0


def majority_vote(answers: Iterable[str | None], *, tie_break: str = "random", rng: random.Random | None = None,
                  weights: Iterable[float] | None = None) -> Vote:
    """Plurality vote over ``answers`` (``None`` = abstention, never elected).

    ``tie_break``: ``random`` (uniform among the tied answers; pass ``rng`` to make it repeatable),
    ``first`` (the tied answer sampled first; the same expected accuracy as ``random`` for i.i.d.
    samples), or ``abstain`` (a tie elects nothing). ``weights`` (one per answer, >= 0) turn it
    into a weighted vote.
    """
    if tie_break not in TIE_BREAKS:
        raise InvalidInputError(f"unknown tie break {tie_break!r}; use one of {', '.join(TIE_BREAKS)}", field="tie_break")
    answers = list(answers)
    ws = [1.0] * len(answers) if weights is None else [float(w) for w in weights]
    if len(ws) != len(answers):
        raise InvalidInputError(f"{len(ws)} weights for {len(answers)} answers; give one weight per answer", field="weights")
    if any(not math.isfinite(w) or w < 0 for w in ws):
        raise InvalidInputError("vote weights must be finite and >= 0", field="weights")
    counts: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    abstentions = 0
    for i, (a, w) in enumerate(zip(answers, ws)):
        if a is None:
            abstentions += 1
            continue
        counts[a] = counts.get(a, 0.0) + w
        first_seen.setdefault(a, i)
    if not counts or max(counts.values()) <= 0:
        return Vote(answer=None, counts=counts, abstentions=abstentions)
    best = max(counts.values())
    # relative tolerance only: weights can be tiny (probabilities of long completions), and an absolute
    # one would call every answer tied with the leader whatever their ratio
    tied = sorted((a for a, c in counts.items() if math.isclose(c, best, rel_tol=1e-12, abs_tol=0.0)),
                  key=first_seen.__getitem__)
    if len(tied) == 1:
        return Vote(answer=tied[0], counts=counts, abstentions=abstentions)
    if tie_break == "abstain":
        return Vote(answer=None, counts=counts, abstentions=abstentions, tied=tied)
    if tie_break == "first":
        return Vote(answer=tied[0], counts=counts, abstentions=abstentions, tied=tied)
    return Vote(answer=(rng or random).choice(tied), counts=counts, abstentions=abstentions, tied=tied)


def logprob_weighted_vote(answers: Sequence[str | None], logprobs: Sequence[float | None], *,
                          tie_break: str = "random", rng: random.Random | None = None) -> Vote:
    """Each answer votes with its completion's probability ``exp(mean token logprob)``.

    Answers without a logprob (``None``) vote with weight 0; abstentions never count. The weights are
    taken relative to the most probable answer's, so very unlikely completions (mean logprobs far
    below -700, where ``exp`` underflows) still vote in the right proportions.
    """
    if len(answers) != len(logprobs):
        raise InvalidInputError(f"{len(logprobs)} logprobs for {len(answers)} answers", field="logprobs")
    raw = [None if lp is None else float(lp) for lp in logprobs]
    if any(lp is not None and math.isnan(lp) for lp in raw):
        raise InvalidInputError("a logprob is NaN; give each answer's mean token logprob (a number <= 0) or null",
                                field="logprobs")
    lps = [None if lp is None else min(0.0, lp) for lp in raw]
    # only answers that can vote set the scale: an abstention's logprob must not shrink the others to 0
    scale = max((lp for a, lp in zip(answers, lps) if a is not None and lp is not None and lp > -math.inf),
                default=0.0)
    weights = [0.0 if lp is None or a is None else math.exp(lp - scale) for a, lp in zip(answers, lps)]
    return majority_vote(answers, tie_break=tie_break, rng=rng, weights=weights)


def filter_vote(answers: Sequence[str | None], verdicts: Sequence[bool], *, tie_break: str = "random",
                rng: random.Random | None = None) -> Vote:
    """Filter-Vote: drop the answers a judge rejected, then vote among the rest.

    If the judge rejects every parsable answer the vote falls back to all of them (the paper's
    choice: an empty filter must not turn a query into an abstention).
    """
    if len(answers) != len(verdicts):
        raise InvalidInputError(f"{len(verdicts)} verdicts for {len(answers)} answers", field="verdicts")
    kept = [a for a, ok in zip(answers, verdicts) if ok and a is not None]
    if not kept:
        vote = majority_vote(answers, tie_break=tie_break, rng=rng)
        vote.filtered = sum(1 for a in answers if a is not None)
        return vote
    vote = majority_vote(kept, tie_break=tie_break, rng=rng)
    vote.abstentions = sum(1 for a in answers if a is None)
    vote.filtered = sum(1 for a, ok in zip(answers, verdicts) if a is not None and not ok)
    return vote


def judge_prompt(question: str, answer: str) -> str:
    """The prompt an LLM judge sees for one candidate answer (it replies yes or no)."""
    return (f"Question: {question}\nProposed answer: {answer}\n"
            "Is the proposed answer correct? Reply with yes or no.\nReply:")


def parse_verdict(text: str) -> bool:
    """A judge's reply as accept (True) or reject (False); anything but a clear "no" accepts."""
    words = re.findall(r"[a-z]+", text.lower())
    return not (words and words[0] in {"no", "incorrect", "wrong", "false"})


def count_answers(answers: Sequence[str | None], correct: str) -> tuple[int, Counter, int]:
    """Correct count, the wrong answers counted by answer, and the abstentions."""
    wrong: Counter = Counter()
    right = abstain = 0
    for a in answers:
        if a is None:
            abstain += 1
        elif a == correct:
            right += 1
        else:
            wrong[a] += 1
    return right, wrong, abstain


def counts_table(samples: Sequence[Sequence[str | None]], references: Sequence[str], *,
                 n_wrong: int | None = None, max_wrong: int = 6) -> tuple[list[list[int]], list[int]]:
    """Rows ``[correct, wrong_1..wrong_L, abstain]`` for the law, one per query, and per query how
    many wrong answers were moved to the abstain column.

    ``n_wrong``: the number of wrong options when it is fixed (multiple choice: options - 1); for
    free-form answers leave it None and L becomes the most distinct wrong answers any query has,
    at most ``max_wrong``: a query's rarer wrong answers beyond that are lumped with abstentions
    (they can then no longer win, which matters only if they could reach the plurality).
    """
    if len(samples) != len(references):
        raise InvalidInputError(f"{len(samples)} sample lists for {len(references)} reference answers", field="samples")
    parsed = [count_answers(s, r) for s, r in zip(samples, references)]
    widest = max((len(w) for _, w, _ in parsed), default=0)
    L = n_wrong if n_wrong is not None else max(1, min(widest, max_wrong))
    if L < 1:
        raise InvalidInputError("a vote needs at least one wrong option besides the correct one", field="n_wrong")
    if n_wrong is not None and widest > n_wrong:
        raise InvalidInputError(f"a query has {widest} distinct wrong answers but n_wrong is {n_wrong}; the answers "
                                "do not match the declared options (check the extraction)", field="n_wrong")
    rows, lumped = [], []
    for right, wrong, abstain in parsed:
        ordered = [c for _, c in wrong.most_common()]
        kept, moved = ordered[:L], sum(ordered[L:])
        rows.append([right] + kept + [0] * (L - len(kept)) + [abstain + moved])
        lumped.append(moved)
    return rows, lumped
