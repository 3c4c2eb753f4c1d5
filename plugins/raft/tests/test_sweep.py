"""The P and k sweep and its plot: real sweeps over the API docs of installed stdlib modules (scored by a
rule-based reader that answers from the documents it is shown and abstains otherwise, so the scores
follow the data), the plot drawn from the results on disk, the paired bootstrap, and bad knob values
refused in one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.testing.docs import run_cli
from skyplex.testing.fakes import FakeModelBackend
from skyplex_raft.builder import ABSTAIN_ANSWER
from skyplex_raft.evaluate import paired_bootstrap_diff
from skyplex_raft.sweep import load_sweep, metric_series, parse_knob, plot_sweep, run_sweep

pytest.importorskip("matplotlib")
SOURCE = "python:json,textwrap,shlex,difflib,base64"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def reader(prompt: str) -> str:
    """Answer a templated question from the documents in the prompt: the signature or Return sentence of
    the document headed by the name asked about; when no document is, say the documents lack it."""
    question = prompt.rsplit("Question: ", 1)[1]
    name = re.search(r"`([^`]+)`", question).group(1)
    for document in re.findall(r"<DOCUMENT>(.*?)</DOCUMENT>", prompt, re.S):
        first = document.split("\n", 1)[0]
        if not first.startswith(name + "("):
            continue
        if question.startswith("Which parameters"):
            return f"<ANSWER>: {first[len(name):]}"
        returns = re.search(r"(?m)^[ \t]*((?:Return|Returns)\b[^\n]*?)(?:\.(?=\s|$)|$)", document[len(first):])
        if returns:
            return f"<ANSWER>: {returns.group(1)}"
    return f"<ANSWER>: {ABSTAIN_ANSWER}"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A real evaluation sweep (no training): P in {0, 0.5, 1} by k in {1, 3} over real API docs."""
    out = tmp_path_factory.mktemp("sweep")
    run_sweep(SOURCE, out, [0.0, 0.5, 1.0], [1, 3], finetune=False, backend=FakeModelBackend(reader),
              build={"test_fraction": 0.4}, suite={"max_tokens": 512, "bootstrap": 200})
    return out


def test_the_sweep_scores_every_cell_on_the_same_questions(sweep_dir):
    results = load_sweep(sweep_dir / "sweep.json")
    cells = {(c["p"], c["k"]): c for c in results["cells"]}
    assert sorted(cells) == [(p, k) for p in (0.0, 0.5, 1.0) for k in (1, 3)]
    for (p, k), cell in cells.items():
        test = [json.loads(x) for x in Path(cell["dataset"]).with_suffix(".test.jsonl").read_text().splitlines()]
        assert cell["questions"] == len(test) > 10
        assert all(len(r["raft"]["document_ids"]) == k for r in test)
        # without training, the held-out split has oracle share P
        assert sum(r["raft"]["oracle_present"] for r in test) == round(p * len(test))
    ids = {frozenset(json.loads(x)["raft"]["question_id"] for x in
                     Path(c["dataset"]).with_suffix(".test.jsonl").read_text().splitlines()) for c in cells.values()}
    assert len(ids) == 1


def test_the_reader_s_scores_follow_the_oracle_share(sweep_dir):
    results = load_sweep(sweep_dir / "sweep.json")
    for k in (1, 3):
        f1 = [next(c for c in results["cells"] if c["p"] == p and c["k"] == k)["scores"]["f1"]["value"]
              for p in (0.0, 0.5, 1.0)]
        assert f1[0] < f1[1] < f1[2]
        cell = next(c for c in results["cells"] if c["p"] == 0.0 and c["k"] == k)
        assert cell["scores"]["abstain@distractors"]["value"] > 0.9  # no oracle shown: the reader abstains


def test_the_plot_draws_the_results_on_disk(sweep_dir, tmp_path):
    results = load_sweep(sweep_dir / "sweep.json")
    series = plot_sweep(results, "f1", tmp_path / "f1.png")
    data = (tmp_path / "f1.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    # every point drawn is a cell's score as the sweep wrote it
    for k, points in series["by_p"].items():
        for p, score in points:
            cell = next(c for c in results["cells"] if c["p"] == p and c["k"] == k)
            assert score == cell["scores"]["f1"]
    assert sorted(series["by_p"]) == [1, 3] and sorted(series["by_k"]) == [0.0, 0.5, 1.0]
    assert [p for p, _ in series["by_p"][1]] == [0.0, 0.5, 1.0]
    # another metric draws other values: nothing is fixed in the plotting
    other = plot_sweep(results, "abstain", tmp_path / "abstain.png")
    assert [s["value"] for _, s in other["by_p"][3]] != [s["value"] for _, s in series["by_p"][3]]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(tmp_path / "f1.png"))
    assert pixels.shape[:2] == (400, 1000) and pixels.std() > 0.01


def test_a_metric_missing_from_some_cells_leaves_gaps(sweep_dir):
    # at P = 1 no question lacks its oracle, so @distractors has no point there
    series = metric_series(load_sweep(sweep_dir / "sweep.json"), "abstain@distractors")
    assert [p for p, _ in series["by_p"][3]] == [0.0, 0.5]
    with pytest.raises(InvalidInputError, match="metric 'nope' is not in these results"):
        metric_series(load_sweep(sweep_dir / "sweep.json"), "nope")


def test_plot_command_redraws_a_finished_sweep(sweep_dir, tmp_path):
    out = tmp_path / "abstain.png"
    result = run_cli(["raft", "plot", "--results", str(sweep_dir / "sweep.json"), "--metric", "abstain@distractors",
                      "--out", str(out)], plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["p", "k", "abstain@distractors"] and lines[-1] == f"wrote {out}"
    assert len(lines) == 2 + 6


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "1.5"], "p=1.5 is outside [0, 1]"),
    (["-p", "0.5,-0.2"], "p=-0.2 is outside [0, 1]"),
    (["-p", "half"], "p='half' is not a number"),
    (["-p", "0.5,,1"], "give comma-separated values"),
    (["-p", "0.5,0.5"], "p=0.5 is given twice"),
    (["-k", "0"], "k=0: k counts the documents shown"),
    (["-k", "2.5"], "k=2.5: k counts the documents shown"),
    (["-k", "99"], "k=99 needs 99 distractor documents"),
    (["--test-p", "2"], "test_p=2.0 is outside [0, 1]"),
    (["--metric", "accuracy"], "--metric 'accuracy' is not a raft score"),
    (["--metric", "supported@oracle"], "--metric 'supported@oracle' is not a raft score of a sweep"),
    (["--rank", "0"], "r=0 must be at least 1"),
    (["--limit", "0"], "must be at least 1"),
])
def test_bad_knob_values_are_one_line_exit_2(tmp_path, args, message):
    result = run_cli(["raft", "sweep", "--source", SOURCE, "--out", str(tmp_path / "s"), *args],
                     plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "s" / "sweep.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--results", "MISSING"], "no such file"),
    (["--results", "NOTSWEEP"], "not a sweep's sweep.json"),
    (["--results", "NOTSWEEP", "--metric", "nope"], "--metric 'nope' is not a raft score"),
    (["--results", "NOTSWEEP", "--metric", "supported"], "--metric 'supported' is not a raft score of a sweep"),
])
def test_plot_bad_input_is_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "not.json").write_text('{"cells": [{"p": 1}]}')
    args = [str(tmp_path / {"MISSING": "none.json", "NOTSWEEP": "not.json"}[a]) if a in {"MISSING", "NOTSWEEP"}
            else a for a in args]
    result = run_cli(["raft", "plot", *args, "--out", str(tmp_path / "x.png")], plugins={"raft"},
                     data_dir=tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and not (tmp_path / "x.png").exists()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(0, 100), min_size=1, max_size=6, unique=True))
def test_knob_lists_round_trip(values):
    text = ",".join(f"{v / 100:g}" for v in values)
    assert parse_knob(text, "p") == [v / 100 for v in values]
    assert parse_knob(",".join(str(v + 1) for v in values), "k") == [float(v + 1) for v in values]


@settings(max_examples=100, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: not 0 <= v <= 1))
def test_p_outside_the_unit_interval_is_refused(value):
    with pytest.raises(InvalidInputError, match="is outside \\[0, 1\\]"):
        parse_knob(f"0.5,{value!r}", "p")


@settings(max_examples=100, deadline=None)
@given(control=st.lists(st.floats(0, 1), min_size=2, max_size=40), shift=st.floats(-1, 1), seed=st.integers(0, 50))
def test_paired_difference_of_a_constant_shift_is_exact(control, shift, seed):
    treatment = [c + shift for c in control]
    diff, low, high = paired_bootstrap_diff(treatment, control, resamples=200, seed=seed)
    assert diff == pytest.approx(shift, abs=1e-9) and low == pytest.approx(shift, abs=1e-9)
    assert high == pytest.approx(shift, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=40), seed=st.integers(0, 50))
def test_paired_interval_brackets_the_mean_difference(pairs, seed):
    treatment, control = [a for a, _ in pairs], [b for _, b in pairs]
    diff, low, high = paired_bootstrap_diff(treatment, control, resamples=200, seed=seed)
    assert low <= diff <= high
    assert diff == pytest.approx(sum(treatment) / len(pairs) - sum(control) / len(pairs), abs=1e-9)


def test_pairing_removes_the_questions_difficulty():
    """Questions of very different difficulty, one subject a fixed 0.1 better on each: two separate
    intervals overlap, the paired one excludes 0."""
    from skyplex_raft.evaluate import bootstrap_ci

    control = [0.05 * (i % 20) for i in range(40)]
    treatment = [c + 0.1 for c in control]
    low_t, _ = bootstrap_ci(treatment)
    _, high_c = bootstrap_ci(control)
    assert low_t < high_c
    assert paired_bootstrap_diff(treatment, control)[1] > 0
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap_diff([1.0], [1.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0, 1), test_p=st.floats(0, 1))
def test_test_p_sets_the_held_out_share_alone(seed, p, test_p, make_corpus):
    from skyplex_raft.builder import RaftOptions, build_examples
    from skyplex_raft.questions import template_questions

    chunks = make_corpus(40, seed)
    examples, _ = build_examples(chunks, template_questions(chunks),
                                 RaftOptions(k=2, p=p, test_p=test_p, test_fraction=0.4, seed=seed))
    for split, share in (("train", p), ("test", test_p)):
        group = [e for e in examples if e.split == split]
        assert sum(e.oracle_present for e in group) == round(share * len(group))
    with pytest.raises(InvalidInputError, match="test_p=1.5 is outside"):
        RaftOptions(test_p=1.5).validate()
