"""What the RAFT benchmarks share: the machine record, a LoRA fine-tune with progress, the evaluation of
subjects on a held-out file, and the score table (a value with its bootstrap interval per column)."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def machine(load_start: float | None = None) -> dict[str, Any]:
    """Python, cores, torch and its threads, and the load average (other work skews the timings)."""
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    try:
        info["load_average_1m"] = os.getloadavg()[0]
        if load_start is not None:
            info["load_average_1m_start"] = load_start
    except OSError:
        pass
    return info


def lora_options(args: Any) -> Any:
    """The LoRA options every row shares: steps, sequence length, rank (alpha = 2 x rank), learning rate."""
    from skyplex_raft.finetune import lora_options_from

    options, _ = lora_options_from({"max_steps": args.steps, "max_seq_len": args.max_seq_len, "r": args.rank,
                                    "alpha": 2 * args.rank, "learning_rate": args.learning_rate,
                                    "threads": args.threads, "save_every": 20,
                                    "curriculum": getattr(args, "curriculum", False),
                                    "opening_tokens": getattr(args, "opening_tokens", 0),
                                    "opening_weight": getattr(args, "opening_weight", 1.0)})
    return options


def train(dataset: Path, out: Path, options: Any, data_dir: Path, label: str = "") -> tuple[dict, float]:
    """Fine-tune the local model on ``dataset`` into ``out``; the summary and the seconds it took."""
    from skyplex_raft.finetune import finetune_lora

    prefix = f"{label} " if label else ""
    start = time.perf_counter()
    summary = finetune_lora(dataset, "local", out, options, data_dir=data_dir,
                            progress=lambda d, t, m: print(prefix + m, file=sys.stderr) if d % 10 == 0 or d == t else None)
    return summary, time.perf_counter() - start


def evaluate(base: Any, subjects: list, suite: str, dataset: Path, *, limit: int, max_tokens: int) -> tuple[Any, float]:
    """Score ``subjects`` on the held-out ``dataset`` with the RAFT evaluator; the report and its seconds."""
    from skyplex.interfaces import Suite
    from skyplex_raft.evaluate import RaftEvaluator

    evaluator = RaftEvaluator(backends={"local": base})
    start = time.perf_counter()
    try:
        report = evaluator.evaluate(subjects, Suite(name=suite, options={
            "dataset": str(dataset), "limit": limit, "max_tokens": max_tokens}),
            progress=lambda d, t, m: print(m, file=sys.stderr))
    finally:
        evaluator.close()
    return report, time.perf_counter() - start


def score_rows(report: Any, subjects: list, columns: list[str]) -> dict[str, dict[str, dict | None]]:
    """Per subject, per column: the score as a dict (value, interval, n), or None where it has none."""
    scores = {(s.subject, s.metric): s for s in report.scores}
    return {s.name: {c: (scores[(s.name, c)].model_dump() if (s.name, c) in scores else None) for c in columns}
            for s in subjects}


def print_table(title: str, rows: dict[str, dict[str, dict | None]], columns: list[str], *,
                ratios: dict[str, dict[str, float | None]] | None = None, with_n: bool = False,
                width: int = 200) -> None:
    """The score table: each cell ``value [low, high]`` (and ``n=`` with ``with_n``), then ratio rows."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("subject")
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in rows.items():
        table.add_row(name, *[f"{v['value']:.2f} [{v['ci_low']:.2f}, {v['ci_high']:.2f}]" + (f" n={v['n']}" if with_n else "")
                              if v else "-" for v in row.values()])
    for label, ratio in (ratios or {}).items():
        table.add_row(label, *[f"{ratio[c]:.2f}x" if ratio.get(c) else "-" for c in columns])
    Console(width=width).print(table)


def run_main(main: Any, argv: list[str] | None = None) -> int:
    """``main(argv)``, with bad settings reported as one line naming the script and the setting, exit status 2."""
    from skyplex.errors import InvalidInputError

    try:
        return main(argv)
    except InvalidInputError as error:
        print(f"{Path(sys.argv[0]).name}: {error}", file=sys.stderr)
        return 2
