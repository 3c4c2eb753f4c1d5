"""The documented surfaces: conformance kits, the commands in docs/plugins/muxserve.md, the routes."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from skyplex.interfaces import GPUType, ScheduledRequest
from skyplex.testing import AllocatorConformance, SchedulerConformance
from skyplex_muxserve.allocator import MuxServeAllocator
from skyplex_muxserve.scheduler import ADBSScheduler
from skyplex_muxserve.workload import LLM, MuxWorkload

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins" / "muxserve.md"


class TestMuxServeAllocator(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        return MuxServeAllocator()

    @pytest.fixture
    def problem(self):
        from skyplex.interfaces import AllocationProblem

        wl = MuxWorkload([LLM("a", "llama-7b", 4.0), LLM("b", "llama-13b", 1.0), LLM("c", "llama-30b", 0.5)], 1, 4)
        return AllocationProblem(workload=wl.to_workload(), gpu_types=[GPUType(name="A100-80GB", memory_gb=80,
                                                                              price_per_hour=3.67)])


class TestADBSScheduler(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return ADBSScheduler()

    @pytest.fixture
    def requests(self):
        return [ScheduledRequest(id=f"r{i}", prompt="hello " * (i % 5 + 1), model=["a", "a", "a", "b"][i % 4])
                for i in range(20)]


def test_adbs_gives_popular_models_more_batches_but_never_starves():
    reqs = [ScheduledRequest(id=f"a{i}", prompt="x", model="a") for i in range(40)]
    reqs += [ScheduledRequest(id=f"b{i}", prompt="x", model="b") for i in range(4)]
    sched = ADBSScheduler().plan(reqs, {"rates": {"a": 9, "b": 1}, "max_batch": 2})
    first_b = next(i for i, b in enumerate(sched.batches) if b[0].startswith("b"))
    assert first_b <= 10  # b's first batch comes within its weighted turn, not after all of a
    assert sched.details["batches_per_model"]["a"] > sched.details["batches_per_model"]["b"]
    with pytest.raises(Exception, match="no quota/rate given for model 'b'"):
        ADBSScheduler().plan(reqs, {"rates": {"a": 1}})


def test_allocation_uses_every_gpu_and_places_every_llm():
    from skyplex.interfaces import AllocationProblem

    wl = MuxWorkload([LLM(f"m{i}", "llama-7b", 1.0 + i) for i in range(5)], 1, 8)
    alloc = MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload()))
    assert alloc.total_gpus == 8
    assert sorted(m for p in alloc.placements for m in p.models) == sorted(m.name for m in wl.llms)


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


# --- gateway ---------------------------------------------------------------------------------------
@pytest.fixture
def client(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"muxserve"})
    kernel = Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm, strict=True).startup()
    app = create_app(kernel, api_key="k", auth=True)
    with TestClient(app) as c:
        yield c
    kernel.close()


def _doc_curl_body() -> dict:
    body = re.search(r"-d '(\{.*\})'", DOC.read_text()).group(1)
    return json.loads(body)


def test_documented_place_route(client):
    res = client.post("/plugins/muxserve/place", json=_doc_curl_body(), headers={"Authorization": "Bearer k"})
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["gpus"] == 4 and sorted(x["name"] for m in data["meshes"] for x in m["llms"]) == ["a", "b"]


def test_simulate_route_and_bad_input_is_4xx(client):
    h = {"Authorization": "Bearer k"}
    wl = _doc_curl_body()["workload"]
    mesh = {"num_gpus": 4, "models": [{"name": "a", "model": "llama-7b", "mps_percentage": [80, 60]},
                                      {"name": "b", "model": "llama-13b", "mps_percentage": [90, 40]}]}
    ok = client.post("/plugins/muxserve/simulate", json={"workload": wl, "placement": [mesh], "duration_s": 10}, headers=h)
    assert ok.status_code == 200, ok.text
    assert ok.json()["unfinished"] == 0
    bad_rate = {**wl, "models": [{"name": "a", "model": "llama-7b", "rate": -1}]}
    r = client.post("/plugins/muxserve/place", json={"workload": bad_rate}, headers=h)
    assert r.status_code == 400 and "rate must be > 0" in r.text
    r = client.post("/plugins/muxserve/simulate", json={"workload": wl, "placement": [{**mesh, "num_gpus": 3}]}, headers=h)
    assert r.status_code == 400 and "no latency profile" in r.text
    r = client.post("/plugins/muxserve/simulate", json={"workload": wl, "placement": []}, headers=h)
    assert 400 <= r.status_code < 500


def test_place_draws_the_placement_as_png(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    png = tmp_path / "placement.png"
    res = _cli(["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml", "--plot", str(png), "--json"])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(res.output)["plot"] == str(png)


def test_allocator_options_are_checked_and_fidelity_mode_runs():
    from skyplex.errors import InvalidInputError
    from skyplex.interfaces import AllocationProblem

    wl = MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 1.0)], 1, 4)
    with pytest.raises(InvalidInputError, match="options.confirm must be an integer >= 0"):
        MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload(), options={"confirm": -1}))
    alloc = MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload(),
                                                          options={"estimator": "fidelity", "confirm": 0}))
    assert alloc.total_gpus == 4


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


def test_kernel_routes_reach_the_allocator_and_the_scheduler(client):
    h = {"Authorization": "Bearer k"}
    wl = MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 1.0)], 1, 4).to_workload()
    res = client.post("/v1/allocators/muxserve/allocate", headers=h,
                      json={"workload": wl.model_dump(mode="json"), "options": {"confirm": 0}})
    assert res.status_code == 200, res.text
    assert res.json()["gpus"] == {"A100-80GB": 4}
    bad = wl.model_dump(mode="json")
    bad["metadata"]["muxserve_models"]["a"] = "llama-99x"
    res = client.post("/v1/allocators/muxserve/allocate", headers=h, json={"workload": bad})
    assert res.status_code == 400 and "llama-99x" in res.text
    reqs = [{"id": f"r{i}", "prompt": "hi", "model": "a" if i % 4 else "b"} for i in range(12)]
    res = client.post("/v1/schedulers/adbs/plan", headers=h, json={"requests": reqs, "options": {"rates": {"a": 3, "b": 1}}})
    assert res.status_code == 200, res.text
    assert sorted(res.json()["order"]) == sorted(r["id"] for r in reqs)
