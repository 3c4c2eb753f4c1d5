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


Scenario = Literal["codegeneration", "selfrepair", "codeexecution", "testoutputprediction"]


class RunRequest(BaseModel):
    name: str = Field(description="Run name (letters, digits, '.', '_', '-').")
    scenario: Scenario = "codegeneration"
    records: list[dict[str, Any]] = Field(min_length=1, description="Graded outputs (the benchmark's eval_all format).")


class GenerateRequest(BaseModel):
    name: str = Field(description="Run name; the graded outputs become this run on the leaderboard.")
    scenario: Scenario = "codegeneration"
    problems: list[dict[str, Any]] = Field(min_length=1, description="Release records, or execution items "
                                           "(code, input, output) for codeexecution.")
    graded: list[dict[str, Any]] | None = Field(default=None, description="selfrepair: the first attempts.")
    backend: str = "local"
    n: int = Field(default=1, ge=1, le=100)
    temperature: float = Field(default=0.0, ge=0, le=5)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    limit: int = Field(default=0, ge=0)
    start: str | None = None
    end: str | None = None
    cot: bool = False


class ScoreRequest(BaseModel):
    results: dict[str, list[bool]] = Field(min_length=1, description="question_id -> per-sample pass/fail")
    k: list[int] = Field(default=[1], min_length=1)


def register(router: Any, kernel: Any) -> None:
    """Add ``POST /grade``, ``/execution/grade``, ``/test-output/grade``, ``/repair/prompt``, ``/score``,
    ``/runs`` and ``/generate`` (a job), and ``GET /leaderboard``, ``/plot.png``, ``/plot.svg`` and ``/board``."""
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

    from fastapi import Query
    from fastapi.responses import HTMLResponse, Response
    from skyplex.gateway.middleware import PUBLIC_PAGE

    def runs_dir(scenario: str) -> Any:
        return kernel.settings.data_dir / "livecodebench" / "runs" / scenario

    def stored_runs(scenario: str, names: str | None = None) -> list:
        from .board import check_name, load_run

        folder = runs_dir(scenario)
        wanted = [check_name(n) for n in names.split(",")] if names else None
        paths = sorted(folder.glob("*.json")) if folder.exists() else []
        runs = [load_run(p) for p in paths if wanted is None or p.name[:-5] in wanted]
        if not runs:
            raise InvalidInputError(f"no stored {scenario} runs{' named ' + names if names else ''}; "
                                    "POST /plugins/livecodebench/runs or /generate first", field="runs")
        return runs

    @router.post("/runs")
    def store_run(body: RunRequest) -> dict:
        import json as _json

        from .board import check_name, leaderboard, run_from_records

        run = run_from_records(check_name(body.name), body.records)
        folder = runs_dir(body.scenario)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{body.name}.tmp"
        tmp.write_text(_json.dumps(body.records), encoding="utf-8")
        tmp.replace(folder / f"{body.name}.json")
        return {"stored": body.name, "scenario": body.scenario, **leaderboard([run])[0]}

    @router.get("/leaderboard")
    def leaderboard_route(scenario: Scenario = "codegeneration", start: str | None = None, end: str | None = None,
                          cutoff: str | None = None, runs: str | None = Query(None, description="Comma-separated run names.")
                          ) -> dict:
        from .board import leaderboard

        return {"scenario": scenario, "rows": leaderboard(stored_runs(scenario, runs), start=start, end=end, cutoff=cutoff)}

    def plot_route(fmt: str) -> Any:
        def plot(scenario: Scenario = "codegeneration", start: str | None = None, end: str | None = None,
                 cutoff: str | None = None, runs: str | None = None) -> Response:
            from .board import month_plot

            data = month_plot(stored_runs(scenario, runs), fmt=fmt, cutoff=cutoff, start=start, end=end)  # type: ignore[arg-type]
            return Response(data, media_type="image/png" if fmt == "png" else "image/svg+xml")
        return plot

    router.add_api_route("/plot.png", plot_route("png"), methods=["GET"], response_class=Response,
                         summary="pass@1 by contest month per stored run (PNG)")
    router.add_api_route("/plot.svg", plot_route("svg"), methods=["GET"], response_class=Response,
                         summary="pass@1 by contest month per stored run (SVG)")

    @router.get("/board", response_class=HTMLResponse, openapi_extra=PUBLIC_PAGE,
                summary="The leaderboard page (public; asks for the API key)")
    def board_page() -> HTMLResponse:
        from importlib import resources

        page = resources.files("skyplex_livecodebench").joinpath("static", "board.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                       "img-src 'self' blob:; frame-ancestors 'none'"})

    @router.post("/generate")
    def generate_route(body: GenerateRequest) -> Any:
        import json as _json
        import uuid

        from .board import check_name
        from .jobs import submit_generation
        from .scenario_jobs import submit_scenario

        check_name(body.name)
        if body.graded is not None and body.scenario != "selfrepair":
            raise InvalidInputError("graded is for scenario selfrepair", field="graded")
        work = kernel.settings.data_dir / "livecodebench" / "inputs" / uuid.uuid4().hex
        work.mkdir(parents=True)
        source = work / "problems.jsonl"
        source.write_text("".join(_json.dumps(r) + "\n" for r in body.problems), encoding="utf-8")
        graded = None
        if body.graded is not None:
            graded = work / "graded.json"
            graded.write_text(_json.dumps(body.graded), encoding="utf-8")
        folder = runs_dir(body.scenario)
        folder.mkdir(parents=True, exist_ok=True)
        out = str(folder / f"{body.name}.json")
        common = dict(backend=body.backend, out=out, n=body.n, temperature=body.temperature,
                      max_tokens=body.max_tokens, limit=body.limit, start=body.start, end=body.end)
        if body.scenario == "codegeneration":
            if body.cot:
                raise InvalidInputError("cot is for scenario codeexecution", field="cot")
            return submit_generation(kernel, problems=str(source), **common)
        return submit_scenario(kernel, scenario=body.scenario, source=str(source), graded=str(graded) if graded else None,
                               cot=body.cot, **common)

    @router.post("/score")
    def score_route(body: ScoreRequest) -> dict:
        from .scores import score, table_to_dict

        short = min(len(v) for v in body.results.values())
        if any(k > short for k in body.k):
            raise InvalidInputError(f"pass@{max(body.k)} needs that many samples per problem; one has {short}")
        return to_jsonable(table_to_dict(score(body.results, ks=body.k)))
