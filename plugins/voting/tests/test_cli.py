"""``skyplex voting ...`` as documented: every command in docs/plugins/voting.md run as written, the
cost-aware K checked against the curve it comes from, and bad input exiting 2 with one line."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from skyplex.cli.main import main
from skyplex_voting.api import load_samples

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def test_documented_law_commands(in_tmp_repo, kernel_factory, doc_commands, capsys):
    commands = [c for c in doc_commands if " sample " not in c]
    assert len(commands) == 8
    for cmd in commands:
        assert main(shlex.split(cmd)[1:], kernel_factory=kernel_factory) == 0, cmd
    out = capsys.readouterr().out
    assert "optimal K =" in out and "empirical" in out and "wrote voting-curve.png" in out
    assert "cost-aware K =" in out
    png = in_tmp_repo / "voting-curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_documented_cost_command_picks_the_best_net_value(in_tmp_repo, kernel_factory, doc_commands, capsys):
    (cmd,) = [c for c in doc_commands if "--value-per-correct" in c]
    args = shlex.split(cmd)[1:]
    assert main([*args, "--json"], kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    opt = dict(zip(args, args[1:]))  # each flag to the value after it
    per_call = (float(opt["--prompt-tokens"]) * float(opt["--input-price"])
                + float(opt["--completion-tokens"]) * float(opt["--output-price"])) / 1e6
    value = float(opt["--value-per-correct"])
    cost = out["cost"]
    assert cost["cost_per_call"] == pytest.approx(per_call, rel=1e-12)
    # the chosen K is the best net value over every K of the fitted curve, computed here from the curve
    curve = np.array(out["curve"])
    net = value * curve - per_call * np.arange(1, curve.size + 1)
    assert cost["k_cost_opt"] == int(np.argmax(net)) + 1
    assert cost["net_value_per_query"] == pytest.approx(net.max(), rel=1e-9)
    # calls are not free here: the cost-aware K is below the accuracy optimum, and earns more than it
    assert cost["k_cost_opt"] < out["k_opt"] == cost["k_accuracy_opt"]
    assert cost["net_value_per_query"] > cost["net_value_per_query_at_k_accuracy_opt"]


@pytest.mark.slow
def test_documented_sample_command_on_the_local_model(in_tmp_repo, skyplex_model_cache_dir, doc_commands, capsys):
    from skyplex import Kernel, Settings
    from skyplex.plugins import make_plugin_manager

    def factory(settings: Settings) -> Kernel:
        settings = Settings(data_dir=in_tmp_repo / "data",
                            models={"local": {"data_dir": str(skyplex_model_cache_dir), "threads": 2}})
        return Kernel(settings=settings, pm=make_plugin_manager(builtins=True, entrypoints=True,
                                                                  allowlist={"voting"}))

    (cmd,) = [c for c in doc_commands if " sample " in c]
    assert main(shlex.split(cmd)[1:], kernel_factory=factory) == 0
    records = load_samples(in_tmp_repo / "arith-samples.jsonl")
    assert len(records) == 6 and all(len(r["answers"]) == 4 for r in records)
    # real SmolLM2 answers to few-shot sums: digits, mostly right on the first (easy) question
    assert all(a is None or a.lstrip("-").isdigit() for r in records for a in r["answers"])
    # a rerun resumes from the cache: no new sampling, the same answers
    before = [r["answers"] for r in records]
    assert main(shlex.split(cmd)[1:], kernel_factory=factory) == 0
    assert [r["answers"] for r in load_samples(in_tmp_repo / "arith-samples.jsonl")] == before


PRICED = ["--input-price", "0.15", "--prompt-tokens", "40", "--completion-tokens", "2", "--value-per-correct", "0.01"]


@pytest.mark.parametrize("args,needle", [
    (["fit", "missing.jsonl"], "does not exist"),
    (["fit", "SAMPLES", "--kmax", "0"], "K must be"),
    (["fit", "SAMPLES", "--m", "1"], "at least 2 answers"),
    (["fit", "SAMPLES", "--m", "0"], "must be >= 1"),
    (["fit", "SAMPLES", "--tie", "coin"], "tie rule"),
    (["curve", "SAMPLES", "--k", "1,x"], "comma-separated"),
    (["curve", "SAMPLES", "--heldout"], "give m"),
    (["plot", "SAMPLES", "--out", "x.png"], "give --m"),
    (["fit", "BROKEN"], "not JSON"),
    (["fit", "NOANSWERS"], "needs 'answer'"),
    (["fit", "SAMPLES", "--input-price", "0.15"], "needs --prompt-tokens, --completion-tokens, --value-per-correct"),
    (["fit", "SAMPLES", "--output-price", "0.6"], "needs --input-price"),
    (["fit", "SAMPLES", *PRICED[:-1], "0"], "value_per_correct must be a finite number > 0"),
    (["fit", "SAMPLES", *PRICED[:2], "--prompt-tokens", "-3", *PRICED[4:]], "prompt_tokens must be"),
    (["fit", "SAMPLES", "--input-price", "nan", *PRICED[2:]], "input_price must be"),
])
def test_bad_input_on_the_cli_exits_2(tmp_path, kernel_factory, capsys, args, needle):
    (tmp_path / "broken.jsonl").write_text('{"answer": "A", "answers": ["A"]}\n{oops\n')
    (tmp_path / "noanswers.jsonl").write_text('{"id": 1, "answers": ["A"]}\n')
    subs = {"SAMPLES": str(SAMPLES), "BROKEN": str(tmp_path / "broken.jsonl"),
            "NOANSWERS": str(tmp_path / "noanswers.jsonl"), "missing.jsonl": str(tmp_path / "missing.jsonl")}
    assert main(["voting", *[subs.get(a, a) for a in args]], kernel_factory=kernel_factory) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
