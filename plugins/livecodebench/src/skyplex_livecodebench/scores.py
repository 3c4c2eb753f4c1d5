"""pass@k (the unbiased estimator), bootstrap intervals over problems, breakdowns, official graded outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from skyplex import InvalidInputError
from skyplex.stats import bootstrap_ci

from .problems import Problem, parse_date


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k), as a stable product."""
    if not 0 <= c <= n or k <= 0:
        raise InvalidInputError(f"pass@k needs 0 <= correct <= samples and k >= 1 (got n={n}, c={c}, k={k})")
    if k > n:
        raise InvalidInputError(f"pass@{k} needs at least {k} samples per problem, a problem has {n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


@dataclass
class Estimate:
    """A mean over problems with a percentile-bootstrap interval (resampling problems)."""

    value: float
    ci_low: float
    ci_high: float
    n: int


def bootstrap_mean(values: Sequence[float], *, rounds: int = 1000, seed: int = 0, level: float = 0.95) -> Estimate:
    """The mean of per-problem values and its percentile bootstrap interval (problems resampled), from
    the kernel's :func:`skyplex.stats.bootstrap_ci`, so a seed names the same resamples as in every
    other plugin."""
    if not len(values):
        raise InvalidInputError("no problems to score (the selection is empty)")
    mean, low, high = bootstrap_ci(values, rounds=rounds, level=level, seed=seed)
    return Estimate(mean, low, high, len(values))


@dataclass
class ScoreTable:
    """pass@k overall and by group; ``pass_at`` maps k to an estimate (only k with n >= k everywhere)."""

    pass_at: dict[int, Estimate]
    groups: dict[str, dict[str, dict[int, Estimate]]] = field(default_factory=dict)
    problems: int = 0
    samples_per_problem: tuple[int, int] = (0, 0)


def score(results: Mapping[str, Sequence[bool]], problems: Iterable[Problem] | None = None, *,
          ks: Sequence[int] = (1,), cutoff: Any = None, rounds: int = 1000, seed: int = 0) -> ScoreTable:
    """pass@k for each k over ``results`` (question_id -> per-sample pass/fail), with breakdowns by
    difficulty, platform and, given a model ``cutoff``, contamination window (after vs on/before)."""
    if not results:
        raise InvalidInputError("no graded results to score")
    counts = {q: (len(v), sum(bool(x) for x in v)) for q, v in results.items()}
    if any(n == 0 for n, _ in counts.values()):
        raise InvalidInputError("a problem has zero graded samples; grade it or drop it")
    lo, hi = min(n for n, _ in counts.values()), max(n for n, _ in counts.values())
    usable = [k for k in ks if k <= lo]

    def estimates(qids: list[str]) -> dict[int, Estimate]:
        return {k: bootstrap_mean([pass_at_k(*counts[q], k) for q in qids], rounds=rounds, seed=seed) for k in usable}

    table = ScoreTable(estimates(sorted(counts)), problems=len(counts), samples_per_problem=(lo, hi))
    by_id = {p.question_id: p for p in (problems or [])}
    c = parse_date(cutoff, "cutoff") if cutoff is not None else None
    groups: dict[str, dict[str, list[str]]] = {"difficulty": {}, "platform": {}}
    if c is not None:
        groups["window"] = {}
    for q in counts:
        p = by_id.get(q)
        if p is None:
            continue
        groups["difficulty"].setdefault(p.difficulty, []).append(q)
        groups["platform"].setdefault(p.platform, []).append(q)
        if c is not None:
            groups["window"].setdefault("after_cutoff" if p.contest_date > c else "before_cutoff", []).append(q)
    table.groups = {g: {name: estimates(sorted(qs)) for name, qs in sorted(d.items())} for g, d in groups.items() if d}
    return table


@dataclass
class OfficialRecord:
    """One problem of the benchmark's graded-outputs file (``*_codegeneration_eval_all.json``)."""

    question_id: str
    codes: list[str]
    graded: list[bool]
    platform: str
    difficulty: str
    contest_date: str
    details: list[dict[str, Any]]


def load_official(path: str | Path) -> dict[str, OfficialRecord]:
    """The benchmark's graded outputs: per problem the extracted code and the official per-sample verdicts."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise InvalidInputError(f"{path}: expected a list of graded problems (the benchmark's eval_all format)")
    out = {}
    for i, r in enumerate(data):
        if not isinstance(r, dict) or "question_id" not in r or "code_list" not in r or "graded_list" not in r:
            raise InvalidInputError(f"{path}[{i}]: needs question_id, code_list and graded_list")
        details = []
        for m in r.get("metadata") or []:
            try:
                details.append(json.loads(m) if isinstance(m, str) else dict(m))
            except (ValueError, TypeError):
                details.append({})
        out[str(r["question_id"])] = OfficialRecord(
            str(r["question_id"]), [str(c) for c in r["code_list"]], [bool(g) for g in r["graded_list"]],
            str(r.get("platform", "")), str(r.get("difficulty", "")), str(r.get("contest_date", "")), details)
    return out


def table_to_dict(t: ScoreTable) -> dict[str, Any]:
    """A JSON-friendly form of a :class:`ScoreTable`."""
    def est(e: Estimate) -> dict[str, float]:
        return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n}

    return {"problems": t.problems, "samples_per_problem": list(t.samples_per_problem),
            "pass_at": {f"pass@{k}": est(e) for k, e in t.pass_at.items()},
            "groups": {g: {name: {f"pass@{k}": est(e) for k, e in ks.items()} for name, ks in d.items()}
                       for g, d in t.groups.items()}}
