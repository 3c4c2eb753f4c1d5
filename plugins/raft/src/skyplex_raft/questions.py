"""Questions templated from a chunk's structure, each with a gold answer and a verbatim quote that are
exact substrings of the chunk (the oracle), so every answer is checkable without a model."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from skyplex.errors import InvalidInputError

from .documents import Chunk

_RETURNS = re.compile(r"(?m)^[ \t]*((?:Return|Returns)\b[^\n]*?)(?:\.(?=\s|$)|$)")
_SENTENCE = re.compile(r"\S[^\n]*?(?:\.(?=\s|$)|$)", re.M)


@dataclass(frozen=True)
class Question:
    """A question about ``oracle_id``; ``answer`` lies inside ``quote``, which lies inside the oracle text."""

    id: str
    oracle_id: str
    question: str
    answer: str
    quote: str
    template: str


def _line_of(text: str, start: int) -> str:
    begin = text.rfind("\n", 0, start) + 1
    end = text.find("\n", start)
    return text[begin:] if end == -1 else text[begin:end]


def check_quote(question: Question, oracle: Chunk) -> None:
    """Refuse a question whose quote is not verbatim in its oracle or whose answer is not in its quote."""
    if question.oracle_id != oracle.id:
        raise InvalidInputError(f"question {question.id}: its oracle chunk {question.oracle_id} is missing",
                                field="oracle")
    if not question.quote or question.quote not in oracle.text:
        raise InvalidInputError(f"question {question.id}: quote {question.quote[:60]!r} is not verbatim in its "
                                f"oracle {oracle.title!r}", field="quote")
    if not question.answer or question.answer not in question.quote:
        raise InvalidInputError(f"question {question.id}: answer {question.answer[:60]!r} is not inside its quote",
                                field="answer")


def _make(chunk: Chunk, template: str, question: str, answer: str, at: int) -> Question:
    qid = hashlib.sha1(f"{chunk.id}\0{question}".encode()).hexdigest()[:12]
    return Question(id=qid, oracle_id=chunk.id, question=question, answer=answer.strip(),
                    quote=_line_of(chunk.text, at).strip(), template=template)


def api_questions(chunk: Chunk) -> list[Question]:
    """'Which parameters does X take?' (the signature) and 'What does X return?' (its Return sentence)."""
    out = []
    first = chunk.text.split("\n", 1)[0]
    if first.startswith(chunk.title + "("):
        signature = first[len(chunk.title):]
        # a bare (self) or (cls) says nothing about this method, and recurs in every class's chunks
        if signature not in {"()", "(...)", "(self)", "(cls)"}:
            out.append(_make(chunk, "parameters", f"Which parameters does `{chunk.title}` take?", signature,
                             len(chunk.title)))
    body_start = len(first)
    match = _RETURNS.search(chunk.text, body_start)
    if match and len(match.group(1).split()) >= 3:
        out.append(_make(chunk, "returns", f"What does `{chunk.title}` return?", match.group(1), match.start(1)))
    return out


def section_questions(chunk: Chunk) -> list[Question]:
    """'What does the section "H" state first?' answered by the section's first sentence."""
    lines = chunk.text.split("\n", 1)
    body_at = len(lines[0]) + 1 if lines[0].lstrip().startswith("#") else 0
    match = _SENTENCE.search(chunk.text, body_at)
    if not match or len(match.group(0).split()) < 3:
        return []
    return [_make(chunk, "section", f'What does the section "{chunk.title}" state first?', match.group(0),
                  match.start())]


def template_questions(chunks: list[Chunk]) -> list[Question]:
    """Every templated question the chunks support, each checked against its oracle, duplicates dropped."""
    seen: set[tuple[str, str]] = set()
    out = []
    for chunk in chunks:
        for q in api_questions(chunk) if chunk.kind == "api" else section_questions(chunk):
            check_quote(q, chunk)
            key = (q.question.casefold(), q.answer.casefold())
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


MODEL_PROMPT = (
    "Read the documentation below and write one question a user of this API could ask, whose answer is a "
    "short phrase copied word for word from the documentation.\n\n{text}\n\n"
    "Reply in exactly this form:\nQuestion: <the question>\nAnswer: <the phrase, copied exactly>\n"
)
_REPLY = re.compile(r"Question:\s*(?P<q>[^\n]+?)\s*\n\s*Answer:\s*(?P<a>[^\n]+)")


def _span_lines(text: str, start: int, end: int) -> str:
    begin = text.rfind("\n", 0, start) + 1
    stop = text.find("\n", end)
    return text[begin:] if stop == -1 else text[begin:stop]


def parse_model_question(chunk: Chunk, reply: str) -> Question | None:
    """The question in a model's reply, or None when the reply is malformed or its answer is not
    verbatim in the chunk (a paraphrase cannot be quoted, so it is rejected, not repaired)."""
    match = _REPLY.search(reply)
    if not match:
        return None
    question, answer = match.group("q").strip(), match.group("a").strip().strip('"`').strip()
    at = chunk.text.find(answer) if answer else -1
    if at < 0 or not question.endswith("?") or len(answer.split()) > 30:
        return None
    qid = hashlib.sha1(f"{chunk.id}\0{question}".encode()).hexdigest()[:12]
    quote = _span_lines(chunk.text, at, at + len(answer)).strip()
    return Question(id=qid, oracle_id=chunk.id, question=question, answer=answer, quote=quote, template="model")


def model_questions(chunks: list[Chunk], backend: object, *, max_tokens: int = 96) -> tuple[list[Question], int]:
    """One model-written question per chunk through any kernel model backend (``generate``), keeping only
    those whose answer is an exact substring of the chunk; returns them and how many were rejected."""
    from skyplex.interfaces import ChatMessage, GenerationParams

    # as a chat turn: instruction-tuned models follow the reply form there and ramble on raw text
    prompts = [[ChatMessage(role="user", content=MODEL_PROMPT.format(text=c.text))] for c in chunks]
    completions = backend.generate(prompts, GenerationParams(max_tokens=max_tokens, temperature=0.0))  # type: ignore[attr-defined]
    kept, rejected = [], 0
    for chunk, completion in zip(chunks, completions):
        q = parse_model_question(chunk, completion.text)
        if q is None:
            rejected += 1
        else:
            check_quote(q, chunk)
            kept.append(q)
    return kept, rejected


def dedup_questions(questions: list[Question]) -> list[Question]:
    """Drop a question that repeats an earlier one (same wording and answer, case aside)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for q in questions:
        key = (q.question.casefold(), q.answer.casefold())
        if key not in seen:
            seen.add(key)
            out.append(q)
    return out
