"""Model-written questions through a kernel model backend: kept only when the answer is verbatim."""

from __future__ import annotations

import json

from skyplex.testing.fakes import FakeModelBackend, ScriptedModelBackend
from skyplex_raft.builder import RaftOptions, build_examples
from skyplex_raft.questions import dedup_questions, model_questions, parse_model_question, template_questions


def test_only_verbatim_answers_are_kept(make_corpus):
    chunks = make_corpus(4, seed=7)
    first_sentence = chunks[0].text.split("\n\n")[1]
    replies = {
        chunks[0].title + "(": f"Question: What does it compute?\nAnswer: {first_sentence}",
        chunks[1].title + "(": "Question: What does it compute?\nAnswer: something the docs never say",
        chunks[2].title + "(": "I cannot think of a question.",
        chunks[3].title + "(": "Question: Which item?\nAnswer: `for item 3`",
    }
    backend = ScriptedModelBackend(replies)
    kept, rejected = model_questions(chunks, backend)
    assert rejected == 2
    assert [(q.oracle_id, q.answer) for q in kept] == [(chunks[0].id, first_sentence), (chunks[3].id, "for item 3")]
    for q, chunk in zip(kept, [chunks[0], chunks[3]]):
        assert q.answer in q.quote and q.quote in chunk.text and q.template == "model"


def test_model_questions_join_the_dataset(make_corpus):
    chunks = make_corpus(20, seed=2)
    backend = ScriptedModelBackend({c.title + "(": f"Question: What is {c.title} about?\nAnswer: for item {i}"
                                    for i, c in enumerate(chunks)})
    written, rejected = model_questions(chunks, backend)
    assert rejected == 0 and len(written) == 20
    questions = dedup_questions(template_questions(chunks) + written + written)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=3))
    model_examples = [e for e in examples if e.question.template == "model"]
    assert len(model_examples) == 20
    for e in model_examples:  # "for item 1" also sits in "for item 10": such chunks are not distractors
        assert all(e.question.answer not in d.text for d in e.documents if d.id != e.question.oracle_id)


def test_a_paraphrase_is_not_repaired(make_corpus):
    chunk = make_corpus(1)[0]
    assert parse_model_question(chunk, "Question: Why?\nAnswer: " + chunk.text.split("\n")[0].upper()) is None


def test_cli_model_option_uses_a_kernel_backend(tmp_path):
    from click.testing import CliRunner
    from skyplex import Kernel, hookimpl, make_plugin_manager
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    class Models:
        @hookimpl
        def skyplex_register_models(self, register):
            # answers with the chunk's first line (its signature): verbatim, and unique to the chunk
            register("scripted", lambda: FakeModelBackend(
                lambda prompt: f"Question: How is it called?\nAnswer: {prompt.split(chr(10) * 2)[1].splitlines()[0]}"))

    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"raft"})
    pm.register(Models())
    state = CliState(lambda s: Kernel(settings=s, pm=pm))
    out = tmp_path / "d.jsonl"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "raft", "build", "--source", "python:json",
                                      "-k", "2", "--model", "scripted", "--out", str(out), "--json"], obj=state)
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["metadata"]
    assert meta["model_questions"] + meta["model_questions_rejected"] == meta["chunks"]
    assert meta["model_questions"] > 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    rows += [json.loads(x) for x in (tmp_path / "d.test.jsonl").read_text().splitlines()]
    assert any(r["raft"]["template"] == "model" and r["raft"]["answer"].startswith("json.") for r in rows)

    bad = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "raft", "build", "--source", "python:json",
                                   "--model", "no-such-model", "--out", str(tmp_path / "x.jsonl")], obj=state)
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no-such-model" in bad.stderr
