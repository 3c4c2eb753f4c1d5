"""Hostile input through the CLI and the gateway routes: wrong types, NaN/inf, huge numbers, typos.

Every case must end in one line naming the entry at fault (CLI exit status 2, HTTP 4xx), never a
traceback, a 500 or a hang; and no LLM or GPU may be dropped without a word. The table cases are
the ones an attacker tries first; the property tests then search mutated bodies of both routes.
"""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WL = {"cluster": {"nnodes": 1, "ngpus_per_node": 4},
      "models": [{"name": "a", "model": "llama-7b", "rate": 4}, {"name": "b", "model": "llama-13b", "rate": 1}]}
MESH = {"num_gpus": 4, "models": [{"name": "a", "model": "llama-7b", "mps_percentage": [80, 60]},
                                  {"name": "b", "model": "llama-13b", "mps_percentage": [90, 40]}]}


def _wl(**llm_a) -> dict:
    """The two-LLM workload with LLM 'a' changed."""
    w = copy.deepcopy(WL)
    w["models"][0].update(llm_a)
    return w


def _mesh(**llm_a) -> dict:
    m = copy.deepcopy(MESH)
    m["models"][0].update(llm_a)
    return m


# --- the CLI -----------------------------------------------------------------------------------------
WORKLOAD_YAML = {
    "prompt length not a number": ("avg_prompt_len: abc\ncluster: {nnodes: 1, ngpus_per_node: 4}\n"
                                   "models: [{name: a, model: llama-7b, rate: 1}]", "avg_prompt_len must be a number"),
    "NaN output length": ("cluster: {nnodes: 1, ngpus_per_node: 4}\n"
                          "models: [{name: a, model: llama-7b, rate: 1, avg_output_len: .nan}]", "LLM 'a': avg_output_len"),
    "infinite output length": ("cluster: {nnodes: 1, ngpus_per_node: 4}\n"
                               "models: [{name: a, model: llama-7b, rate: 1, avg_output_len: .inf}]", "LLM 'a': avg_output_len"),
    "too many nodes": ("cluster: {nnodes: 100000, ngpus_per_node: 8}\nmodels: [{name: a, model: llama-7b, rate: 1}]",
                       "cluster nnodes must be between 1 and 64"),
    "too many cuts": ("cluster: {nnodes: 40, ngpus_per_node: 8}\nmodels: [{name: a, model: llama-7b, rate: 1}]",
                      "ways to cut into meshes"),
    "huge node": ("cluster: {nnodes: 1, ngpus_per_node: 1000000}\nmodels: [{name: a, model: llama-7b, rate: 1}]",
                  "ngpus_per_node must be between 1 and 64"),
    "fractional nodes": ("cluster: {nnodes: 1.5, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1}]",
                         "nnodes must be a whole number"),
    "boolean rate": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: true}]",
                     "LLM 'a': rate True is not a number"),
    "list as a name": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: [a], model: llama-7b, rate: 1}]",
                       "models[0].name must be a string"),
    "model missing its name": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: null, rate: 1}]",
                               "LLM 'a': model must be a name"),
    "misspelt key": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1, avg_output_lenn: 9}]",
                     "unknown key(s) ['avg_output_lenn']"),
    "misspelt cluster key": ("cluster: {nodes: 2, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1}]",
                             "unknown key(s) ['nodes']"),
    "unprofiled model": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: g, model: llama-3-8b, rate: 1}]",
                         "LLM 'g' (llama-3-8b) fits no profiled mesh size"),
    "unknown model size": ("cluster: {nnodes: 1, ngpus_per_node: 8}\nmodels: [{name: a, model: llama-999b, rate: 1}]",
                           "LLM 'a': unknown model 'llama-999b'"),
    "no size in the name": ("cluster: {nnodes: 1, ngpus_per_node: 8}\nmodels: [{name: a, model: mystery, rate: 1}]",
                            "LLM 'a': cannot read a model size"),
    "negative rate": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: -3}]",
                      "LLM 'a': rate must be > 0"),
    "empty model list": ("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: []", "'models' must be a non-empty list"),
    "a list, not a mapping": ("- 1\n- 2\n", "expected a mapping"),
    "tabs in YAML": ("cluster:\n\tnnodes: 1\n", "not valid YAML"),
}


def _cli(args: list[str]):
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args)


def _one_line_exit_2(res, says: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.strip().count("\n") == 0, res.output
    assert says in res.output, res.output


@pytest.mark.parametrize("case", sorted(WORKLOAD_YAML))
def test_hostile_workload_files_give_one_line_and_exit_2(tmp_path, case):
    content, says = WORKLOAD_YAML[case]
    f = tmp_path / "w.yaml"
    f.write_text(content)
    _one_line_exit_2(_cli(["muxserve", "place", str(f), "--confirm", "0"]), says)


PLACEMENT_YAML = {
    "fractional GPUs": ("num_gpus: 1.7\nmodels: [{name: a, model: llama-7b}]", "'num_gpus' must be a whole number"),
    "text batch cap": ("num_gpus: 4\nmodels: [{name: a, model: llama-7b, max_num_seqs: lots}]", "max_num_seqs must be a number"),
    "KV share above 1": ("num_gpus: 4\ngpu_memory_utilization: 5\nmodels: [{name: a, model: llama-7b}]",
                         "gpu_memory_utilization must be <= 1"),
    "tiny KV share": ("num_gpus: 4\ngpu_memory_utilization: 1.0e-9\nmodels: [{name: a, model: llama-7b}]",
                      "cannot hold one request"),
    "boolean SM share": ("num_gpus: 4\nmodels: [{name: a, model: llama-7b, mps_percentage: [true, true]}]",
                         "mps_percentage must be"),
    "other model than the workload": ("num_gpus: 4\nmodels: [{name: a, model: llama-30b}]", "workload says 'llama-7b'"),
    "misspelt key": ("num_gpus: 4\nmodels: [{name: a, model: llama-7b, mps_percentag: [80, 40]}]", "unknown key(s)"),
}


@pytest.mark.parametrize("case", sorted(PLACEMENT_YAML))
def test_hostile_placement_files_give_one_line_and_exit_2(tmp_path, case):
    content, says = PLACEMENT_YAML[case]
    w, p = tmp_path / "w.yaml", tmp_path / "p.yaml"
    w.write_text("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1}]")
    p.write_text(content)
    _one_line_exit_2(_cli(["muxserve", "simulate", str(w), "--placement", str(p), "--duration", "5"]), says)


@pytest.mark.parametrize("option,value,says", [
    ("--duration", "nan", "duration"), ("--duration", "inf", "duration"), ("--arrival-cv", "1e-300", "arrival_cv"),
    ("--slo-scale", "inf", "slo_scale"), ("--seed", "-4", "seed"), ("--duration", "1e15", "duration"),
])
def test_hostile_simulation_options_give_one_line_and_exit_2(tmp_path, option, value, says):
    w, p = tmp_path / "w.yaml", tmp_path / "p.yaml"
    w.write_text("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1}]")
    p.write_text("num_gpus: 4\nmodels: [{name: a, model: llama-7b}]")
    _one_line_exit_2(_cli(["muxserve", "simulate", str(w), "--placement", str(p), option, value]), says)


def test_spatial_mode_refuses_a_shared_mesh(tmp_path):
    w, p = tmp_path / "w.yaml", tmp_path / "p.yaml"
    w.write_text("cluster: {nnodes: 1, ngpus_per_node: 4}\n"
                 "models: [{name: a, model: llama-7b, rate: 1}, {name: b, model: llama-7b, rate: 1}]")
    p.write_text("num_gpus: 4\nmodels: [{name: a, model: llama-7b}, {name: b, model: llama-7b}]")
    _one_line_exit_2(_cli(["muxserve", "simulate", str(w), "--placement", str(p), "--mode", "spatial"]),
                     "mode 'spatial' runs one LLM per mesh but mesh 0 runs ['a', 'b']")


def test_a_huge_rate_is_refused_by_name_not_simulated(tmp_path):
    w, p = tmp_path / "w.yaml", tmp_path / "p.yaml"
    w.write_text("cluster: {nnodes: 1, ngpus_per_node: 4}\nmodels: [{name: a, model: llama-7b, rate: 1.0e12}]")
    p.write_text("num_gpus: 4\nmodels: [{name: a, model: llama-7b}]")
    _one_line_exit_2(_cli(["muxserve", "simulate", str(w), "--placement", str(p), "--duration", "5"]), "LLM 'a' alone")


def test_placement_at_a_huge_rate_still_answers_and_places_every_llm(tmp_path):
    """The simulator's judging run shortens its horizon at extreme rates instead of running forever."""
    w = tmp_path / "w.yaml"
    w.write_text("cluster: {nnodes: 1, ngpus_per_node: 4}\n"
                 "models: [{name: a, model: llama-7b, rate: 1.0e9}, {name: b, model: llama-7b, rate: 1.0e9}]")
    res = _cli(["muxserve", "place", str(w), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["gpus"] == 4 and sorted(x["name"] for m in data["meshes"] for x in m["llms"]) == ["a", "b"]


# --- the gateway ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={"muxserve"})
    kernel = Kernel(settings=Settings(data_dir=tmp_path_factory.mktemp("data")), pm=pm, strict=True).startup()
    with TestClient(create_app(kernel, api_key="k", auth=True), raise_server_exceptions=False) as c:
        yield c
    kernel.close()


H = {"Authorization": "Bearer k", "Content-Type": "application/json"}
ROUTE_CASES = {
    "NaN rate": ("place", '{"workload": {"cluster": {"nnodes": 1, "ngpus_per_node": 4}, '
                          '"models": [{"name": "a", "model": "llama-7b", "rate": NaN}]}}', "models[a].rate"),
    "infinite rate": ("place", '{"workload": {"cluster": {"nnodes": 1, "ngpus_per_node": 4}, '
                               '"models": [{"name": "a", "model": "llama-7b", "rate": Infinity}]}}', "models[a].rate"),
    "GPUs per node overflow": ("place", '{"workload": {"cluster": {"nnodes": 1, "ngpus_per_node": 1e400}, '
                                        '"models": [{"name": "a", "model": "llama-7b", "rate": 1}]}}', "cluster.ngpus_per_node"),
    "prompt length as text": ("place", {"workload": _wl(avg_prompt_len="x")}, "models[0].avg_prompt_len"),
    "output length as a list": ("place", {"workload": {**WL, "avg_output_len": [1]}}, "avg_output_len"),
    "a million nodes": ("place", {"workload": {**WL, "cluster": {"nnodes": 10**6, "ngpus_per_node": 8}}}, "cluster.nnodes"),
    "nodes as a list": ("place", {"workload": {**WL, "cluster": {"nnodes": [1]}}}, "cluster.nnodes"),
    "model as a number": ("place", {"workload": _wl(model=7)}, "models[0].model"),
    "name as a mapping": ("place", {"workload": _wl(name={"a": 1})}, "models[0].name"),
    "rate as a boolean": ("place", {"workload": _wl(rate=True)}, "models[a].rate"),
    "more LLMs than allowed": ("place", {"workload": {**WL, "models": [{"name": f"x{i}", "model": "llama-7b", "rate": 1}
                                                                       for i in range(300)]}}, "models"),
    "unknown key": ("place", {"workload": _wl(rte=2)}, "models[0]"),
    "negative seed": ("simulate", {"workload": WL, "placement": [MESH], "seed": -1, "duration_s": 5}, "seed"),
    "vanishing arrival CV": ("simulate", {"workload": WL, "placement": [MESH], "arrival_cv": 1e-200, "duration_s": 5},
                             "arrival_cv"),
    "infinite SLO scale": ("simulate", json.dumps({"workload": WL, "placement": [MESH], "duration_s": 5})[:-1]
                           + ', "slo_scale": Infinity}', "slo_scale"),
    "a trillion requests": ("simulate", {"workload": _wl(rate=1e12), "placement": [MESH], "duration_s": 5}, "models[a].rate"),
    "batch cap as text": ("simulate", {"workload": WL, "placement": [_mesh(max_num_seqs="x")], "duration_s": 5},
                          "placement[0].models[0].max_num_seqs"),
    "zero batch cap": ("simulate", {"workload": WL, "placement": [_mesh(max_num_seqs=0)], "duration_s": 5},
                       "placement[0].models[0].max_num_seqs"),
    "KV share of 5": ("simulate", {"workload": WL, "placement": [{**MESH, "gpu_memory_utilization": 5}], "duration_s": 5},
                      "placement[0].gpu_memory_utilization"),
    "a billion GPUs": ("simulate", {"workload": WL, "placement": [{**MESH, "num_gpus": 10**9}], "duration_s": 5},
                       "placement[0].num_gpus"),
    "fractional SM share": ("simulate", {"workload": WL, "placement": [_mesh(mps_percentage=[0.5, 0.5])], "duration_s": 5},
                            "placement[0].models[0].mps_percentage"),
    "LLM left out": ("simulate", {"workload": WL, "placement": [{**MESH, "models": MESH["models"][:1]}], "duration_s": 5},
                     "placement"),
    "other model than the workload": ("simulate", {"workload": WL, "placement": [_mesh(model="llama-30b")], "duration_s": 5},
                                      "placement[a].model"),
    "65B on one GPU": ("simulate", {"workload": {**WL, "models": [{"name": "a", "model": "llama-65b", "rate": 1}]},
                                    "placement": [{"num_gpus": 1, "models": [{"name": "a", "model": "llama-65b"}]}]},
                       "placement"),
    "no placement": ("simulate", {"workload": WL, "placement": []}, "placement"),
}


@pytest.mark.parametrize("case", sorted(ROUTE_CASES))
def test_hostile_route_bodies_are_4xx_naming_the_entry(client, case):
    route, body, param = ROUTE_CASES[case]
    url = f"/plugins/muxserve/{route}"
    res = client.post(url, content=body, headers=H) if isinstance(body, str) else client.post(url, json=body, headers=H)
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    err = res.json()["error"]
    assert err["param"] == param and "\n" not in err["message"], err


# --- searched: mutated bodies of both routes ---------------------------------------------------------
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([0, 1, 2, 3, 4, 8, 64, 65, 0.5, 1e-9, 1e9, "llama-7b", "llama-65b", "llama-3-8b", [80, 40], [100]]),
)
WORKLOAD_PATHS = [("cluster",), ("cluster", "nnodes"), ("cluster", "ngpus_per_node"), ("models",), ("avg_prompt_len",),
                  ("avg_output_len",)] + [("models", i, k) for i in (0, 1) for k in
                                          ("name", "model", "rate", "avg_prompt_len", "avg_output_len", "extra")]
MESH_PATHS = [("num_gpus",), ("gpu_memory_utilization",), ("models",), ("max_num_seqs",)] + [
    ("models", i, k) for i in (0, 1) for k in ("name", "model", "mps_percentage", "max_num_seqs", "extra")]


def _has(doc, key) -> bool:
    if isinstance(doc, dict):
        return not isinstance(key, int)
    return isinstance(doc, list) and isinstance(key, int) and key < len(doc)


def _set(doc: dict, path: tuple, value) -> None:
    """Put ``value`` at ``path``; a path an earlier change cut off (a list now a number) is skipped."""
    for k in path[:-1]:
        if not _has(doc, k) or (isinstance(doc, dict) and k not in doc):
            return
        doc = doc[k]
    if _has(doc, path[-1]):
        doc[path[-1]] = value


def _encode(body: dict) -> str:
    # NaN and Infinity as Python's json writes them: the gateway's JSON parser reads them
    return json.dumps(body, allow_nan=True)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.lists(st.tuples(st.sampled_from(WORKLOAD_PATHS), ODD_VALUES), min_size=1, max_size=3))
def test_any_mutated_place_body_is_answered_200_or_4xx(client, changes):
    wl = copy.deepcopy(WL)
    for path, value in changes:
        _set(wl, path, value)
    res = client.post("/plugins/muxserve/place", content=_encode({"workload": wl, "estimator": "default"}), headers=H)
    assert res.status_code == 200 or 400 <= res.status_code < 500, (res.status_code, res.text)
    if res.status_code == 200:  # accepted: every LLM placed, no GPU left out
        data = res.json()
        placed = sorted(x["name"] for m in data["meshes"] for x in m["llms"])
        cluster = wl.get("cluster") or {}  # only an absent (null) cluster is accepted: one node of 8 GPUs
        assert len(placed) == len(wl["models"]) and data["gpus"] == cluster.get("nnodes", 1) * cluster.get("ngpus_per_node", 8)
    else:
        err = res.json()["error"]
        assert err["message"] and "\n" not in err["message"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.lists(st.tuples(st.sampled_from(MESH_PATHS), ODD_VALUES), min_size=1, max_size=3),
       knobs=st.fixed_dictionaries({}, optional={"seed": ODD_VALUES, "arrival_cv": ODD_VALUES, "slo_scale": ODD_VALUES,
                                                 "kv_policy": st.sampled_from(["adbs", "fixed", "elastic", "lru"]),
                                                 "mode": st.sampled_from(["flexsm", "temporal", "spatial", "x"])}))
def test_any_mutated_simulate_body_is_answered_200_or_4xx(client, changes, knobs):
    mesh = copy.deepcopy(MESH)
    for path, value in changes:
        _set(mesh, path, value)
    body = {"workload": WL, "placement": [mesh], "duration_s": 3, **knobs}
    res = client.post("/plugins/muxserve/simulate", content=_encode(body), headers=H)
    assert res.status_code == 200 or 400 <= res.status_code < 500, (res.status_code, res.text)
    if res.status_code == 200:  # accepted: both LLMs simulated, each request counted once
        data = res.json()
        assert sorted(data["llms"]) == ["a", "b"]
        assert all(r["finished"] <= r["requests"] for r in data["llms"].values())


# --- the kernel's allocator route ----------------------------------------------------------------------
def _kernel_workload(**metadata) -> dict:
    from skyplex_muxserve.workload import LLM, MuxWorkload

    wl = MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 1.0)], 1, 4).to_workload().model_dump(mode="json")
    wl["metadata"].update(metadata)
    return wl


@pytest.mark.parametrize("workload,options,param", [
    (_kernel_workload(cluster={"nnodes": "x"}), {}, "metadata.cluster.nnodes"),
    (_kernel_workload(cluster={"nnodes": 1.5, "ngpus_per_node": 4}), {}, "metadata.cluster.nnodes"),
    (_kernel_workload(cluster="abc"), {}, "metadata.cluster"),
    (_kernel_workload(muxserve_models="zz"), {}, "metadata.muxserve_models"),
    (_kernel_workload(muxserve_models={"a": 7, "b": "llama-13b"}), {}, "metadata.muxserve_models[a]"),
    (_kernel_workload(), {"gpus_per_node": 0}, "options.gpus_per_node"),
    (_kernel_workload(), {"nnodes": "two"}, "options.nnodes"),
    (_kernel_workload(), {"confirm": -1}, "options.confirm"),
])
def test_hostile_allocator_problems_are_4xx_naming_the_entry(client, workload, options, param):
    res = client.post("/v1/allocators/muxserve/allocate", headers=H, json={"workload": workload, "options": options})
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    assert res.json()["error"]["param"] == param, res.text


def test_simulate_route_says_how_many_gpus_a_placement_leaves_idle(client):
    mesh = {"num_gpus": 2, "models": MESH["models"]}
    res = client.post("/plugins/muxserve/simulate", headers=H, json={"workload": WL, "placement": [mesh], "duration_s": 3})
    assert res.status_code == 200, res.text
    assert (res.json()["gpus_used"], res.json()["gpus_idle"]) == (2, 2)
