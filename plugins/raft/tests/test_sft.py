"""The domain fine-tuning baseline's data: the RAFT train split with the documents taken out of every
prompt and the answer target on every example (quote, then final answer). Checked over real API-doc
builds (plain and abstain mode) and searched over generated corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import SYSTEM_PROMPT, RaftOptions, build_examples, held_out_path, quotes_in, write_jsonl
from skyplex_raft.documents import api_doc_chunks
from skyplex_raft.evaluate import final_answer, is_abstention
from skyplex_raft.finetune import read_chat_records
from skyplex_raft.questions import template_questions
from skyplex_raft.sft import sft_record, write_sft_dataset

REAL_MODULES = ["json", "textwrap", "shlex", "difflib", "base64"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def build(chunks, options: RaftOptions, folder: Path) -> Path:
    examples, _ = build_examples(chunks, template_questions(chunks), options)
    out = folder / "raft.jsonl"
    write_jsonl([e for e in examples if e.split == "train"], out)
    write_jsonl([e for e in examples if e.split == "test"], held_out_path(out))
    return out


def check_sft(raft_train: Path, sft: Path, count: int, oracle_texts: dict[str, str]) -> None:
    raft_rows, sft_rows = records(raft_train), records(sft)
    assert count == len(sft_rows) == len({r["raft"]["question_id"] for r in raft_rows})
    by_question = {r["raft"]["question_id"]: r for r in raft_rows}
    test_ids = {r["raft"]["question_id"] for r in records(held_out_path(raft_train))}
    for row in sft_rows:
        raft = by_question[row["raft"]["question_id"]]
        system, user, assistant = (m["content"] for m in row["messages"])
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert system == SYSTEM_PROMPT and "<DOCUMENT>" not in user and row["raft"]["document_ids"] == []
        assert user == "Question: " + raft["messages"][1]["content"].rsplit("Question: ", 1)[1]
        # the answer format RAFT teaches, even where the RAFT example lacked its oracle or abstained
        assert final_answer(assistant) == raft["raft"]["answer"] and not is_abstention(final_answer(assistant))
        assert quotes_in(assistant) == [raft["raft"]["quote"]]
        assert raft["raft"]["quote"] in oracle_texts[raft["raft"]["oracle_id"]]
        assert row["raft"]["sft"] is True and row["raft"]["question_id"] not in test_ids
    assert read_chat_records(sft)  # the fine-tune reads it as chat records


@pytest.fixture(scope="module")
def real_chunks():
    """Chunks of the API docs of installed stdlib modules."""
    return api_doc_chunks(REAL_MODULES)


@pytest.mark.parametrize("abstain", [False, True])
def test_real_docs_sft_keeps_every_train_question_without_documents(tmp_path, real_chunks, abstain):
    train = build(real_chunks, RaftOptions(k=3, p=0.6, test_fraction=0.3, abstain=abstain), tmp_path)
    count = write_sft_dataset(train, tmp_path / "sft.jsonl")
    check_sft(train, tmp_path / "sft.jsonl", count, {c.id: c.text for c in real_chunks})
    if abstain:
        assert any(r["raft"]["abstain"] for r in records(train))  # the RAFT side did abstain somewhere


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(n=st.integers(20, 40), seed=st.integers(0, 10_000), p=st.floats(0, 1), k=st.integers(1, 3),
       abstain=st.booleans())
def test_sft_over_generated_corpora(n, seed, p, k, abstain, make_corpus, tmp_path_factory):
    chunks = make_corpus(n, seed)
    folder = tmp_path_factory.mktemp("sft")
    train = build(chunks, RaftOptions(k=k, p=p, seed=seed, abstain=abstain, test_fraction=0.25), folder)
    count = write_sft_dataset(train, folder / "sft.jsonl")
    check_sft(train, folder / "sft.jsonl", count, {c.id: c.text for c in chunks})


def test_a_question_seen_twice_is_kept_once(tmp_path, real_chunks):
    train = build(real_chunks, RaftOptions(k=2, p=0.8), tmp_path)
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines + lines[:3]) + "\n")
    assert write_sft_dataset(train, tmp_path / "sft.jsonl") == len(lines)


def test_bad_input_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        write_sft_dataset(tmp_path / "missing.jsonl", tmp_path / "sft.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="holds no examples"):
        write_sft_dataset(empty, tmp_path / "sft.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(InvalidInputError, match="bad.jsonl line 1: not a RAFT record"):
        write_sft_dataset(bad, tmp_path / "sft.jsonl")
    assert not (tmp_path / "sft.jsonl").exists()  # nothing half-written
    with pytest.raises(InvalidInputError, match="not a RAFT record"):
        sft_record({"messages": [], "raft": {}})
