"""Python API: place LLMs on a cluster, simulate a placement, compare placements.

>>> from skyplex_muxserve.api import place, simulate_plan
>>> plan, served = place("workload.yaml")                    # doctest: +SKIP
>>> result = simulate_plan("workload.yaml", plan)            # doctest: +SKIP
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .estimator import Estimator
from .placement import optimise
from .profiles import LatencyProfile
from .simulator import SimConfig, SimResult, simulate
from .workload import MuxWorkload, PlacementPlan, load_placement, load_workload


@lru_cache(maxsize=4)
def _load(path: str, strict: bool) -> LatencyProfile:
    return LatencyProfile.load(path, strict=strict)


def default_profile_path() -> Path:
    """The authors' A100-80GB profile shipped with the plugin."""
    return Path(str(resources.files("skyplex_muxserve") / "data" / "llama_a100_profile.json.gz"))


def get_profile(path: str | Path | None = None, strict: bool = False) -> LatencyProfile:
    """A latency profile: ``path`` or the packaged A100 profile (memoised per path)."""
    return _load(str(path or default_profile_path()), strict)


def _workload(w: str | Path | MuxWorkload) -> MuxWorkload:
    return w if isinstance(w, MuxWorkload) else load_workload(w)


def place(workload: str | Path | MuxWorkload, profile: str | Path | None = None,
          estimator_mode: str = "default", confirm: int = 3) -> tuple[PlacementPlan, float]:
    """The best placement found for ``workload`` and its estimated served rate (req/s).

    ``confirm``: how many of the estimator's best placements the simulator judges (0: none).
    """
    prof = get_profile(profile)
    return optimise(_workload(workload), prof, Estimator(prof, estimator_mode), confirm=confirm)


def simulate_plan(workload: str | Path | MuxWorkload, plan: PlacementPlan | list[str | Path], mode: str = "flexsm",
                  profile: str | Path | None = None, strict_profile: bool = False, **config: Any) -> SimResult:
    """Simulate ``plan`` (a PlacementPlan or per-mesh YAML files) serving ``workload``.

    A placement needing more GPUs than the workload's cluster is refused; ``strict_profile`` refuses
    any latency that rests on a missing (-1) profile entry instead of flagging it in ``gaps``.
    """
    if not isinstance(plan, PlacementPlan):
        plan = load_placement(plan, mode=mode)
    wl = _workload(workload)
    if plan.total_gpus > wl.total_gpus:
        raise InvalidInputError(f"the placement uses {plan.total_gpus} GPUs but the cluster has {wl.total_gpus} "
                                f"({wl.nnodes} x {wl.gpus_per_node})", field="placement")
    prof = LatencyProfile.load(profile or default_profile_path(), strict=True) if strict_profile else get_profile(profile)
    return simulate(plan, wl, prof, SimConfig(**config))


def plan_to_dict(plan: PlacementPlan) -> dict[str, Any]:
    """A JSON-able description of a placement (mesh sizes, LLMs and their SM shares)."""
    return {"mode": plan.mode, "gpus": plan.total_gpus, "meshes": [
        {"ngpus": m.ngpus, "kv_fraction": m.kv_fraction,
         "llms": [{"name": x.name, "model": x.model, "prefill_sm": x.prefill_sm, "decode_sm": x.decode_sm,
                   "max_num_seqs": x.max_num_seqs} for x in m.llms]} for m in plan.meshes]}


def plan_to_yaml_docs(plan: PlacementPlan) -> list[dict[str, Any]]:
    """One authors'-format mesh mapping per mesh, so the placement can be served or re-read."""
    docs = []
    for m in plan.meshes:
        docs.append({"num_gpus": m.ngpus, "max_num_seqs": 256, "overload_threshold": 2,
                     "gpu_memory_utilization": round(m.kv_fraction, 4) if m.kv_fraction else 0.5,
                     "models": [{"name": x.name, "model": x.model, "tensor_parallel_size": m.ngpus,
                                 "pipeline_parallel_size": 1, "placement": [list(range(m.ngpus))],
                                 "mps_percentage": [x.prefill_sm, x.decode_sm], "max_num_seqs": x.max_num_seqs,
                                 "model_dtype": "fp16"} for x in m.llms]})
    return docs


def result_to_dict(res: SimResult) -> dict[str, Any]:
    return res.to_dict()
