"""The plugin against real vLLM (the CPU build in ``.venv-vllm``): the multiplexer serving deployments
whose backend is a vLLM server, and the GPU deployment script's server commands read by vLLM's own
argument parser. Both skip with the reason where no vLLM environment exists, and fail instead when
``SKYPLEX_REQUIRE_VLLM`` is set (as ``make test`` does)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from skyplex.interfaces import GenerationParams

DATA = Path(__file__).parent / "data" / "examples_basic"


def _vllm_python() -> Path:
    from skyplex.models.vllm_backend import find_vllm_python

    python = find_vllm_python()
    if python is None:
        if os.environ.get("SKYPLEX_REQUIRE_VLLM"):
            pytest.fail("vLLM is required (SKYPLEX_REQUIRE_VLLM) but no environment with vllm was found")
        pytest.skip("vLLM not available: no environment with vllm (make install-vllm builds .venv-vllm)")
    return python


# vLLM's own parser of `python -m vllm.entrypoints.openai.api_server ...`, run in vLLM's environment
_PARSE = """
import json, sys
from vllm.utils.argparse_utils import FlexibleArgumentParser
from vllm.entrypoints.launchers.cli_args import make_arg_parser
parser = make_arg_parser(FlexibleArgumentParser())
out = []
for argv in json.loads(sys.stdin.read()):
    a = parser.parse_args(argv)
    out.append({"model": a.model, "served": a.served_model_name, "port": a.port, "tp": a.tensor_parallel_size,
                "mem": a.gpu_memory_utilization, "seqs": a.max_num_seqs})
print(json.dumps(out))
"""


def test_generated_server_commands_are_read_by_vllms_own_parser_as_meant():
    """Every server line of the GPU script is a command vLLM accepts, with the mesh, share and quota we meant."""
    from skyplex_muxserve.deploy import launch_script, vllm_launches
    from skyplex_muxserve.workload import load_placement, load_workload

    python = _vllm_python()
    wl = load_workload(DATA / "models.yaml")
    plan = load_placement([DATA / "model_config.yaml"])
    launches = vllm_launches(plan, wl)
    module = "vllm.entrypoints.openai.api_server"
    assert all(s.argv[:3] == ["python", "-m", module] for s in launches)
    # the script's lines are what is parsed: env prefix, then the command, then '&'
    script_argvs = [shlex.split(line)[2:-1] for line in launch_script(launches).splitlines() if module in line]
    assert [a[:3] for a in script_argvs] == [["python", "-m", module]] * len(launches)
    proc = subprocess.run([str(python), "-c", _PARSE], input=json.dumps([a[3:] for a in script_argvs]),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    for s, p in zip(launches, parsed):
        served = p["served"] if isinstance(p["served"], str) else p["served"][0]
        assert served == s.llm and p["model"] == wl.by_name()[s.llm].path and p["port"] == s.port
        assert p["tp"] == len(s.gpus) == 4  # the example's one 4-GPU mesh
        assert p["seqs"] == plan.meshes[0].llms[[x.name for x in plan.meshes[0].llms].index(s.llm)].max_num_seqs
        assert 0 < p["mem"] < 1
    # colocated servers share the mesh's GPUs and together claim no more than the memory there is
    assert sum(p["mem"] for p in parsed) <= 0.92 + 1e-9
    assert {s.env["CUDA_VISIBLE_DEVICES"] for s in launches} == {"0,1,2,3"}
    assert sorted(int(s.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"]) for s in launches) == [30, 40, 40]


@pytest.mark.slow
def test_multiplexer_serves_named_deployments_from_a_real_vllm_server(tmp_path, skyplex_vllm_backend):
    """Two names on one vLLM server through the gateway and one multiplexer: greedy answers equal
    what the server gives directly, one deployment's token cap holds, both names get batches."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from skyplex.config import Settings
    from skyplex.gateway import create_app
    from skyplex.kernel import Kernel
    from skyplex.plugins import make_plugin_manager
    from skyplex_muxserve.multiplex import SETTINGS_KEY, serving_for

    url = skyplex_vllm_backend.base_url
    serving = {"policy": "adbs", "max_batch": 4, "models": [
        {"name": "v-chat", "backend": "vllm", "rate": 3, "options": {"base_url": url}},
        {"name": "v-brief", "backend": "vllm", "rate": 1, "max_tokens": 3, "options": {"base_url": url}}]}
    pm = make_plugin_manager(builtins=True, entrypoints=True, allowlist={"muxserve"})
    kernel = Kernel(settings=Settings(data_dir=tmp_path / "data", plugins={SETTINGS_KEY: serving}),
                    pm=pm, strict=True).startup()
    h = {"Authorization": "Bearer k"}
    prompt = "1, 2, 3, 4,"
    try:
        with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
            def ask(model: str):
                return client.post("/v1/completions", headers=h, json={
                    "model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0})

            names = ["v-chat", "v-brief", "v-chat", "v-brief"]
            with ThreadPoolExecutor(4) as pool:
                outs = list(pool.map(ask, names))
            for name, res in zip(names, outs):
                assert res.status_code == 200, (name, res.text)
                assert res.json()["model"] == name
            (want,) = skyplex_vllm_backend.generate([prompt], GenerationParams(max_tokens=8, temperature=0.0))
            assert [r.json()["choices"][0]["text"] for r, n in zip(outs, names) if n == "v-chat"] == [want.text] * 2
            assert all(r.json()["usage"]["completion_tokens"] <= 3 for r, n in zip(outs, names) if n == "v-brief")
            state = serving_for(kernel)
            assert state.backend_of("v-chat") is state.backend_of("v-brief")  # same options: one client instance
            mux = state.multiplexer()
            assert mux.batches["v-chat"] >= 1 and mux.batches["v-brief"] >= 1
    finally:
        kernel.close()
