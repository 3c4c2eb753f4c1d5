"""What the voting benchmarks over SmolLM2's measured tasks share: the tasks, their arguments, the output.

* :data:`TASKS`: task name -> data file in ``benchmarks/data`` (the seven 240-query tasks, and
  ``NAME-960`` for the larger held-out versions ``voting_heldout.py --collect-large`` writes);
* :func:`load_task`: a task's answer distributions (``voting_law.distributions``);
* :func:`task_arguments` / :func:`parse_task_arguments`: ``--tasks``, ``--ms``, ``--draws`` and
  ``--out``, with one clear line (exit code 2) for an unknown task or a malformed ``--ms``;
* :func:`write_results`: the JSON results file, with the machine and the Python version.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
#: the tasks with 240 queries, in the order they were measured
SMALL = {"digits": "voting_smollm2_digits.json", "sequences": "voting_smollm2_sequences.json",
         "extremes": "voting_smollm2_extremes.json", "letters": "voting_smollm2_letters.json",
         "halves": "voting_smollm2_halves.json", "parity": "voting_smollm2_parity.json",
         "counts": "voting_smollm2_counts.json"}
#: queries of the larger held-out versions (``voting_heldout.LARGE_QUERIES``)
LARGE = 960
TASKS = {**SMALL, **{f"{name}-{LARGE}": f"voting_smollm2_{name}_{LARGE}.json" for name in SMALL}}


def load_task(name: str) -> np.ndarray:
    """The task's answer distributions, rows ``[correct, 9 wrong (largest first), other]``."""
    from voting_law import distributions

    return distributions(json.loads((DATA / TASKS[name]).read_text()))


def task_arguments(ap: argparse.ArgumentParser, *, tasks: str, ms: str = "4,8,10,16", draws: int = 3,
                   out: Path) -> None:
    """Add ``--tasks``, ``--ms``, ``--draws`` and ``--out`` with these defaults."""
    ap.add_argument("--tasks", default=tasks)
    ap.add_argument("--ms", default=ms)
    ap.add_argument("--draws", type=int, default=draws)
    ap.add_argument("--out", default=str(out))


def parse_task_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace,
                         allowed: dict | None = None) -> tuple[list[str], list[int]]:
    """The tasks and the m values asked for; ``ap.error`` (one line, exit code 2) for a task not in
    ``allowed`` (default :data:`TASKS`), a task whose data file is missing, or a malformed ``--ms``."""
    allowed = TASKS if allowed is None else allowed
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in allowed]
    if unknown:
        ap.error(f"unknown task {unknown[0]!r}; choose from {', '.join(allowed)}")
    missing = [t for t in tasks if not (DATA / allowed[t]).exists()]
    if missing:
        ap.error(f"no data for task {missing[0]!r} ({DATA / allowed[missing[0]]}); collect it with voting_heldout.py")
    try:
        ms = [int(x) for x in args.ms.split(",")]
    except ValueError:
        ap.error(f"--ms must be comma-separated whole numbers, got {args.ms!r}")
    return tasks, ms


def write_results(out: str | Path, payload: dict) -> Path:
    """Write ``payload`` (after the machine and the Python version) as JSON to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), **payload},
                              indent=1))
    print(f"wrote {out}")
    return out
