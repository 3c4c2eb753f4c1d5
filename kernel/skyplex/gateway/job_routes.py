"""Jobs over HTTP: list, get, cancel, and an SSE stream of snapshots until the job ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..jobs import Job
from ..kernel import Kernel
from .errors import COMMON_ERROR_RESPONSES
from .schemas import ListResponse

#: The response model of every route that answers with a job.
JOB_MODEL = Job

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _kernel(request: Request) -> Kernel:
    return request.app.state.kernel


def jobs_router() -> APIRouter:
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.get("", response_model=ListResponse[Job], summary="Recent jobs, newest first")
    def list_jobs(
        request: Request,
        status: JobStatus | None = Query(None, description="Only jobs in this state."),
        kind: str | None = Query(None, description="Only jobs of this kind, e.g. 'evaluation'."),
        limit: int = Query(50, ge=1, le=1000),
    ) -> ListResponse[Job]:
        return ListResponse[Job](data=_kernel(request).jobs.list(status=status, kind=kind, limit=limit))

    @router.get("/{job_id}", response_model=Job, summary="One job with its progress, result or error")
    def get_job(request: Request, job_id: str) -> Job:
        return _kernel(request).jobs.get(job_id)

    @router.post("/{job_id}/cancel", response_model=Job, summary="Ask a job to stop")
    def cancel_job(request: Request, job_id: str) -> Job:
        return _kernel(request).jobs.cancel(job_id)

    @router.get(
        "/{job_id}/events",
        summary="Server-sent events: one 'job' event per snapshot, until the job ends",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "`text/event-stream`: `event: job` events whose data is a Job (JSON), then `event: end`.",
                # the body is a stream of events, not one Job; each event's data is described by itemSchema
                # OpenAPI 3.1 reads an event-stream schema as describing each event: here a 'job' event
                # whose data is a Job as JSON, or the closing 'end' event with an empty object
                "content": {
                    "text/event-stream": {
                        "schema": {
                            "type": "object",
                            "required": ["event", "data"],
                            "properties": {
                                "event": {"enum": ["job", "end"]},
                                "id": {"type": "string"},
                                "data": {
                                    "type": "string",
                                    "contentMediaType": "application/json",
                                    "contentSchema": {
                                        "anyOf": [{"$ref": "#/components/schemas/Job"}, {"type": "object", "maxProperties": 0}]
                                    },
                                },
                            },
                        }
                    }
                },
            },
            **{k: v for k, v in COMMON_ERROR_RESPONSES.items() if k == 404},
        },
    )
    async def job_events(
        request: Request,
        job_id: str,
        interval: float = Query(0.2, gt=0, le=10, description="Seconds between progress checks."),
    ) -> StreamingResponse:
        jobs = _kernel(request).jobs
        await run_in_threadpool(jobs.get, job_id)  # unknown ids answer 404 before the stream starts

        async def events() -> AsyncIterator[bytes]:
            snapshots: Iterator[Job] = jobs.watch(job_id, interval=interval)
            # watch() blocks between snapshots, so each step runs in the thread pool
            async for job in iterate_in_threadpool(snapshots):
                if await request.is_disconnected():
                    break
                yield f"event: job\nid: {job.id}\ndata: {job.model_dump_json()}\n\n".encode()
            yield b"event: end\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    return router
