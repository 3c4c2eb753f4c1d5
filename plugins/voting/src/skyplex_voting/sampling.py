"""Sampling K answers per query from a model backend, cached on disk so a run can resume.

A task is a list of :class:`Query` (a prompt and its reference answer, with options for multiple
choice). :func:`sample_task` asks the backend for the missing answers of each query in one
``generate`` batch of identical prompts, so backends with prefix reuse compute the prompt once
and only decode per sample. Every finished query is appended to a JSONL cache; a later run with
the same cache reads it and samples only what is missing (a torn last line from a crash is
ignored and resampled).

:func:`letter_distribution` reads a multiple-choice query's answer distribution straight from the
model's logprobs, one forward pass per prompt: the probability of each space-prefixed letter
(" A", " B", ...) after a prompt that does not end in a space; the rest of the mass is the chance
the model answers something else (an abstention).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces.model import GenerationParams, ModelBackend, NotSupportedError, ScoreRequest

from .answers import extractor, normalise_reference

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass
class Query:
    """One question: the prompt sent to the model, the reference answer, and (multiple choice) the options."""

    id: str
    prompt: str
    answer: str
    options: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def mc_prompt(question: str, choices: Sequence[str], letters: str = "ABCDEFGHIJ") -> str:
    """A multiple-choice prompt ending in ``"Answer:"`` (no trailing space, so the next token is " A".. )."""
    lines = [f"Question: {question.strip()}"] + [f"{letters[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines) + "\nAnswer:"


def load_queries(source: str | Path | Sequence[dict], *, answer_kind: str = "letter") -> list[Query]:
    """Queries from a JSONL file or a list of dicts.

    Each record has ``answer`` and either ``prompt`` or ``question`` with ``choices`` (multiple
    choice, lettered A, B, ...); ``id`` is optional (the line number). The reference is normalised
    the way extracted answers are, so "b" and "B" match.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"queries file {path} does not exist", field="queries")
        records = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path} line {i} is not JSON ({exc.msg}); one JSON object per line",
                                        field="queries") from None
    else:
        records = list(source)
    if not records:
        raise InvalidInputError("no queries: give at least one record with a prompt and an answer", field="queries")
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "answer" not in rec or not ("prompt" in rec or "question" in rec):
            raise InvalidInputError(f"query {i} needs 'answer' and 'prompt' (or 'question' with 'choices')",
                                    field=f"queries[{i}]")
        choices = list(rec.get("choices") or [])
        letters = "ABCDEFGHIJ"[: len(choices)]
        if "prompt" in rec:
            prompt = str(rec["prompt"])
        else:
            if len(choices) < 2:
                raise InvalidInputError(f"query {i} has a 'question' but fewer than 2 'choices'", field=f"queries[{i}]")
            prompt = mc_prompt(str(rec["question"]), choices)
        if not prompt.strip():
            raise InvalidInputError(f"query {i} has an empty prompt", field=f"queries[{i}]")
        out.append(Query(id=str(rec.get("id", i)), prompt=prompt, answer=normalise_reference(rec["answer"], answer_kind),
                         options=list(letters) if choices else [str(o) for o in rec.get("options", [])],
                         meta={k: v for k, v in rec.items() if k in ("topic", "source")}))
    ids = [q.id for q in out]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("query ids must be unique", field="queries")
    return out


# ------------------------------------------------------------------------------------------------
def _read_cache(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from an interrupted run: that query is sampled again
        if isinstance(rec, dict) and "id" in rec and isinstance(rec.get("texts"), list):
            done[str(rec["id"])] = rec
    return done


def _append(path: Path, rec: dict) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def sample_task(backend: ModelBackend, queries: Sequence[Query], k: int, *, temperature: float = 1.0,
                max_tokens: int = 4, seed: int = 0, answer_kind: str = "letter", cache: str | Path | None = None,
                progress: Progress | None = None, check_cancelled: Callable[[], None] | None = None,
                prefix_reuse: bool = True) -> list[dict]:
    """K sampled answers per query: records ``{id, answer, texts, answers, logprobs, completion_tokens}``.

    Samples already in ``cache`` (a JSONL file) are reused; the rest are drawn, the prompt repeated
    K times in one batch (one prefill with prefix reuse, or K concurrent requests on a server backend)
    with per-sample seeds ``seed + index`` (every kernel backend seeds prompt i of a batch with seed + i).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"K must be a whole number of samples >= 1, got {k!r}", field="k")
    if temperature <= 0:
        raise InvalidInputError("sampling needs temperature > 0 (at 0 every sample is the same answer)",
                                field="temperature")
    letters = sorted({o for q in queries for o in q.options}) or list("ABCD")
    extract = extractor(answer_kind, letters)
    path = Path(cache) if cache is not None else None
    done = _read_cache(path) if path is not None else {}
    report = progress or (lambda d, t, m="": None)
    out: list[dict] = []
    for qi, q in enumerate(queries):
        if check_cancelled is not None:
            check_cancelled()
        rec = done.get(q.id)
        have = list(rec["texts"]) if rec else []
        have_lp = list(rec.get("logprobs", [None] * len(have))) if rec else []
        tokens = int(rec.get("completion_tokens", 0)) if rec else 0
        if len(have) < k:
            params = GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed + 1_000_003 * qi + len(have),
                                      logprobs=True, prefix_reuse=prefix_reuse)
            completions = backend.generate([q.prompt] * (k - len(have)), params)
            for c in completions:
                have.append(c.text)
                lps = [t.logprob for t in (c.logprobs or [])]
                have_lp.append(sum(lps) / len(lps) if lps else None)
                tokens += c.usage.completion_tokens
            rec = {"id": q.id, "answer": q.answer, "texts": have, "logprobs": have_lp, "completion_tokens": tokens}
            if path is not None:
                _append(path, rec)
        rec = dict(rec)
        rec["texts"], rec["logprobs"] = have[:k], have_lp[:k]
        rec["answers"] = [extract(t) for t in rec["texts"]]
        out.append(rec)
        report(qi + 1, len(queries), f"sampled {q.id}")
    return out


def letter_distribution(backend: ModelBackend, prompts: Sequence[str], letters: Sequence[str] = ("A", "B", "C", "D"),
                        ) -> list[list[float]]:
    """Per prompt, ``[P(" A"), P(" B"), ..., P(anything else)]`` from one forward pass.

    Uses ``score`` where the backend has it (exact for each letter), else the top logprobs of the
    first generated token, where a letter outside the top list gets no mass (a lower bound).
    """
    for i, p in enumerate(prompts):
        if p.endswith((" ", "\t")):
            raise InvalidInputError(f"prompt {i} ends in whitespace; the letters are scored as ' A', ' B', ... "
                                    "so the prompt must end right before them (e.g. 'Answer:')", field=f"prompts[{i}]")
    try:
        scores = backend.score([ScoreRequest(context=p, continuation=f" {x}") for p in prompts for x in letters])
        probs = [math.exp(s.logprob) for s in scores]
    except (NotSupportedError, NotImplementedError):
        params = GenerationParams(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20)
        probs = []
        for c in backend.generate(list(prompts), params):
            top = c.logprobs[0].top if c.logprobs else {}
            probs.extend(math.exp(top[f" {x}"]) if f" {x}" in top else 0.0 for x in letters)
    n = len(letters)
    out = []
    for i in range(len(prompts)):
        row = probs[i * n:(i + 1) * n]
        total = sum(row)
        if total > 1.0:
            # letter probabilities scored separately can add up to a rounding error over 1; the law
            # refuses rows that do not sum to 1, so they are rescaled (no mass left to abstain)
            out.append([x / total for x in row] + [0.0])
        else:
            out.append(row + [1.0 - total])
    return out


def judge_verdicts(judge: ModelBackend, question: str, answers: Sequence[str | None], *,
                   max_tokens: int = 3) -> list[bool]:
    """Filter-Vote's judge: ask any backend, greedily, whether each parsable answer is right.

    Each distinct answer is judged once (the verdict depends on the answer, not on which sample
    gave it); unparsable answers are rejected without a call.
    """
    from .answers import judge_prompt, parse_verdict

    distinct = sorted({a for a in answers if a is not None})
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    replies = judge.generate([judge_prompt(question, a) for a in distinct], params) if distinct else []
    verdict = {a: parse_verdict(c.text) for a, c in zip(distinct, replies)}
    return [a is not None and verdict[a] for a in answers]
