"""LiveCodeBench problems: loading release files, test cases, windows by contest date, model cutoffs."""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Literal

from skyplex import InvalidInputError

from .safe_decode import UnsafeOrMalformedData, decode_private_tests

TestKind = Literal["stdin", "functional"]


@dataclass(frozen=True)
class TestCase:
    """One test: the input text (stdin text, or one JSON value per line for functional tests) and
    the expected output text (stdout, or one JSON value)."""

    input: str
    output: str
    kind: TestKind


@dataclass
class Problem:
    """A contest problem with its date, difficulty, starter code and tests."""

    question_id: str
    title: str
    content: str
    platform: str
    contest_id: str
    contest_date: datetime
    difficulty: str
    starter_code: str = ""
    func_name: str | None = None
    public_tests: list[TestCase] = field(default_factory=list)
    private_tests: list[TestCase] = field(default_factory=list)

    @property
    def kind(self) -> TestKind:
        """``functional`` for LeetCode-style problems graded by calling a method, else ``stdin``."""
        return "functional" if self.func_name else "stdin"

    def tests(self, which: Literal["public", "private", "all"] = "all") -> list[TestCase]:
        """The public tests, the hidden ones, or both (public first)."""
        if which == "public":
            return list(self.public_tests)
        if which == "private":
            return list(self.private_tests)
        return [*self.public_tests, *self.private_tests]


def _parse_maybe_json(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        try:  # some copies store Python literals; parsed as literals, never evaluated
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise InvalidInputError(f"{where} is neither JSON nor a literal; fix the problem file") from None


def _tests(raw: Any, where: str) -> list[TestCase]:
    raw = _parse_maybe_json(raw, where)
    if not isinstance(raw, list):
        raise InvalidInputError(f"{where} must be a list of tests, got {type(raw).__name__}")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("input"), str) or not isinstance(t.get("output"), str):
            raise InvalidInputError(f"{where}[{i}] needs string 'input' and 'output' fields")
        kind = t.get("testtype", "stdin")
        if kind not in ("stdin", "functional"):
            raise InvalidInputError(f"{where}[{i}].testtype must be 'stdin' or 'functional', not {kind!r}")
        out.append(TestCase(input=t["input"], output=t["output"], kind=kind))
    return out


def parse_date(value: Any, where: str) -> datetime:
    """A contest date or cutoff from ISO text (``2023-08-21`` or ``2023-08-21T00:00:00``) or a date."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.utcfromtimestamp(value / 1000 if value > 1e11 else value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None)
    except ValueError:
        raise InvalidInputError(f"{where} must be an ISO date like 2023-08-21, got {value!r}") from None


def problem_from_record(rec: Any, where: str = "problem") -> Problem:
    """A :class:`Problem` from one release record (the benchmark's field names)."""
    if not isinstance(rec, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    missing = [k for k in ("question_id", "contest_date", "public_test_cases") if k not in rec]
    if missing:
        raise InvalidInputError(f"{where} lacks {', '.join(missing)}; is this a LiveCodeBench release file?")
    qid = str(rec["question_id"])
    meta = _parse_maybe_json(rec.get("metadata") or {}, f"{where}.metadata")
    if not isinstance(meta, dict):
        raise InvalidInputError(f"{where}.metadata must be an object")
    private: list[TestCase] = []
    if rec.get("private_test_cases"):
        blob = rec["private_test_cases"]
        if isinstance(blob, str):
            try:
                blob = decode_private_tests(blob)
            except UnsafeOrMalformedData as exc:
                raise InvalidInputError(f"{where}.private_test_cases: {exc}") from None
        private = _tests(blob, f"{where}.private_test_cases")
    return Problem(
        question_id=qid,
        title=str(rec.get("question_title", qid)),
        content=str(rec.get("question_content", "")),
        platform=str(rec.get("platform", "unknown")),
        contest_id=str(rec.get("contest_id", "")),
        contest_date=parse_date(rec["contest_date"], f"{where}.contest_date"),
        difficulty=str(rec.get("difficulty", "unknown")),
        starter_code=str(rec.get("starter_code") or ""),
        func_name=meta.get("func_name") or None,
        public_tests=_tests(rec["public_test_cases"], f"{where}.public_test_cases"),
        private_tests=private,
    )


def load_problems(path: str | Path) -> list[Problem]:
    """Problems from a release file: JSONL (as shipped, optionally .gz) or a JSON list."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        text = fh.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{p}: not valid JSON ({exc})") from None
        return [problem_from_record(r, f"{p}[{i}]") for i, r in enumerate(records)]
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise InvalidInputError(f"{p} line {lineno}: not valid JSON ({exc.msg})") from None
        problems.append(problem_from_record(rec, f"{p} line {lineno}"))
    if not problems:
        raise InvalidInputError(f"{p} holds no problems")
    return problems


def in_window(problems: Iterable[Problem], start: Any = None, end: Any = None) -> list[Problem]:
    """Problems whose contest date lies in ``[start, end]`` (either bound may be None)."""
    lo = parse_date(start, "start") if start is not None else None
    hi = parse_date(end, "end") if end is not None else None
    if lo and hi and lo > hi:
        raise InvalidInputError(f"window start {lo.date()} is after its end {hi.date()}")
    return [p for p in problems if (lo is None or p.contest_date >= lo) and (hi is None or p.contest_date <= hi)]


def contamination_split(problems: Iterable[Problem], cutoff: Any) -> dict[str, list[Problem]]:
    """Problems published after a model's training ``cutoff`` (``clean``) and on or before it
    (``possibly_seen``): scores on the clean side are contamination-free."""
    c = parse_date(cutoff, "cutoff")
    out: dict[str, list[Problem]] = {"clean": [], "possibly_seen": []}
    for p in problems:
        out["clean" if p.contest_date > c else "possibly_seen"].append(p)
    return out
