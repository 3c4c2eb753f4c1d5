"""``POST /v1/allocators/melange/allocate`` on the kernel's gateway, and a real profiler sweep
against the gateway serving the local model over loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")


def _kernel(tmp_path, builtins: bool):
    from skyplex.config import Settings
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager

    allow = None if builtins else {"melange"}
    pm = make_plugin_manager(builtins=builtins, entrypoints=True, allowlist=allow)
    return Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm).startup()


def test_gateway_allocate(tmp_path, example_problem):
    gateway = pytest.importorskip("skyplex.gateway")
    from fastapi.testclient import TestClient

    kernel = _kernel(tmp_path, builtins=False)
    try:
        app = gateway.create_app(kernel, api_key="k", auth=True)
        body = example_problem.model_copy(update={"options": {**example_problem.options, "slice_factor": 2,
                                                             "plot": True, "plot_points": 3}})
        with TestClient(app) as client:
            res = client.post("/v1/allocators/melange/allocate", json=body.model_dump(mode="json"),
                              headers={"Authorization": "Bearer k"})
            assert res.status_code == 200, res.text
            data = res.json()
            assert data["cost_per_hour"] == pytest.approx(5.69)
            for key in ("assignment", "utilisation", "baselines", "savings", "plot"):
                assert key in data["details"]
            bad = body.model_copy(update={"options": {**body.options, "availability": {"H100": 1}}})
            res = client.post("/v1/allocators/melange/allocate", json=bad.model_dump(mode="json"),
                              headers={"Authorization": "Bearer k"})
            assert res.status_code == 400 and "H100" in res.text
    finally:
        kernel.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_profiler_against_local_model(tmp_path):
    gateway = pytest.importorskip("skyplex.gateway")
    uvicorn = pytest.importorskip("uvicorn")
    from skyplex.interfaces import SLO
    from skyplex_melange.profiler import SweepSpec, run_sweep
    from skyplex_melange.profiles import max_rate_table, read_profile

    kernel = _kernel(tmp_path, builtins=True)
    if "local" not in kernel.models:
        kernel.close()
        pytest.skip("the kernel's local model backend is not registered here")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(gateway.create_app(kernel, api_key=None, auth=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started, "gateway did not start"
        out = tmp_path / "cpu.jsonl"
        spec = SweepSpec(input_lengths=[8], output_lengths=[4], rates=[1.0, 2.0], requests_per_point=2, timeout_s=120)
        seen = []
        run_sweep(f"http://127.0.0.1:{port}/v1", "local", "CPU", out, spec, progress=lambda d, t, p: seen.append(p))
        prof = read_profile(out)
        assert len(prof.points) == 2 and all(p.errors == 0 for p in prof.points), prof.points
        assert all(len(p.ttft_s) == 2 and p.throughput_rps > 0 for p in prof.points)
        # resuming measures nothing new
        seen.clear()
        run_sweep(f"http://127.0.0.1:{port}/v1", "local", "CPU", out, spec, progress=lambda d, t, p: seen.append(p))
        assert seen == [None, None] and len(read_profile(out).points) == 2
        assert max_rate_table(prof, SLO(tpot_s=60.0))[(8, 4)] is not None
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        kernel.close()


# --------------------------------------------------------------------------------------------------
# docs/plugins/melange.md, run as written: every curl against a real gateway, with the real curl

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "melange.md"


def doc_curls() -> list[str]:
    """The ``$ curl ...`` commands in the docs, continuation lines joined, body included."""
    text = DOCS.read_text()
    out = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.M | re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if lines[i].startswith("$ curl"):
                cmd = [lines[i][2:]]
                # a command goes on while a line ends in '\' or a quoted body is still open
                while cmd[-1].endswith("\\") or "".join(cmd).count("'") % 2:
                    i += 1
                    cmd.append(lines[i])
                out.append("\n".join(cmd))
            i += 1
    return out


@pytest.fixture
def live_gateway(tmp_path):
    """(base URL, API key) of a real gateway serving the melange plugin over loopback."""
    gateway = pytest.importorskip("skyplex.gateway")
    uvicorn = pytest.importorskip("uvicorn")
    kernel = _kernel(tmp_path, builtins=False)
    key = "doc-test-key"
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(gateway.create_app(kernel, api_key=key, auth=True),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started, "gateway did not start"
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        kernel.close()


def test_every_documented_curl_works_as_written(live_gateway):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    base, key = live_gateway
    curls = doc_curls()
    assert len(curls) >= 2, curls
    for cmd in curls:
        # as written, except the port: the test's gateway listens on a free one
        shell = cmd.replace("http://127.0.0.1:8000", base)
        done = subprocess.run(["bash", "-c", shell + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                              env={**os.environ, "KEY": key}, timeout=120)
        body, _, code = done.stdout.rpartition("\n")
        assert done.returncode == 0 and code == "200", (cmd, code, body[:500])
        data = json.loads(body)
        if "/allocate" in cmd:
            assert data["feasible"] and data["gpus"] and data["cost_per_hour"] > 0
        else:
            assert {g["name"] for g in data["gpus"]} >= {"A10G", "A100-80GB", "H100"}


def test_plot_route_labels_the_heatmap_axes(tmp_path, example_problem, roofline_problem):
    pytest.importorskip("fastapi")
    gateway = pytest.importorskip("skyplex.gateway")
    from fastapi.testclient import TestClient

    kernel = _kernel(tmp_path, builtins=False)
    try:
        with TestClient(gateway.create_app(kernel, api_key="k", auth=True)) as client:
            headers = {"Authorization": "Bearer k"}
            paper = client.post("/plugins/melange/plot", json=example_problem.model_dump(mode="json"), headers=headers)
            assert paper.status_code == 200, paper.text
            assert paper.json()["heatmap"]["length_units"] == "bucket index"
            assert paper.json()["axes"] == {"heatmap_x": "output length bucket (index)",
                                            "heatmap_y": "input length bucket (index)"}
            tokens = client.post("/plugins/melange/plot", json=roofline_problem.model_dump(mode="json"), headers=headers)
            assert tokens.status_code == 200, tokens.text
            assert tokens.json()["axes"] == {"heatmap_x": "output tokens", "heatmap_y": "input tokens"}
            assert tokens.json()["heatmap"]["input_tokens"] == sorted(
                {r.input_tokens for r in roofline_problem.workload.requests})
            bad = client.post("/plugins/melange/plot", json={"workload": {"requests": []}}, headers=headers)
            assert bad.status_code == 400 and "requests" in bad.text
    finally:
        kernel.close()
