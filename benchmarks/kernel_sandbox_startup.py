"""Sandbox start-up against bare bubblewrap, interleaved in the same run, plus GoEX per-action overhead.

``/usr/bin/true`` is run (a) with bare bubblewrap (new namespaces, /usr read-only, its own /proc and
/dev: the least a bubblewrap sandbox needs) and (b) under skyplex.sandbox (the same plus a seccomp
filter, rlimits, a non-root user, a synthetic /etc, bounded /tmp and /dev/shm, the run's cgroup, the
host-side namespace kill and the masked init memory), alternating a and b so both see the same machine.
Median and p95 of each and their ratio (target < 1.5x). Then a full GoEX fs action (propose, run staged
in the sandbox, commit, undo) on a 20-file folder and a SQLite action on a small table.
Writes benchmarks/results/kernel_sandbox_startup.json.

    .venv/bin/python benchmarks/kernel_sandbox_startup.py [--n 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from skyplex.sandbox import cgroup as sandbox_cgroup
from skyplex_goex.executor import GoexExecutor

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "kernel_sandbox_startup.json"


def stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": statistics.median(xs), "p95_ms": xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))],
            "n": len(xs)}


def bare_bwrap_argv(unprivileged: bool) -> list[str]:
    """The least a bubblewrap sandbox needs; ``unprivileged`` runs it as the sandbox user would (as
    ``nobody``, so bubblewrap makes a user namespace), the identity skyplex.sandbox must use."""
    argv = [shutil.which("bwrap") or "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    if unprivileged and os.geteuid() == 0:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--no-new-privs",
                *argv, "--unshare-user"]
    for path in ("/bin", "/sbin", "/lib", "/lib64"):
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
    return argv + ["--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=60)
    args = ap.parse_args()
    sb = Sandbox(SandboxPolicy())
    res: dict[str, dict[str, float]] = {}
    bare_root, bare_user = bare_bwrap_argv(False), bare_bwrap_argv(True)
    with sb.temp_workspace() as ws, tempfile.TemporaryDirectory() as tmp:
        runs = {
            "bare bubblewrap as root: true": lambda: subprocess.run(bare_root, check=True),
            "bare bubblewrap as nobody (user ns): true": lambda: subprocess.run(bare_user, check=True),
            "skyplex.sandbox: true": lambda: sb.run(["/usr/bin/true"], workspace=ws),
        }
        xs: dict[str, list[float]] = {k: [] for k in runs}
        for fn in runs.values():
            fn()  # warm caches
        for _ in range(args.n):  # interleaved: all see the same machine state
            for k, fn in runs.items():
                xs[k].append(timed(fn))
        for k in runs:
            res[k] = stats(xs[k])
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

        n = max(5, args.n // 6)
        res["goex fs action (propose+run+commit+undo)"] = stats([timed(fs_action) for _ in range(n)])
        res["goex sqlite action (propose+run+commit+undo)"] = stats([timed(sql_action) for _ in range(n)])
        ex.close()
    ratios = {base: {k: res["skyplex.sandbox: true"][k] / res[base][k] for k in ("median_ms", "p95_ms")}
              for base in ("bare bubblewrap as root: true", "bare bubblewrap as nobody (user ns): true")}
    out = {"results": res, "sandbox_over_bare": ratios, "cgroup_per_run": sandbox_cgroup.available(),
           "as_root": os.geteuid() == 0}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2))
    t = Table(title="sandbox start-up (interleaved with bare bubblewrap) and goex per-action overhead")
    for col in ("what", "median ms", "p95 ms", "n"):
        t.add_column(col)
    for k, v in res.items():
        t.add_row(k, f"{v['median_ms']:.1f}", f"{v['p95_ms']:.1f}", str(v["n"]))
    Console().print(t)
    for base, ratio in ratios.items():
        Console().print(f"skyplex.sandbox / {base.split(':')[0]}: median {ratio['median_ms']:.2f}x, "
                        f"p95 {ratio['p95_ms']:.2f}x (target < 1.5x)")


if __name__ == "__main__":
    main()
