"""A build's durable record of model-written questions, so a build that dies resumes where it stopped.

Asking a model for questions is the slow part of a build; every reply is appended (flushed and
synced) to ``NAME.questions.jsonl`` beside the output as soon as its batch returns, one line per chunk,
keyed by model and chunk id. A rerun reads the journal and asks the model only about chunks not in it,
so no reply is asked for twice and none is recorded twice. A line torn by a crash mid-write is cut off
before anything is appended. Everything after the questions (distractors, splits) is deterministic for
the same seed and recomputed; the output files are replaced atomically, so they are whole or absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .documents import Chunk
from .questions import MODEL_PROMPT, Question, check_quote, parse_model_question


def journal_path(out: Path) -> Path:
    """``data.jsonl`` -> ``data.questions.jsonl``."""
    return out.with_name(out.stem + ".questions" + out.suffix)


class QuestionJournal:
    """Replies of ``model`` per chunk id, read from and appended to ``path``."""

    def __init__(self, path: Path, model: str) -> None:
        self.path, self.model = path, model

    def load(self) -> dict[str, str]:
        """Chunk id -> reply recorded for this model; a torn last line is cut off the file."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        whole = data[:data.rfind(b"\n") + 1]
        if len(whole) != len(data):  # the process died mid-line: drop the fragment so appends stay lines
            with self.path.open("r+b") as fh:
                fh.truncate(len(whole))
        replies = {}
        for line in whole.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("model") == self.model:
                replies[str(record.get("chunk"))] = str(record.get("reply", ""))
        return replies

    def append(self, replies: list[tuple[str, str]]) -> None:
        """Record ``(chunk id, reply)`` pairs durably (one write, flushed and synced)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({"model": self.model, "chunk": cid, "reply": reply}, ensure_ascii=False) + "\n"
                        for cid, reply in replies)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())


def journaled_model_questions(chunks: list[Chunk], backend: Any, journal: QuestionJournal, *, batch_size: int = 8,
                              max_tokens: int = 96, progress: Callable[[int, int], None] | None = None
                              ) -> tuple[list[Question], int, int]:
    """One model-written question per chunk (as :func:`questions.model_questions`), asking only about the
    chunks the journal lacks; returns the kept questions, the rejected count and how many were reused."""
    from skyplex.interfaces import ChatMessage, GenerationParams

    replies = journal.load()
    reused = sum(c.id in replies for c in chunks)
    todo = [c for c in chunks if c.id not in replies]
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        prompts = [[ChatMessage(role="user", content=MODEL_PROMPT.format(text=c.text))] for c in batch]
        completions = backend.generate(prompts, params)
        pairs = [(c.id, completion.text) for c, completion in zip(batch, completions)]
        journal.append(pairs)
        replies.update(pairs)
        if progress is not None:
            progress(reused + start + len(batch), len(chunks))
    kept, rejected = [], 0
    for chunk in chunks:
        question = parse_model_question(chunk, replies[chunk.id])
        if question is None:
            rejected += 1
        else:
            check_quote(question, chunk)
            kept.append(question)
    return kept, rejected, reused
