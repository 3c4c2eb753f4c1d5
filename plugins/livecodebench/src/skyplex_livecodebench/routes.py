"""HTTP routes under /plugins/livecodebench: grade one program, score graded results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class GradeRequest(BaseModel):
    problem: dict[str, Any] = Field(description="One problem in the release's format.")
    code: str | None = Field(default=None, description="The program; or give the model's whole answer.")
    answer: str | None = None
    tests: Literal["public", "private", "all"] = "public"
    cpu_s: int = Field(default=6, ge=1, le=60)
    memory_mb: int = Field(default=2048, ge=64, le=16384)


class ScoreRequest(BaseModel):
    results: dict[str, list[bool]] = Field(min_length=1, description="question_id -> per-sample pass/fail")
    k: list[int] = Field(default=[1], min_length=1)


def register(router: Any, kernel: Any) -> None:
    """Add ``POST /grade`` and ``POST /score``."""
    from skyplex import InvalidInputError
    from skyplex.encoding import to_jsonable

    @router.post("/grade")
    def grade_route(body: GradeRequest) -> dict:
        from .grader import Limits, extract_code, grade
        from .problems import problem_from_record

        if (body.code is None) == (body.answer is None):
            raise InvalidInputError("give exactly one of 'code' (a program) or 'answer' (a model's reply)")
        problem = problem_from_record(body.problem, "problem")
        code = body.code if body.code is not None else extract_code(body.answer or "")
        verdict = grade(problem, code, tests=body.tests, limits=Limits(cpu_s=body.cpu_s, memory_mb=body.memory_mb))
        return to_jsonable(verdict.to_dict())

    @router.post("/score")
    def score_route(body: ScoreRequest) -> dict:
        from .scores import score, table_to_dict

        short = min(len(v) for v in body.results.values())
        if any(k > short for k in body.k):
            raise InvalidInputError(f"pass@{max(body.k)} needs that many samples per problem; one has {short}")
        return to_jsonable(table_to_dict(score(body.results, ks=body.k)))
