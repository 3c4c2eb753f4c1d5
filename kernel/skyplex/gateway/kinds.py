"""One generic route set per interface kind: list what is registered, and call its methods.

Handlers are plain ``def`` functions on purpose: FastAPI runs them in its thread pool, so a plugin
that blocks (a solver, a prover) never stalls the event loop and the gateway keeps serving.
Long work (evaluations, dataset builds, fine-tunes) becomes a job and answers 202 at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from ..interfaces import (
    KINDS,
    Action,
    ActionRecord,
    Allocation,
    AllocationProblem,
    Artifact,
    Claim,
    Commitment,
    DatasetArtifact,
    DatasetSpec,
    FinetuneSpec,
    InspectionReport,
    InspectTarget,
    Proof,
    Report,
    Schedule,
    ScheduledRequest,
    Subject,
    Suite,
    TrainingResult,
    Verdict,
)
from ..kernel import Kernel
from .schemas import EvaluationRunRequest, ListResponse, PlanRequest, RegistryEntry

def _kernel(request: Request) -> Kernel:
    return request.app.state.kernel


def _instance(request: Request, kind: str, name: str) -> Any:
    """The kernel's shared instance of ``name`` (404 naming the installed ones when unknown)."""
    return _kernel(request).registry(kind).get(name)


def kind_routers() -> list[APIRouter]:
    """Routers for every kind, listing routes first."""
    routers = [_listing_router(kind) for kind in KINDS if kind != "model"]  # models: OpenAI-style /v1/models
    routers += [
        _allocator_router(),
        _scheduler_router(),
        _executor_router(),
        _auditor_router(),
        _evaluator_router(),
        _trainer_router(),
        _inspector_router(),
    ]
    return routers


def _listing_router(kind: str) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{kind}s", tags=[f"{kind}s"])

    def list_entries(request: Request) -> ListResponse[RegistryEntry]:
        return ListResponse[RegistryEntry](data=_kernel(request).registry(kind).describe())

    def describe_entry(request: Request, name: str) -> RegistryEntry:
        return RegistryEntry(**_kernel(request).registry(kind).entry(name).describe())

    router.add_api_route(
        "",
        list_entries,
        methods=["GET"],
        response_model=ListResponse[RegistryEntry],
        summary=f"List registered {kind}s",
        operation_id=f"list_{kind}s",
    )
    router.add_api_route(
        "/{name}",
        describe_entry,
        methods=["GET"],
        response_model=RegistryEntry,
        summary=f"Describe one {kind}",
        operation_id=f"describe_{kind}",
    )
    return router


def _allocator_router() -> APIRouter:
    router = APIRouter(prefix="/v1/allocators", tags=["allocators"])

    @router.post("/{name}/allocate", response_model=Allocation, summary="Solve an allocation problem")
    def allocate(request: Request, name: str, problem: AllocationProblem) -> Allocation:
        return _instance(request, "allocator", name).allocate(problem)

    return router


def _scheduler_router() -> APIRouter:
    router = APIRouter(prefix="/v1/schedulers", tags=["schedulers"])

    @router.post("/{name}/plan", response_model=Schedule, summary="Plan the order, batches and dedup of requests")
    def plan(request: Request, name: str, body: PlanRequest) -> Schedule:
        requests: list[ScheduledRequest] = body.requests
        return _instance(request, "scheduler", name).plan(requests, body.options)

    return router


def _executor_router() -> APIRouter:
    router = APIRouter(prefix="/v1/executors", tags=["executors"])

    @router.post("/{name}/actions", response_model=ActionRecord, status_code=201, summary="Propose an action")
    def propose(request: Request, name: str, action: Action) -> ActionRecord:
        return _instance(request, "executor", name).propose(action)

    @router.get("/{name}/actions", response_model=ListResponse[ActionRecord], summary="The journal, newest first")
    def journal(
        request: Request, name: str, limit: int = Query(100, ge=1, le=1000)
    ) -> ListResponse[ActionRecord]:
        return ListResponse[ActionRecord](data=_instance(request, "executor", name).journal(limit))

    def step(method: str, summary: str) -> None:
        def handler(request: Request, name: str, action_id: str) -> ActionRecord:
            return getattr(_instance(request, "executor", name), method)(action_id)

        router.add_api_route(
            f"/{{name}}/actions/{{action_id}}/{method}",
            handler,
            methods=["POST"],
            response_model=ActionRecord,
            summary=summary,
            operation_id=f"executor_{method}",
        )

    step("run", "Run an action in confinement (effect previewed, not applied)")
    step("commit", "Apply a ran action for real")
    step("undo", "Reverse a committed action, or discard a ran one")
    return router


def _auditor_router() -> APIRouter:
    router = APIRouter(prefix="/v1/auditors", tags=["auditors"])

    @router.post("/{name}/commit", response_model=Commitment, summary="Commit to an artifact")
    def commit(request: Request, name: str, artifact: Artifact) -> Commitment:
        return _instance(request, "auditor", name).commit(artifact)

    @router.post("/{name}/prove", response_model=Proof, summary="Prove a claim about committed artifacts")
    def prove(request: Request, name: str, claim: Claim) -> Proof:
        return _instance(request, "auditor", name).prove(claim)

    @router.post("/{name}/verify", response_model=Verdict, summary="Verify a proof")
    def verify(request: Request, name: str, proof: Proof) -> Verdict:
        return _instance(request, "auditor", name).verify(proof)

    return router


def _evaluator_router() -> APIRouter:
    from .job_routes import JOB_MODEL

    router = APIRouter(prefix="/v1/evaluators", tags=["evaluators"])

    @router.post(
        "/{name}/runs",
        response_model=JOB_MODEL,
        status_code=202,
        summary="Start an evaluation run (a job; follow it at /v1/jobs/{id}/events)",
    )
    def start_run(request: Request, name: str, body: EvaluationRunRequest) -> Any:
        kernel = _kernel(request)
        kernel.evaluators.entry(name)  # unknown names fail now with 404, not later inside the job

        def run(ctx: Any, *, evaluator: str, subjects: list[dict], suite: dict) -> dict:
            report: Report = kernel.evaluators.get(evaluator).evaluate(
                [Subject.model_validate(s) for s in subjects], Suite.model_validate(suite), progress=ctx.progress
            )
            return report.model_dump(mode="json")

        return kernel.jobs.submit(
            run,
            name=f"{name}:{body.suite.name}",
            kind="evaluation",
            params={
                "evaluator": name,
                "subjects": [s.model_dump(mode="json") for s in body.subjects],
                "suite": body.suite.model_dump(mode="json"),
            },
        )

    return router


def _trainer_router() -> APIRouter:
    from .job_routes import JOB_MODEL

    router = APIRouter(prefix="/v1/trainers", tags=["trainers"])

    @router.post("/{name}/datasets", response_model=JOB_MODEL, status_code=202, summary="Build a dataset (a job)")
    def build_dataset(request: Request, name: str, spec: DatasetSpec) -> Any:
        return _trainer_job(_kernel(request), name, "build_dataset", spec, kind="dataset")

    @router.post("/{name}/finetunes", response_model=JOB_MODEL, status_code=202, summary="Fine-tune a model (a job)")
    def finetune(request: Request, name: str, spec: FinetuneSpec) -> Any:
        return _trainer_job(_kernel(request), name, "finetune", spec, kind="finetune")

    return router


def _trainer_job(kernel: Any, name: str, method: str, spec: DatasetSpec | FinetuneSpec, *, kind: str) -> Any:
    """Submit trainer ``name``'s ``method`` (``build_dataset`` or ``finetune``) on ``spec`` as a job."""
    kernel.trainers.entry(name)  # unknown names fail now with 404, not later inside the job
    spec_type = type(spec)

    def run(ctx: Any, *, trainer: str, spec: dict) -> dict:
        result: DatasetArtifact | TrainingResult = getattr(kernel.trainers.get(trainer), method)(
            spec_type.model_validate(spec), progress=ctx.progress
        )
        return result.model_dump(mode="json")

    return kernel.jobs.submit(
        run, name=f"{name}:{kind}", kind=kind, params={"trainer": name, "spec": spec.model_dump(mode="json")}
    )


def _inspector_router() -> APIRouter:
    router = APIRouter(prefix="/v1/inspectors", tags=["inspectors"])

    @router.post("/{name}/inspect", response_model=InspectionReport, summary="Inspect a program")
    def inspect_target(request: Request, name: str, target: InspectTarget) -> InspectionReport:
        return _instance(request, "inspector", name).inspect(target)

    return router
