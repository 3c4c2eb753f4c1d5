"""Grading many programs: parallel sandbox runs over the sandboxed grader, with a resumable journal.

The programs run in sandbox processes, so the host side only waits and compares: threads (one per
concurrent sandbox run) are enough, and they cost no interpreter start-up, module imports or sandbox
availability probe per worker, which a process pool pays. ``executor="ray"`` sends the same batches to
a Ray cluster instead (:mod:`.ray_grading`)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Literal, Sequence

from skyplex import InvalidInputError

from .grader import Limits, Verdict, grade_batch
from .problems import Problem

Task = tuple[Problem, "str | None"]


def task_key(problem: Problem, code: str | None, index: int) -> str:
    """Identity of one grading task in a journal: problem, sample index and a hash of the code."""
    digest = hashlib.sha256((code if code is not None else "\x00none").encode()).hexdigest()[:16]
    return f"{problem.question_id}#{index}#{digest}"


def batches(todo: Sequence[int], workers: int, batch: int) -> list[list[int]]:
    """Cut ``todo`` into sandbox runs of at most ``batch`` programs: the first ``workers`` runs take a fair
    share each, later ones at most half a worker's fair share of what is left, so they shrink towards
    the end and the workers finish together instead of one waiting out another's last long run; never
    under 4 programs (a sandbox start costs about what a few programs do) unless fewer are left."""
    out: list[list[int]] = []
    workers, floor = max(1, workers), min(4, max(1, batch))
    fair = max(1, len(todo) // workers)
    start = 0
    while start < len(todo):
        left = len(todo) - start
        share = fair if len(out) < workers else max(floor, -(-left // (2 * workers)))
        size = max(1, min(batch, left, share))
        out.append(list(todo[start:start + size]))
        start += size
    return out


#: programs for hard stdin problems are the ones that run into the time limits (in the re-grade
#: benchmark every program using over 1 s of CPU is one): they go first, in runs of at most this many
EXPENSIVE_BATCH = 12


def likely_expensive(problem: Problem) -> bool:
    """Whether a program for ``problem`` is likely to take long: a hard problem read from stdin."""
    return problem.difficulty == "hard" and problem.kind == "stdin"


def schedule(tasks: Sequence[Task], todo: Sequence[int], workers: int, batch: int) -> list[list[int]]:
    """The sandbox runs for ``todo``, in the order workers take them: the likely expensive programs
    first in small runs (longest first, so the workers share them out instead of one meeting them
    last), then the rest cut by :func:`batches` (runs shrinking towards the end)."""
    first = [i for i in todo if likely_expensive(tasks[i][0])]
    rest = [i for i in todo if not likely_expensive(tasks[i][0])]
    small = max(1, min(batch, EXPENSIVE_BATCH))
    return [first[j:j + small] for j in range(0, len(first), small)] + batches(rest, workers, batch)


def _grade_chunk(args: tuple) -> list[dict]:
    items, tests, limits = args
    return [v.to_dict() for v in grade_batch(items, tests=tests, limits=limits)]


def check_executor(executor: str, ray_address: str | None) -> None:
    """Refuse an executor :func:`grade_many` does not have, a Ray address without Ray, or Ray not installed
    (checked when a run is asked for, not once it is under way)."""
    if executor not in ("threads", "ray"):
        raise InvalidInputError(f"executor must be 'threads' or 'ray', not {executor!r}", field="executor")
    if ray_address is not None and executor != "ray":
        raise InvalidInputError("a Ray address is for the ray executor (executor='ray')", field="ray_address")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise InvalidInputError("the ray executor needs Ray: pip install 'skyplex-livecodebench[ray]'", field="executor")


def grade_many(tasks: Sequence[Task], *, workers: int = 2, tests: Literal["public", "private", "all"] = "public",
               limits: Limits | None = None, journal: str | Path | None = None,
               progress: Callable[[int, int, str], None] | None = None, batch: int = 48,
               executor: Literal["threads", "ray"] = "threads", ray_address: str | None = None,
               ray_retries: int = 2) -> list[Verdict]:
    """Grade ``(problem, code)`` pairs in parallel (``workers`` concurrent sandbox runs; 1 grades serially).

    ``executor="threads"`` runs the sandboxes on this machine; ``"ray"`` runs each batch as a Ray task
    (on the cluster at ``ray_address``, or a local Ray instance when Ray is not yet initialised; a task
    whose worker dies is retried ``ray_retries`` times), with the same verdicts. ``workers`` then sets how
    many batches the programs are cut into at least, so a cluster with more CPUs wants a larger value.

    With ``journal``, each finished verdict is appended (one JSON line, flushed and fsynced) and a
    rerun skips what the journal already holds, so a crashed run resumes without losing verdicts.
    ``batch`` programs share one sandbox run (start-up paid once; each still runs as its own processes);
    a verdict reaches the journal when its batch ends, so a crash loses at most ``workers`` batches.
    Likely expensive programs (hard stdin problems) are graded first, in runs of at most 12
    (:func:`schedule`).
    """
    limits = limits or Limits()
    check_executor(executor, ray_address)
    keys = [task_key(p, c, i) for i, (p, c) in enumerate(tasks)]
    done: dict[str, dict] = {}
    if journal is not None and Path(journal).exists():
        for line in Path(journal).read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: that task is graded again
            if isinstance(rec, dict) and "key" in rec and "verdict" in rec:
                done[rec["key"]] = rec["verdict"]
    todo = [i for i, k in enumerate(keys) if k not in done]
    total, finished = len(tasks), len(tasks) - len(todo)
    fh = open(journal, "a", encoding="utf-8") if journal is not None else None

    def record(i: int, verdict: dict) -> None:
        nonlocal finished
        done[keys[i]] = verdict
        finished += 1
        if fh is not None:
            fh.write(json.dumps({"key": keys[i], "verdict": verdict}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if progress is not None:
            progress(finished, total, tasks[i][0].question_id)

    try:
        chunks = schedule(tasks, todo, workers, batch)
        args = [([tasks[i] for i in chunk], tests, limits) for chunk in chunks]
        if executor == "ray":
            from .ray_grading import run_batches

            run_batches(list(zip(chunks, args)), record, address=ray_address, retries=ray_retries)
        elif workers <= 1 or len(chunks) <= 1:
            for chunk, a in zip(chunks, args):
                for i, v in zip(chunk, _grade_chunk(a)):
                    record(i, v)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skyplex-lcb-grade") as pool:
                futures = {pool.submit(_grade_chunk, a): chunk for chunk, a in zip(chunks, args)}
                for fut in as_completed(futures):
                    for i, v in zip(futures[fut], fut.result()):
                        record(i, v)
    finally:
        if fh is not None:
            fh.close()
    fields = set(Verdict.__dataclass_fields__)
    return [Verdict(**{k: v for k, v in done[k2].items() if k in fields}) for k2 in keys]
