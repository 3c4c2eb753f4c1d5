"""Sandbox start-up cost and GoEX per-action overhead.

Times ``/usr/bin/true`` and a Python one-liner run plainly (subprocess) and under skyplex.sandbox, then a
full GoEX fs action (propose, run staged in the sandbox, commit, undo) on a 20-file folder and a SQLite
action on a small table. Writes benchmarks/results/kernel_sandbox_startup.json.

    .venv/bin/python benchmarks/kernel_sandbox_startup.py [--n 30]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from skyplex.interfaces.executor import Action
from skyplex.sandbox import Sandbox, SandboxPolicy
from skyplex_goex.executor import GoexExecutor

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "kernel_sandbox_startup.json"


def timeit(fn, n: int) -> dict[str, float]:
    fn()
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return {"median_ms": statistics.median(xs), "p90_ms": xs[int(0.9 * (len(xs) - 1))]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    sb = Sandbox(SandboxPolicy())
    res: dict[str, dict[str, float]] = {}
    with sb.temp_workspace() as ws, tempfile.TemporaryDirectory() as tmp:
        res["plain: true"] = timeit(lambda: subprocess.run(["/usr/bin/true"]), args.n)
        res["sandbox: true"] = timeit(lambda: sb.run(["/usr/bin/true"], workspace=ws), args.n)
        res["plain: python3 -c pass"] = timeit(lambda: subprocess.run(["python3", "-c", "pass"]), args.n)
        res["sandbox: python3 -c pass"] = timeit(lambda: sb.run(["python3", "-c", "pass"], workspace=ws), args.n)
        ex = GoexExecutor(data_dir=Path(tmp) / "data")
        root = Path(tmp) / "proj"
        root.mkdir()
        for i in range(20):
            (root / f"f{i}.txt").write_text(f"line {i}\n" * 50)

        def fs_action():
            rec = ex.propose(Action(kind="fs", payload={"root": str(root), "command": "echo x >> f1.txt; rm f2.txt"}))
            ex.run(rec.id), ex.commit(rec.id), ex.undo(rec.id)

        db = Path(tmp) / "t.db"
        c = sqlite3.connect(db)
        c.executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); " + " ".join(
            f"INSERT INTO t(v) VALUES ('{i}');" for i in range(200)))
        c.close()

        def sql_action():
            rec = ex.propose(Action(kind="sqlite", payload={"database": str(db), "sql": "UPDATE t SET v = v || ';' WHERE id < 20"}))
            ex.run(rec.id), ex.commit(rec.id), ex.undo(rec.id)

        n = max(5, args.n // 3)
        res["goex fs action (propose+run+commit+undo)"] = timeit(fs_action, n)
        res["goex sqlite action (propose+run+commit+undo)"] = timeit(sql_action, n)
        ex.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    t = Table(title="sandbox start-up and goex per-action overhead")
    t.add_column("what")
    t.add_column("median ms")
    t.add_column("p90 ms")
    for k, v in res.items():
        t.add_row(k, f"{v['median_ms']:.1f}", f"{v['p90_ms']:.1f}")
    Console().print(t)


if __name__ == "__main__":
    main()
