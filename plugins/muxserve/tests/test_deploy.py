"""The GPU path's launch plan: one server per LLM, meshes on disjoint GPUs, memory and SM shares kept."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from skyplex_muxserve.deploy import launch_script, memory_by_gpu, vllm_launches
from skyplex_muxserve.placement import optimise
from skyplex_muxserve.workload import load_placement, load_workload

REPO = Path(__file__).resolve().parents[3]


def test_shipped_placement_becomes_one_server_per_llm(mux_data):
    wl = load_workload(mux_data.workload(2000))
    plan = load_placement(mux_data.placements("flexsm", 2000))
    launches = vllm_launches(plan, wl)
    assert sorted(s.llm for s in launches) == sorted(m.name for m in wl.llms)
    assert len({s.port for s in launches}) == len(launches)
    share = {x.name: x.decode_sm for m in plan.meshes for x in m.llms}
    by_mesh: dict = {}
    for s in launches:
        assert s.env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == str(share[s.llm])
        assert s.env["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, s.gpus))
        assert s.argv[s.argv.index("--tensor-parallel-size") + 1] == str(len(s.gpus))
        by_mesh.setdefault((s.node, tuple(s.gpus)), []).append(s.llm)
    # meshes never share a GPU, and all servers on one GPU claim at most 92% of its memory
    cells = [(n, g) for (n, gpus) in by_mesh for g in gpus]
    assert len(cells) == len(set(cells)) == 32
    assert max(memory_by_gpu(launches).values()) <= 0.92 + 1e-9


def test_optimised_placement_script_has_a_section_per_node(mux_data, profile):
    wl = load_workload(mux_data.workload(500))
    plan, _ = optimise(wl, profile, confirm=0)
    script = launch_script(vllm_launches(plan, wl))
    assert script.startswith("#!/usr/bin/env bash")
    assert all(f"# --- node {k} ---" in script for k in range(4))
    assert script.count("vllm.entrypoints.openai.api_server") == 16


def test_place_writes_the_vllm_script(tmp_path, monkeypatch):
    from skyplex.cli.main import cli

    monkeypatch.chdir(REPO)
    out = tmp_path / "serve.sh"
    res = CliRunner().invoke(cli, ["muxserve", "place", "plugins/muxserve/tests/data/examples_basic/models.yaml",
                                   "--vllm-script", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["vllm_script"] == str(out)
    text = out.read_text()
    assert text.count("--served-model-name") == 3 and "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=" in text
