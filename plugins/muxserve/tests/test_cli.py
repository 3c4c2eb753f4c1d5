"""The documented ``skyplex muxserve`` commands, run as written, and bad input on the command line."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins" / "muxserve.md"


# --- the documented commands, as written -----------------------------------------------------------
def _doc_commands() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", DOC.read_text(), re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("skyplex muxserve")]


def _cli(args: list[str]):
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_docs_list_the_three_commands():
    assert [c.split()[2] for c in _doc_commands()] == ["place", "simulate", "compare"]


@pytest.mark.parametrize("command", _doc_commands())
def test_documented_command_runs_as_written(command, monkeypatch):
    monkeypatch.chdir(REPO)
    res = _cli(shlex.split(command)[1:])
    assert res.exit_code == 0, res.output
    if "--json" in command:
        data = json.loads(res.output)
        assert data["unfinished"] == 0 and set(data["llms"]) == {"llm-0", "llm-1", "llm-2"}


@pytest.mark.parametrize("content,says", [
    ("models: [name: : :", "not valid YAML"),
    ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: x, model: llama-7b, rate: 0}]", "LLM 'x': rate must be > 0"),
    ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: x, model: llama-99q, rate: 1}]", "cannot read a model size"),
    ("cluster: {nnodes: 1, ngpus_per_node: 2}\nmodels: [{name: big, model: llama-65b, rate: 1}]", "fewer than the smallest mesh"),
    ("cluster: {nnodes: 2, ngpus_per_node: 2}\nmodels: [{name: a, model: llama-7b, rate: 1}, {name: big, model: llama-65b, rate: 1}]",
     "LLM 'big'"),
])
def test_bad_workloads_give_one_line_and_exit_2(tmp_path, content, says):
    f = tmp_path / "w.yaml"
    f.write_text(content)
    res = CliRunner().invoke(__import__("skyplex.cli.main", fromlist=["cli"]).cli, ["muxserve", "place", str(f)])
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0


def test_placement_missing_an_llm_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("num_gpus: 4\nmodels: [{name: llm-0, model: llama-7b, mps_percentage: [100, 30]}]\n")
    res = CliRunner().invoke(__import__("skyplex.cli.main", fromlist=["cli"]).cli,
                             ["muxserve", "simulate", "plugins/muxserve/tests/data/examples_basic/models.yaml",
                              "--placement", str(mesh)])
    assert res.exit_code == 2 and "unplaced" in res.output


def test_place_draws_the_placement_as_png(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    png = tmp_path / "placement.png"
    res = _cli(["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--plot", str(png), "--json"])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(res.output)["plot"] == str(png)


def test_place_with_the_authors_estimator_and_no_confirmation(monkeypatch):
    monkeypatch.chdir(REPO)
    res = _cli(["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--estimator", "fidelity",
                "--confirm", "0", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["gpus"] == 4
    bad = _cli(["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--confirm", "-2"])
    assert bad.exit_code == 2


def _profile_with_gap(tmp_path, profile_path) -> Path:
    import gzip

    raw = json.loads(gzip.decompress(profile_path.read_bytes()))
    for cell in raw["llama-7b"]["4"]["30"]["1"].values():  # batch 1 at 30% SM: every length missing
        cell["decoding"] = -1
    for cell in raw["llama-7b"]["4"]["30"]["2"].values():
        cell["decoding"] = -1
    out = tmp_path / "gappy.json"
    out.write_text(json.dumps(raw))
    return out


def test_missing_profile_entries_are_flagged_or_refused(tmp_path, monkeypatch, profile_path):
    monkeypatch.chdir(REPO)
    gappy = _profile_with_gap(tmp_path, profile_path)
    args = ["muxserve", "simulate", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--placement",
            "plugins/muxserve/tests/data/examples_basic/model_config.yaml", "--duration", "10", "--profile", str(gappy)]
    flagged = _cli(args + ["--json"])
    assert flagged.exit_code == 0, flagged.output
    gaps = json.loads(flagged.output)["gaps"]
    assert any(g[0] == "llama-7b" and g[1] == 4 and g[2] == "decode" for g in gaps)
    refused = CliRunner().invoke(__import__("skyplex.cli.main", fromlist=["cli"]).cli, args + ["--strict-profile"])
    assert refused.exit_code == 2
    assert "llama-7b on 4 GPU(s)" in refused.output and "missing" in refused.output


def test_placement_larger_than_the_cluster_is_refused_and_idle_gpus_are_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    small = tmp_path / "w.yaml"
    small.write_text("cluster: {nnodes: 1, ngpus_per_node: 2}\nmodels:\n"
                     "- {name: llm-0, model: llama-7b, rate: 1}\n- {name: llm-1, model: llama-13b, rate: 1}\n"
                     "- {name: llm-2, model: llama-30b, rate: 1}\n")
    res = CliRunner().invoke(__import__("skyplex.cli.main", fromlist=["cli"]).cli,
                             ["muxserve", "simulate", str(small), "--placement",
                              "plugins/muxserve/tests/data/examples_basic/model_config.yaml"])
    assert res.exit_code == 2 and "uses 4 GPUs but the cluster has 2" in res.output
    big = tmp_path / "big.yaml"
    big.write_text(small.read_text().replace("ngpus_per_node: 2", "ngpus_per_node: 8"))
    ok = _cli(["muxserve", "simulate", str(big), "--placement", "plugins/muxserve/tests/data/examples_basic/model_config.yaml",
               "--duration", "5", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["gpus_idle"] == 4


def test_place_refuses_an_out_directory_holding_older_placement_files(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "plan"
    args = ["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--confirm", "0", "--out", str(out)]
    first = _cli(args)
    assert first.exit_code == 0, first.output
    written = sorted(p.name for p in out.glob("*.yaml"))
    assert written
    again = CliRunner().invoke(__import__("skyplex.cli.main", fromlist=["cli"]).cli, args)
    assert again.exit_code == 2 and "already holds placement files" in again.output and "--out" in again.output
    assert again.output.strip().count("\n") == 0
    assert sorted(p.name for p in out.glob("*.yaml")) == written  # nothing overwritten


def test_compare_says_when_one_mesh_per_llm_does_not_fit(tmp_path):
    wl = tmp_path / "w.yaml"
    wl.write_text("cluster: {nnodes: 1, ngpus_per_node: 2}\nmodels:\n"
                  "- {name: a, model: llama-7b, rate: 2}\n- {name: b, model: llama-7b, rate: 1}\n"
                  "- {name: c, model: llama-7b, rate: 1}\n")
    res = _cli(["muxserve", "compare", str(wl), "--duration", "5", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert "needs 3 GPUs; the cluster has 2" in rows["spatial"]["skipped"]
    human = _cli(["muxserve", "compare", str(wl), "--duration", "5"])
    assert human.exit_code == 0 and "spatial    skipped" in human.output
