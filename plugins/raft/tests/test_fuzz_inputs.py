"""Bounded fuzzing of the inputs people and models hand the builder: arbitrary text files and replies
either give checked questions or a clear refusal, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.documents import section_chunks
from skyplex_raft.questions import parse_model_question, template_questions

LINES = st.one_of(st.text(max_size=60), st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 6),
                                                  st.text(min_size=1, max_size=20)))


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(LINES, max_size=12), raw=st.binary(max_size=40), use_raw=st.booleans())
@example(lines=[], raw=b"\x1c", use_raw=True)  # a lone separator: whitespace to str.strip, so no text
def test_any_text_file_gives_checked_questions_or_a_named_refusal(lines, raw, use_raw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.md"
        if use_raw:
            path.write_bytes(raw)
        else:
            path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        try:
            chunks = section_chunks(path)
        except InvalidInputError as exc:
            assert "doc.md" in str(exc) and "\n" not in str(exc)
            return
        by_id = {c.id: c for c in chunks}
        assert chunks and all(c.text.strip() for c in chunks)
        for q in template_questions(chunks):
            assert q.answer and q.answer in q.quote and q.quote in by_id[q.oracle_id].text


@settings(max_examples=200, deadline=None)
@given(reply=st.text(max_size=120), answer_from_chunk=st.booleans(), start=st.integers(0, 80), size=st.integers(1, 30))
def test_any_model_reply_is_kept_only_when_verbatim(make_corpus, reply, answer_from_chunk, start, size):
    chunk = make_corpus(1)[0]
    if answer_from_chunk:
        reply = f"Question: {reply.splitlines()[0] if reply.strip() else 'Why'}?\nAnswer: {chunk.text[start:start + size]}"
    q = parse_model_question(chunk, reply)
    if q is not None:
        assert q.answer and q.answer in chunk.text and q.answer in q.quote and q.quote in chunk.text
