"""Leaderboard and the contamination picture: pass@1 per run, and pass@1 by contest month per run.

A *run* is one graded-outputs file (the benchmark's ``*_eval_all.json`` shape, as ``generate`` writes
and as published results ship). matplotlib is imported only when a plot is drawn (Agg backend)."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from skyplex import InvalidInputError

from .problems import parse_date
from .scores import bootstrap_mean, pass_at_k

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Run:
    """One model's graded results: per problem the per-sample verdicts and the contest date."""

    name: str
    results: dict[str, list[bool]]
    dates: dict[str, str]


def run_from_records(name: str, records: Any, where: str = "records") -> Run:
    """A :class:`Run` from graded-outputs records (each needs question_id, graded_list, contest_date)."""
    if not isinstance(records, list) or not records:
        raise InvalidInputError(f"{where} must be a non-empty list of graded problems (the benchmark's eval_all format)")
    results, dates = {}, {}
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "question_id" not in r or not isinstance(r.get("graded_list"), list):
            raise InvalidInputError(f"{where}[{i}] needs question_id and graded_list")
        if not r["graded_list"]:
            raise InvalidInputError(f"{where}[{i}] ({r['question_id']}) has no graded samples")
        qid = str(r["question_id"])
        results[qid] = [bool(g) for g in r["graded_list"]]
        dates[qid] = parse_date(r.get("contest_date"), f"{where}[{i}].contest_date").date().isoformat()
    return Run(name, results, dates)


def load_run(path: str | Path, name: str | None = None) -> Run:
    """A run from a graded-outputs file; its name defaults to the file name without ``.json``."""
    p = Path(path)
    try:
        records = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"{p}: not valid JSON ({exc})") from None
    return run_from_records(name or p.name.removesuffix(".json"), records, str(p))


def check_name(name: str) -> str:
    """A run name usable as a file name: letters, digits, ``.``, ``_``, ``-`` (at most 100)."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith((".json", ".tmp")):
        raise InvalidInputError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 100 characters)")
    return name


def _selected(run: Run, start: Any, end: Any) -> list[str]:
    lo = parse_date(start, "start").date().isoformat() if start is not None else None
    hi = parse_date(end, "end").date().isoformat() if end is not None else None
    return [q for q, d in run.dates.items() if (lo is None or d >= lo) and (hi is None or d <= hi)]


def leaderboard(runs: Sequence[Run], *, start: Any = None, end: Any = None, cutoff: Any = None) -> list[dict[str, Any]]:
    """Rows sorted by pass@1: overall in the window, and split at ``cutoff`` when given."""
    rows = []
    c = parse_date(cutoff, "cutoff").date().isoformat() if cutoff is not None else None
    for run in runs:
        qids = _selected(run, start, end)
        if not qids:
            continue
        per = {q: pass_at_k(len(run.results[q]), sum(run.results[q]), 1) for q in qids}
        est = bootstrap_mean([per[q] for q in sorted(qids)])
        row: dict[str, Any] = {"run": run.name, "problems": len(qids), "pass@1": est.value,
                               "ci_low": est.ci_low, "ci_high": est.ci_high,
                               "first": min(run.dates[q] for q in qids), "last": max(run.dates[q] for q in qids)}
        if c is not None:
            after = [per[q] for q in qids if run.dates[q] > c]
            before = [per[q] for q in qids if run.dates[q] <= c]
            row["after_cutoff"] = sum(after) / len(after) if after else None
            row["before_cutoff"] = sum(before) / len(before) if before else None
        rows.append(row)
    if not rows:
        raise InvalidInputError("no run has problems in the chosen window; widen start/end")
    return sorted(rows, key=lambda r: (-r["pass@1"], r["run"]))


def by_month(run: Run, start: Any = None, end: Any = None) -> list[tuple[str, float, int]]:
    """``(YYYY-MM, mean pass@1, problems)`` for each contest month of ``run``, in order."""
    months: dict[str, list[float]] = {}
    for q in _selected(run, start, end):
        months.setdefault(run.dates[q][:7], []).append(pass_at_k(len(run.results[q]), sum(run.results[q]), 1))
    return [(m, sum(v) / len(v), len(v)) for m, v in sorted(months.items())]


def month_plot(runs: Sequence[Run], *, fmt: Literal["png", "svg"] = "png", cutoff: Any = None, start: Any = None,
               end: Any = None, title: str = "pass@1 by contest month") -> bytes:
    """The paper's contamination picture: one line per run over contest months (marker size ~ problems),
    with the model's training cutoff as a vertical line when given."""
    if fmt not in ("png", "svg"):
        raise InvalidInputError(f"plot format must be png or svg, not {fmt!r}")
    series = [(r.name, by_month(r, start, end)) for r in runs]
    series = [(n, s) for n, s in series if s]
    if not series:
        raise InvalidInputError("nothing to plot: no run has problems in the chosen window")
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidInputError("plots need matplotlib: pip install 'skyplex-livecodebench[plot]'") from None
    months = sorted({m for _, s in series for m, _, _ in s})
    index = {m: i for i, m in enumerate(months)}
    fig = Figure(figsize=(max(6.0, 0.45 * len(months) + 2), 4.2))
    ax = fig.add_subplot()
    for name, s in series:
        xs = [index[m] for m, _, _ in s]
        ax.plot(xs, [v for _, v, _ in s], marker="o", label=name, linewidth=1.5, markersize=4)
    if cutoff is not None:
        c = parse_date(cutoff, "cutoff").date().isoformat()[:7]
        pos = sum(m <= c for m in months) - 0.5
        ax.axvline(pos, color="grey", linestyle="--", linewidth=1)
        ax.annotate("cutoff", (pos, 1.0), xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")
    ax.set_xticks(range(len(months)), months, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("pass@1")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()
