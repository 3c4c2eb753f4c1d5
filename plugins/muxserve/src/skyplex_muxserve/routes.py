"""Gateway routes under ``/plugins/muxserve``: place a workload, simulate a placement.

Bodies carry the authors' formats inline (a workload mapping; per-mesh placement mappings); the
server reads no client-named files and uses the packaged A100 profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from fastapi import APIRouter
    from skyplex.kernel import Kernel


class PlaceRequest(BaseModel):
    workload: dict[str, Any] = Field(description="Authors' workload mapping: cluster {nnodes, ngpus_per_node}, models [{name, model, rate}].")
    estimator: Literal["default", "fidelity"] = "default"


class SimulateRequest(BaseModel):
    workload: dict[str, Any]
    placement: list[dict[str, Any]] = Field(min_length=1, description="Per-mesh mappings (num_gpus, models with mps_percentage).")
    mode: Literal["flexsm", "temporal", "spatial"] = "flexsm"
    seed: int = 0
    duration_s: float = Field(default=30.0, gt=0, le=3600)
    arrival_cv: float = Field(default=1.0, gt=0)
    kv_policy: Literal["adbs", "fixed", "elastic"] = "adbs"
    slo_scale: float = Field(default=8.0, gt=0)


def register(router: APIRouter, kernel: Kernel) -> None:
    """Add ``POST /place`` and ``POST /simulate`` to the plugin's router."""

    @router.post("/place", summary="Place a workload's LLMs on its cluster")
    def place(body: PlaceRequest) -> dict[str, Any]:
        from .api import place as do_place
        from .api import plan_to_dict
        from .workload import parse_workload

        plan, served = do_place(parse_workload(body.workload, "workload"), None, body.estimator)
        return {**plan_to_dict(plan), "estimated_served_rate": served}

    @router.post("/simulate", summary="Simulate a placement serving a workload")
    def simulate(body: SimulateRequest) -> dict[str, Any]:
        from .api import simulate_plan
        from .workload import PlacementPlan, parse_mesh, parse_workload

        wl = parse_workload(body.workload, "workload")
        plan = PlacementPlan([parse_mesh(m, f"placement[{i}]") for i, m in enumerate(body.placement)], body.mode)
        res = simulate_plan(wl, plan, seed=body.seed, duration_s=body.duration_s, arrival_cv=body.arrival_cv,
                            kv_policy=body.kv_policy, slo_scale=body.slo_scale)
        # a placement that leaves GPUs of the cluster idle is simulated, and says so (as the CLI does)
        return {**res.to_dict(), "gpus_used": plan.total_gpus, "gpus_idle": wl.total_gpus - plan.total_gpus}


#: the earlier name of :func:`register`
add_routes = register
