"""HTTP routes of skyplex-voting, mounted by the gateway under ``/plugins/voting``.

``POST /curve`` (exact accuracy against K for given answer distributions), ``POST /fit`` (the law
fitted to answer counts or sample records; with a price, token counts and the value of a correct
answer also the cost-aware K), ``POST /vote`` (aggregate answers), ``POST /sample``
(a sampling job; follow it with the kernel's ``/v1/jobs/{id}``). Bad input answers 400 with the
field at fault (422 for a body of the wrong shape), never a 500.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class CurveRequest(BaseModel):
    distributions: list[list[float]] = Field(description="Rows [p_correct, p_wrong..., p_abstain], each summing to 1.")
    kmax: int = 100
    tie: Literal["random", "lose", "win"] = "random"


class FitRequest(BaseModel):
    counts: list[list[float]] | None = Field(default=None, description="Rows [correct, wrong..., abstain].")
    samples: list[dict[str, Any]] | None = Field(default=None, description="Sample records {answer, answers}.")
    m: int | None = None
    kmax: int = 100
    tie: Literal["random", "lose", "win"] = "random"
    components: int | Literal["auto", "2s", "blend", "grid", "grid-fine", "grid-gap", "grid-pick", "grid-or-paper",
                               "grid-paper-mix", "stack"] = "auto"
    draws: int = Field(default=8, ge=0, le=64)
    seed: int = 0
    input_price: float | None = Field(default=None, description="Dollars per million prompt tokens: turns on the cost-aware K.")
    output_price: float | None = Field(default=None, description="Dollars per million completion tokens (default: input_price).")
    prompt_tokens: float | None = Field(default=None, description="Prompt tokens of one call.")
    completion_tokens: float | None = Field(default=None, description="Completion tokens of one call.")
    value_per_correct: float | None = Field(default=None, description="Dollars a correct answer is worth.")


class VoteRequest(BaseModel):
    answers: list[str | None]
    tie_break: Literal["random", "first", "abstain"] = "first"
    weights: list[float] | None = None
    verdicts: list[bool] | None = Field(default=None, description="Judge verdicts per answer: Filter-Vote.")


class SampleRequest(BaseModel):
    queries: str = Field(description="Path of a queries JSONL file on the server.")
    out: str = Field(description="Path of the samples JSONL to write on the server.")
    backend: str = "local"
    k: int = 8
    answer_kind: Literal["letter", "number", "text"] = "letter"
    temperature: float = 1.0
    max_tokens: int = 4
    seed: int = 0


def register(router: Any, kernel: Any) -> None:
    """Add the voting routes to ``router``."""
    from skyplex.errors import InvalidInputError

    @router.post("/curve", summary="Exact plurality accuracy at K = 1..kmax for answer distributions")
    def curve(body: CurveRequest) -> dict[str, Any]:
        from .law import optimal_k, plurality_curves

        if not body.distributions:
            raise InvalidInputError("give at least one distribution", field="distributions")
        widths = {len(r) for r in body.distributions}
        if len(widths) != 1:
            raise InvalidInputError("every distribution needs the same columns [correct, wrong..., abstain]",
                                    field="distributions")
        curves = plurality_curves(body.distributions, body.kmax, body.tie)
        mean = curves.mean(axis=0)
        k, acc = optimal_k(mean)
        return {"curve": mean.tolist(), "per_query": curves.tolist(), "k_opt": k, "accuracy_opt": acc}

    @router.post("/fit", summary="Fit the voting law; predicted curve and optimal K with its interval")
    def fit(body: FitRequest) -> dict[str, Any]:
        from .api import fit_summary, priced_call

        if (body.counts is None) == (body.samples is None):
            raise InvalidInputError("give exactly one of 'counts' or 'samples'", field="counts")
        cost = priced_call(input_price=body.input_price, output_price=body.output_price,
                           prompt_tokens=body.prompt_tokens, completion_tokens=body.completion_tokens,
                           value_per_correct=body.value_per_correct)
        source: Any = {"counts": body.counts} if body.counts is not None else body.samples
        return fit_summary(source, m=body.m, kmax=body.kmax, tie=body.tie, components=body.components,
                           draws=body.draws, seed=body.seed, cost_per_call=cost,
                           value_per_correct=body.value_per_correct if cost is not None else None)

    @router.post("/vote", summary="Aggregate answers: majority, weighted, or Filter-Vote")
    def vote(body: VoteRequest) -> dict[str, Any]:
        from .answers import filter_vote, majority_vote

        if body.verdicts is not None:
            v = filter_vote(body.answers, body.verdicts, tie_break=body.tie_break)
        else:
            v = majority_vote(body.answers, tie_break=body.tie_break, weights=body.weights)
        return {"answer": v.answer, "counts": v.counts, "abstentions": v.abstentions, "tied": v.tied,
                "filtered": v.filtered}

    @router.post("/sample", status_code=202, summary="Start a sampling job (resumable through its cache)")
    def sample(body: SampleRequest) -> dict[str, Any]:
        from .jobs import submit_sampling

        job = submit_sampling(kernel, **body.model_dump())
        return {"job_id": job.id, "status": job.status, "watch": f"/v1/jobs/{job.id}"}
