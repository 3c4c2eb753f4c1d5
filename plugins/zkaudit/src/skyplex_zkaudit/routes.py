"""Gateway routes under /plugins/zkaudit: verify with public artefacts, prove as a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, Field
from skyplex.interfaces import Claim, Proof, Verdict


class VerifyBody(BaseModel):
    proof: Proof
    records: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Public commitment records by id; missing ids are read from this server's.")


class JobRef(BaseModel):
    job_id: str


def submit_prove_job(kernel, claim: Claim):
    """Queue ``auditor.prove(claim)`` as a job reporting progress; the result is the Proof."""
    auditor = kernel.auditors.get("zkaudit")

    def run(ctx, claim: dict):
        return auditor.prove(Claim.model_validate(claim), progress=lambda f, m: ctx.progress(f, 1.0, m))

    return kernel.jobs.submit(run, name=f"zkaudit prove {claim.kind}", kind="proof",
                              params={"claim": claim.model_dump()})


async def strict_json_body(request: Request) -> None:
    """Refuse a body whose JSON repeats a key in an object (a 400 naming the key): parsers disagree on
    which copy wins, so a proof or claim with two ``lr`` keys could say one thing to its reader and
    another to this server."""
    from .formats import FormatError, loads_strict

    try:
        loads_strict(await request.body(), "")
    except FormatError:
        raise
    except ValueError:
        pass  # not JSON at all: FastAPI's own body validation answers that one with a 4xx


def register(router, kernel) -> None:
    """Add the plugin's routes to ``router`` (mounted at ``/plugins/zkaudit``)."""

    @router.post("/verify", response_model=Verdict, dependencies=[Depends(strict_json_body)])
    def verify(body: VerifyBody) -> Verdict:
        """Verify a proof from public artefacts: the proof, commitment records, verifying keys, SRS."""
        from .verify import verify_proof

        auditor = kernel.auditors.get("zkaudit")
        return verify_proof(body.proof, lambda cid: body.records.get(cid) or auditor.record(cid),
                            Path(auditor.circuits), auditor.srs_path)

    @router.post("/prove", response_model=JobRef, dependencies=[Depends(strict_json_body)])
    def prove(claim: Claim) -> JobRef:
        """Start proving a claim; follow it at /v1/jobs/{job_id}. A claim that cannot be proven here
        (malformed, unknown commitments, a non-member) is a 400 naming the field, before any job."""
        kernel.auditors.get("zkaudit").check(claim)
        return JobRef(job_id=submit_prove_job(kernel, claim).id)
