"""HTTP routes under /plugins/livecodebench: grade a program, a predicted value or a predicted test output;
self-repair feedback and prompts; score graded results."""

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


class ExecutionRequest(BaseModel):
    code: str = Field(description="The program.")
    input: str = Field(description="The call whose value is predicted, e.g. f(x = 1).")
    answer: str = Field(description="The model's reply: an [ANSWER] block or an assertion.")
    cpu_s: int = Field(default=6, ge=1, le=60)


class TestOutputRequest(BaseModel):
    problem: dict[str, Any] = Field(description="One functional problem in the release's format.")
    test_index: int = Field(default=0, ge=0, description="Which public test's output is predicted.")
    answer: str = Field(description="The model's reply with an 'assert ... == VALUE' line.")


class RepairRequest(BaseModel):
    problem: dict[str, Any] = Field(description="One problem in the release's format.")
    code: str = Field(description="The program to grade and, if it fails, to ask a repair for.")
    tests: Literal["public", "private", "all"] = "public"
    cpu_s: int = Field(default=6, ge=1, le=60)


class ScoreRequest(BaseModel):
    results: dict[str, list[bool]] = Field(min_length=1, description="question_id -> per-sample pass/fail")
    k: list[int] = Field(default=[1], min_length=1)


def register(router: Any, kernel: Any) -> None:
    """Add ``POST /grade``, ``/execution/grade``, ``/test-output/grade``, ``/repair/prompt`` and ``/score``."""
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

    @router.post("/execution/grade")
    def execution_route(body: ExecutionRequest) -> dict:
        from .execution import grade_execution, item_from_record
        from .grader import Limits

        item = item_from_record({"id": "request", "code": body.code, "input": body.input}, "body", need_output=False)
        [verdict] = grade_execution([(item, body.answer)], workers=1, limits=Limits(cpu_s=body.cpu_s))
        return to_jsonable(verdict.to_dict())

    @router.post("/test-output/grade")
    def test_output_route(body: TestOutputRequest) -> dict:
        from .problems import problem_from_record
        from .testoutput import grade_test_output, output_items

        problem = problem_from_record(body.problem, "problem")
        items = output_items([problem])
        if not items:
            raise InvalidInputError("problem: test output prediction needs a functional problem (metadata.func_name) "
                                    "with public tests")
        if body.test_index >= len(items):
            raise InvalidInputError(f"test_index: the problem has {len(items)} public tests", field="test_index")
        item = items[body.test_index]
        return {**to_jsonable(grade_test_output(item, body.answer).to_dict()), "call": item.call}

    @router.post("/repair/prompt")
    def repair_route(body: RepairRequest) -> dict:
        from .grader import Limits, grade
        from .problems import problem_from_record
        from .repair import feedback, repair_prompt

        problem = problem_from_record(body.problem, "problem")
        verdict = grade(problem, body.code, tests=body.tests, limits=Limits(cpu_s=body.cpu_s))
        text = feedback(problem, verdict, body.tests)
        messages = [] if verdict.passed else [m.model_dump() for m in repair_prompt(problem, body.code, text)]
        return {"verdict": to_jsonable(verdict.to_dict()), "feedback": text, "messages": messages}

    @router.post("/score")
    def score_route(body: ScoreRequest) -> dict:
        from .scores import score, table_to_dict

        short = min(len(v) for v in body.results.values())
        if any(k > short for k in body.k):
            raise InvalidInputError(f"pass@{max(body.k)} needs that many samples per problem; one has {short}")
        return to_jsonable(table_to_dict(score(body.results, ks=body.k)))
