"""The GPU path: one vLLM server per LLM, colocated LLMs sharing a mesh's GPUs under CUDA MPS.

MuxServe itself runs a modified vLLM with separate prefill and decode processes and one shared KV
pool; with stock vLLM the closest deployment is one OpenAI-compatible server per LLM, all servers of a
mesh on the same GPUs, each limited by MPS to its SM share (``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE``,
the decode share, since decoding is what runs most of the time) and by ``--gpu-memory-utilization``
to its weights plus its KV quota (the mesh's KV memory split by rate x KV bytes per token, ADBS's
initial quotas, fixed). Start the MPS control daemon on each node first (``nvidia-cuda-mps-control -d``).
The skyplex gateway can then front the servers as OpenAI-compatible model backends.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from skyplex.errors import InvalidInputError

from .catalogue import shape_of
from .plot import assign_nodes
from .workload import MuxWorkload, PlacementPlan

GPU_GIB = 80.0
RESERVE_GIB = 2.0  # CUDA context and activations per server per GPU
MAX_FRACTION = 0.92  # what all servers on one GPU may claim together


@dataclass
class ServerLaunch:
    """One vLLM server: where it runs and how it is started."""

    llm: str
    node: int
    gpus: list[int]
    port: int
    env: dict[str, str]
    argv: list[str]

    def shell(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return f"{env} {shlex.join(self.argv)} &"


def vllm_launches(plan: PlacementPlan, wl: MuxWorkload, model_paths: dict[str, str] | None = None,
                  base_port: int = 8100) -> list[ServerLaunch]:
    """Launch specs for every LLM of ``plan`` on ``wl``'s cluster (an error if a mesh cannot hold its LLMs)."""
    llm_of = wl.by_name()
    out = []
    port = base_port
    for node, start, mi in sorted(assign_nodes(plan, wl.nnodes, wl.gpus_per_node)):
        mesh = plan.meshes[mi]
        gpus = list(range(start, start + mesh.ngpus))
        weights = {x.name: shape_of(x.model).weight_gib / mesh.ngpus for x in mesh.llms}
        kv_total = GPU_GIB * MAX_FRACTION - sum(weights.values()) - RESERVE_GIB * len(mesh.llms)
        if kv_total <= 0:
            raise InvalidInputError(f"mesh {mi} ({mesh.ngpus} GPUs) cannot hold {[x.name for x in mesh.llms]} with KV room",
                                    field="placement")
        need = {x.name: llm_of[x.name].rate * shape_of(x.model).kv_bytes_per_token(mesh.ngpus) for x in mesh.llms}
        for x in mesh.llms:
            kv = kv_total * need[x.name] / sum(need.values())
            fraction = (weights[x.name] + RESERVE_GIB + kv) / GPU_GIB
            path = (model_paths or {}).get(x.name) or llm_of[x.name].path or x.model
            argv = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", path,
                    "--served-model-name", x.name, "--port", str(port),
                    "--tensor-parallel-size", str(mesh.ngpus),
                    "--gpu-memory-utilization", f"{fraction:.3f}", "--max-num-seqs", str(x.max_num_seqs)]
            env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus)),
                   "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": str(x.decode_sm)}
            out.append(ServerLaunch(x.name, node, gpus, port, env, argv))
            port += 1
    return out


def launch_script(launches: list[ServerLaunch]) -> str:
    """A bash script per node section that starts every server in the background."""
    lines = ["#!/usr/bin/env bash", "# one vLLM server per LLM; run each node's section on that node, MPS daemon started",
             "set -euo pipefail"]
    for node in sorted({s.node for s in launches}):
        lines.append(f"\n# --- node {node} ---")
        lines.extend(s.shell() for s in launches if s.node == node)
    lines.append("wait")
    return "\n".join(lines) + "\n"


def memory_by_gpu(launches: list[ServerLaunch]) -> dict[tuple[int, int], float]:
    """Total --gpu-memory-utilization claimed on each (node, GPU)."""
    out: dict[tuple[int, int], float] = {}
    for s in launches:
        frac = float(s.argv[s.argv.index("--gpu-memory-utilization") + 1])
        for g in s.gpus:
            out[(s.node, g)] = out.get((s.node, g), 0.0) + frac
    return out
