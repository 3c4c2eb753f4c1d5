"""The gateway routes under ``/plugins/muxserve`` (the documented curl) and the kernel's kind routes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex_muxserve.workload import LLM, MuxWorkload

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "plugins" / "muxserve.md"


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
