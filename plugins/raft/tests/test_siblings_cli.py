"""``skyplex raft build --distractors siblings`` on real API docs cut into pieces: each example's distractors
are the other pieces of its oracle's own docstring first (never one holding the answer, and in the train
split never a held-out oracle), then BM25's picks."""

from __future__ import annotations

import json

from skyplex.testing.docs import run_cli
from skyplex_raft.builder import held_out_path
from skyplex_raft.documents import load_corpus

SOURCE, CHUNK_WORDS = "python:json,textwrap", 24


def test_siblings_are_the_oracle_document_s_other_pieces_first(tmp_path):
    out = tmp_path / "s.jsonl"
    result = run_cli(["raft", "build", "--source", SOURCE, "-k", "3", "-p", "0.5", "--chunk-tokens", str(CHUNK_WORDS),
                      "--tokenizer", "words", "--distractors", "siblings", "--out", str(out), "--json"],
                     plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metadata"]["distractors"] == "siblings"
    chunks = {c.id: c for c in load_corpus(SOURCE, chunk_tokens=CHUNK_WORDS)}
    records = [json.loads(line) for path in (out, held_out_path(out)) for line in path.read_text().splitlines()]
    test_oracles = {chunks[r["raft"]["oracle_id"]].text for r in records if r["raft"]["split"] == "test"}
    with_siblings = 0
    for r in records:
        raft = r["raft"]
        oracle = chunks[raft["oracle_id"]]
        shown = [chunks[d] for d in raft["document_ids"] if d != oracle.id]
        assert all(raft["answer"] not in d.text for d in shown)
        siblings = {c.id for c in chunks.values() if c.title == oracle.title and c.id != oracle.id
                    and raft["answer"] not in c.text and (raft["split"] == "test" or c.text not in test_oracles)}
        same = [d for d in shown if d.id in siblings]
        # a distractor from another document only once every eligible piece of the oracle's own is shown
        if len(same) < len(shown):
            assert {d.id for d in same} == siblings
        with_siblings += bool(same)
    assert with_siblings > len(records) // 4  # docstrings cut at 24 words: many have several pieces
