"""Resumable builds (a crash at each durable write resumes without asking the model twice or writing a
record twice) and token-based chunking (every piece within the budget, nothing dropped)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.testing.fakes import FakeModelBackend
from skyplex_raft import builder, journal
from skyplex_raft.builder import RaftOptions
from skyplex_raft.chunking import count_words, split_by_tokens
from skyplex_raft.documents import load_corpus
from skyplex_raft.questions import MODEL_PROMPT
from skyplex_raft.trainer import build_dataset

SOURCE = "python:json,textwrap,shlex"


class Crash(Exception):
    """Stands for the process dying at an injected point."""


def copy_answer(prompt: str) -> str:
    """A model that asks about the documented API's first line: always a valid, checkable question."""
    doc = prompt.split("\n\n", 2)[1]
    first = doc.split("\n", 1)[0].strip()
    return f"Question: What is the first line of the entry {first[:20]!r}?\nAnswer: {first}"


class CountingModel(FakeModelBackend):
    """Records every chunk it is asked about; dies on the ``die_on``-th generate call when set."""

    def __init__(self, die_on: int | None = None) -> None:
        super().__init__(copy_answer)
        self.asked: list[str] = []
        self.die_on, self.batches = die_on, 0

    def generate(self, prompts, params=None):
        self.batches += 1
        if self.die_on == self.batches:
            raise Crash("died while the model was answering")
        self.asked += [p[0].content for p in prompts]
        return super().generate(prompts, params)


def build(out: Path, model: CountingModel):
    return build_dataset(SOURCE, out, RaftOptions(k=3, seed=2), backend=model, model_name="counting")


def files(out: Path) -> tuple[str, str]:
    return out.read_text(), builder.held_out_path(out).read_text()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "raft.jsonl"
    model = CountingModel()
    art = build(out, model)
    return files(out), art, len(model.asked)


def test_clean_build_journals_one_reply_per_chunk(clean, tmp_path):
    (train, test), art, asked = clean
    lines = Path(art.metadata["journal"]).read_text().splitlines()
    assert asked == art.metadata["chunks"] == len(lines) == len({json.loads(x)["chunk"] for x in lines})
    assert art.metadata["model_questions"] > 0 and art.metadata["model_replies_reused"] == 0


@pytest.mark.parametrize("point", ["model-batch-1", "model-batch-2", "journal-append-2", "torn-journal-line",
                                   "train-write", "test-write"])
def test_a_crash_at_each_durable_write_resumes_without_redoing_or_duplicating(point, clean, tmp_path, monkeypatch):
    (train, test), clean_art, total = clean
    out = tmp_path / "raft.jsonl"
    model = CountingModel(die_on=int(point[-1]) if point.startswith("model-batch") else None)
    real_append, real_replace = journal.QuestionJournal.append, builder.os.replace
    state = {"appends": 0, "replaces": 0}
    if point in {"journal-append-2", "torn-journal-line"}:
        def dying_append(self, replies):
            state["appends"] += 1
            if state["appends"] == 2:
                if point == "torn-journal-line":  # half a line reaches the disk before the process dies
                    with self.path.open("a") as fh:
                        fh.write(json.dumps({"model": self.model, "chunk": replies[0][0], "reply": replies[0][1]})[:25])
                raise Crash("died appending to the journal")
            real_append(self, replies)
        monkeypatch.setattr(journal.QuestionJournal, "append", dying_append)
    elif point in {"train-write", "test-write"}:
        def dying_replace(src, dst):
            state["replaces"] += 1
            if state["replaces"] == (1 if point == "train-write" else 2):
                raise Crash("died before the rename")
            real_replace(src, dst)
        monkeypatch.setattr(builder.os, "replace", dying_replace)
    with pytest.raises(Crash):
        build(out, model)
    monkeypatch.undo()
    journaled = journal.QuestionJournal(journal.journal_path(out), "counting").load()
    assert point != "model-batch-2" or len(journaled) > 0
    resumed = CountingModel()
    art = build(out, resumed)
    # nothing asked twice: the rerun asks exactly about the chunks the journal lacked
    prompts = {c.id: MODEL_PROMPT.format(text=c.text) for c in load_corpus(SOURCE)}
    assert not set(resumed.asked) & {prompts[cid] for cid in journaled}
    assert len(resumed.asked) == total - len(journaled)
    assert art.metadata["model_replies_reused"] == len(journaled)
    lines = journal.journal_path(out).read_text().splitlines()
    chunk_ids = [json.loads(x)["chunk"] for x in lines]  # every line whole JSON, no chunk twice
    assert len(chunk_ids) == len(set(chunk_ids)) == total
    assert files(out) == (train, test)


def test_a_finished_build_reruns_without_asking_the_model(clean, tmp_path):
    out = tmp_path / "raft.jsonl"
    build(out, CountingModel())
    again = CountingModel()
    art = build(out, again)
    assert again.asked == [] and art.metadata["model_replies_reused"] == art.metadata["chunks"]


def test_replies_of_another_model_are_not_reused(tmp_path):
    out = tmp_path / "raft.jsonl"
    build(out, CountingModel())
    other = CountingModel()
    build_dataset(SOURCE, out, RaftOptions(k=3, seed=2), backend=other, model_name="another")
    assert len(other.asked) > 0


# token-based chunking ------------------------------------------------------------------------------

TEXT = st.lists(st.one_of(st.text(alphabet="abc xyz.\n", min_size=0, max_size=40),
                          st.just("\n\n"), st.text(alphabet="q", min_size=30, max_size=90)), max_size=25).map("".join)


def char_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per 3 characters (long words cost many tokens, as in BPE)."""
    return -(-len(text) // 3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT, budget=st.integers(8, 40), counter=st.sampled_from([count_words, char_tokens]))
def test_pieces_fit_the_budget_and_drop_nothing(text, budget, counter):
    pieces = split_by_tokens(text, budget, counter)
    assert all(p and p == p.strip() and counter(p) <= budget for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())


def test_too_small_a_budget_is_refused():
    with pytest.raises(InvalidInputError, match="chunk_tokens=4 is too small"):
        split_by_tokens("some text", 4)


def test_real_api_docs_chunk_by_the_models_tokenizer(skyplex_local_backend):
    count = skyplex_local_backend.count_tokens
    whole = load_corpus("python:json")
    pieces = load_corpus("python:json", chunk_tokens=64, count=count)
    assert len(pieces) > len(whole) and all(count(c.text) <= 64 for c in pieces)
    # a long docstring spans several chunks that keep its API name, and no text is lost (the corpus
    # then drops a piece whose text repeats another API's, as it drops any repeated chunk)
    import inspect
    import json as json_module

    from skyplex_raft.documents import _api_chunks

    parts = _api_chunks("json", "dumps", json_module.dumps, 64, count)
    assert len(parts) > 1 and {c.title for c in parts} == {"json.dumps"}
    joined = "".join("".join(c.text.split()) for c in parts)
    assert joined.endswith("".join(inspect.getdoc(json_module.dumps).split()))


def test_section_files_chunk_by_tokens(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text("# Usage\n\n" + "\n\n".join(f"Paragraph {i} says the value {i} is kept." for i in range(30)))
    pieces = load_corpus(str(doc), chunk_tokens=20)
    assert len(pieces) > 3 and all(count_words(c.text) <= 20 for c in pieces)
    assert {c.title for c in pieces} == {"Usage"}
    assert re.search(r"Paragraph 29", pieces[-1].text)
