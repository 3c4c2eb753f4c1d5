"""The ``muxserve`` allocator: place many LLMs on a cluster's GPUs by colocating them on meshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Allocation, AllocationProblem, Allocator

from . import checks
from .api import get_profile, plan_to_dict
from .estimator import Estimator
from .placement import optimise
from .workload import MuxWorkload


class MuxServeAllocator(Allocator):
    """Options: ``nnodes``, ``gpus_per_node`` (else the workload's ``cluster`` metadata, or
    ``max_gpus`` as one node per 8 GPUs), ``profile`` (the name of a profile file under the plugin's
    packaged data or the server's ``<data dir>/muxserve/profiles``; default the packaged A100 profile;
    paths leading elsewhere are refused, since options come from HTTP clients), ``estimator`` (``default`` or ``fidelity``), ``confirm`` (how many of the
    estimator's best placements the simulator judges; default 3, 0 for the estimator alone)."""

    name = "muxserve"

    def __init__(self, kernel: Any = None, profile: str | Path | None = None) -> None:
        """``profile``: a profile JSON at any path, for callers in this process (and the server's own
        settings); it is used when a problem's options name none. ``kernel`` gives the data dir."""
        settings = getattr(kernel, "settings", None)
        self.data_dir = getattr(settings, "data_dir", None)
        self.profile_path = profile

    def allocate(self, problem: AllocationProblem) -> Allocation:
        opts = problem.options
        nnodes, per_node = opts.get("nnodes"), opts.get("gpus_per_node")
        if nnodes is not None:
            nnodes = checks.integer(nnodes, "options.nnodes", "options.nnodes", lo=1, hi=checks.MAX_NODES)
        if per_node is not None:
            per_node = checks.integer(per_node, "options.gpus_per_node", "options.gpus_per_node", lo=1,
                                      hi=checks.MAX_GPUS_PER_NODE)
        if nnodes is None and problem.max_gpus and "cluster" not in problem.workload.metadata:
            per_node = per_node or min(8, problem.max_gpus)
            if problem.max_gpus % per_node:
                raise InvalidInputError(f"max_gpus={problem.max_gpus} is not a whole number of {per_node}-GPU nodes",
                                        field="max_gpus")
            nnodes = problem.max_gpus // per_node
        wl = MuxWorkload.from_workload(problem.workload, nnodes, per_node)
        if opts.get("profile") is not None:
            from .profile_access import profile_from_option

            profile = profile_from_option(opts["profile"], self.data_dir)
        else:
            profile = get_profile(self.profile_path)
        confirm = opts.get("confirm", 3)
        if not isinstance(confirm, int) or confirm < 0:
            raise InvalidInputError(f"options.confirm must be an integer >= 0, got {confirm!r}", field="options.confirm")
        plan, served = optimise(wl, profile, Estimator(profile, str(opts.get("estimator", "default"))), confirm=confirm)
        gpu = problem.gpu_types[0] if problem.gpu_types else None
        gpu_name = gpu.name if gpu else "A100-80GB"
        price = gpu.price_per_hour if gpu else 0.0
        total_rate = sum(m.rate for m in wl.llms)
        return Allocation(
            allocator=self.name, gpus={gpu_name: plan.total_gpus}, cost_per_hour=price * plan.total_gpus,
            placements=plan.to_placements(gpu_name), feasible=True,
            explanation=(f"{len(wl.llms)} LLMs on {len(plan.meshes)} meshes using all {plan.total_gpus} GPUs; "
                         f"estimated served rate {served:.2f} of {total_rate:.2f} req/s"),
            details={"plan": plan_to_dict(plan), "estimated_served_rate": served, "total_rate": total_rate})
