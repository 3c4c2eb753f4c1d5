"""The worked example of the docs: a RAFT dataset built from the plugin's own page, by the command the page
shows, as written, with the invariants the builder promises checked on what it wrote; and a Markdown source
the builder cannot use refused in one line with exit status 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from skyplex.testing.docs import code_blocks, documented_commands, plugin_doc, run_cli
from skyplex_raft.documents import load_corpus

DOCS = plugin_doc("raft", __file__)
PAGE = "docs/plugins/raft.md"


def shape(line: str) -> str:
    """The line with its numbers blanked: the counts follow the page, which changes as it is edited."""
    return re.sub(r"\d+", "N", line)


def own_docs_command() -> tuple[list[str], list[str]]:
    """The page's `skyplex raft build --source docs/plugins/raft.md ...` line and the output it shows."""
    found = [c for c in documented_commands(DOCS.read_text(), "skyplex raft")
             if c[0][:2] == ["raft", "build"] and PAGE in c[0]]
    assert len(found) == 1, f"expected one documented build from {PAGE}, found {len(found)}"
    return found[0]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def question_of(record: dict) -> str:
    return record["messages"][1]["content"].rsplit("Question:", 1)[1].strip()


def test_build_from_this_page_runs_as_written(tmp_path, monkeypatch):
    """Run from a folder holding the page at its checkout path (as in the repository and in the wheel check's copy)."""
    argv, expected = own_docs_command()
    (tmp_path / "docs" / "plugins").mkdir(parents=True)
    shutil.copy(DOCS, tmp_path / PAGE)
    monkeypatch.chdir(tmp_path)
    result = run_cli(argv, plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert shape(result.stdout.strip()) == shape(expected[0])

    out = Path(option(argv, "--out"))
    train = [json.loads(x) for x in out.read_text().splitlines()]
    test = [json.loads(x) for x in out.with_suffix(".test.jsonl").read_text().splitlines()]
    n_train, n_test, n_chunks, share = map(int, re.findall(r"\d+", result.stdout)[:4])
    assert [len(train), len(test)] == [n_train, n_test] and n_train > 0 and n_test > 0

    corpus = {c.id: c for c in load_corpus(PAGE)}
    headings = re.findall(r"(?m)^#{1,6}\s+\S", DOCS.read_text())
    assert n_chunks == len(corpus) == len(headings)  # one chunk per heading section, the title's included
    k, p = int(option(argv, "-k")), float(option(argv, "-p"))
    for split in (train, test):
        present = [r for r in split if r["raft"]["oracle_present"]]
        assert len(present) == round(p * len(split))  # P, to the example each split can hold
        assert abs(len(present) / len(split) - p) <= 0.5 / len(split) + 1e-9
    assert share == round(100 * sum(r["raft"]["oracle_present"] for r in train + test) / (n_train + n_test))

    for record in train + test:
        raft = record["raft"]
        oracle = corpus[raft["oracle_id"]]
        assert raft["quote"] and raft["quote"] in oracle.text, raft  # every quote verbatim in its oracle
        assert raft["answer"] in raft["quote"]
        assert question_of(record) == f'What does the section "{oracle.title}" state first?'
        assert len(raft["document_ids"]) == k
        assert (raft["oracle_id"] in raft["document_ids"]) == raft["oracle_present"]
        shown = re.findall(r"<DOCUMENT>(.*?)</DOCUMENT>", record["messages"][1]["content"], re.S)
        assert len(shown) == k
        assert (oracle.text in shown) == raft["oracle_present"]
        assert f"##begin_quote##{raft['quote']}##end_quote##" in record["messages"][2]["content"]
    # no held-out oracle anywhere in the train split
    held_out = {r["raft"]["oracle_id"] for r in test}
    assert not held_out & {d for r in train for d in r["raft"]["document_ids"]}

    # the example the page shows is one the command wrote, word for word
    example = next(b for b in code_blocks(DOCS.read_text(), "text") if b.startswith("Question:"))
    fields = dict(re.match(r"(\w+):\s+(.*)", line).groups() for line in example.splitlines())
    assert any((question_of(r), r["raft"]["quote"], r["raft"]["answer"])
               == (fields["Question"], fields["Quote"], fields["Answer"]) for r in train + test)


@pytest.mark.parametrize(("text", "message"), [
    ("Prose without a heading. It says a few things.\n\nAnother paragraph.\n",
     "k={k} needs {k} distractor documents besides the oracle, but the corpus has only 1"),
    ("# Title\n\n## Section\n", "holds no text to ask about (only headings or blank space)"),
    ("   \n\n", "the document is empty"),
])
def test_markdown_the_builder_cannot_use_is_one_line_exit_2(tmp_path, monkeypatch, text, message):
    """A page with no headings is one chunk, too few to draw distractors from; one with headings only, or
    blank, holds nothing to ask about: each refused in one line naming the input, nothing written."""
    argv, _ = own_docs_command()
    message = message.format(k=option(argv, "-k"))
    (tmp_path / "docs" / "plugins").mkdir(parents=True)
    (tmp_path / PAGE).write_text(text)
    monkeypatch.chdir(tmp_path)
    result = run_cli(argv, plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert PAGE in lines[0] or "k=" in lines[0]  # the file, or the setting it cannot serve
    assert not Path(option(argv, "--out")).exists()
