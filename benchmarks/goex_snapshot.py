"""GoEX propose + run + commit + undo of a 200 MB tree against a `cp -a` snapshot/restore and against git,
interleaved in the same run on the same tree.

A 200 MB / 3,500-file tree (text and binary files, nested folders) gets one change script (edits,
deletes, renames, new files, a mode change) and is then restored, three ways per repetition, in turn:

* goex: the real executor: propose, run (staged copy, the script in the sandbox, diff, approved
  contents into the blob store), commit (pre-images, O_NOFOLLOW writes), undo;
* cp -a: ``cp -a tree snap``, the script run directly, then ``rm -rf tree && cp -a snap tree``;
* git: ``git add -A && git commit``, the script, then ``git reset --hard && git clean -fdx``.

Each is checked to restore the tree (types, modes, sizes, link targets). Times are medians over the
repetitions; ratios are baseline / goex (above 1: goex is faster). Writes
benchmarks/results/goex_snapshot.json.

    .venv/bin/python benchmarks/goex_snapshot.py [--mb 200] [--files 3500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from skyplex.interfaces.executor import Action
from skyplex_goex.executor import GoexExecutor
from skyplex_goex.fstree import scan

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "goex_snapshot.json"

#: the change every method makes and restores (runs with the tree as its working directory)
SCRIPT = """
set -e
i=0
for f in $(find . -name '*.bin' | sort | head -100); do
  i=$((i+1))
  if [ $i -le 50 ]; then echo edited >> "$f"
  elif [ $i -le 80 ]; then rm "$f"
  else mv "$f" "${f%.bin}.moved"; fi
done
mkdir -p new
for n in $(seq 1 30); do head -c 4096 /dev/urandom > new/n$n; done
chmod 600 "$(find . -name '*.bin' | sort | sed -n 101p)"
"""


def make_tree(root: Path, total_mb: int, files: int) -> None:
    size = total_mb * (1 << 20) // files
    for i in range(files):
        d = root / f"d{i % 40}" / f"s{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size) if i % 3 else (b"line %d\n" % i) * (size // 8)
        (d / f"f{i}.bin").write_bytes(data[:size])


def state(root: Path) -> dict:
    return {k: (v.type, v.mode, v.size, v.target) for k, v in scan(root).items() if not k.startswith(".git")}


def sh(cwd: Path, script: str) -> None:
    subprocess.run(["sh", "-c", script], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def with_goex(ex: GoexExecutor, tree: Path, tmp: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    rec = ex.run(ex.propose(Action(kind="fs", payload={"root": str(tree), "command": SCRIPT})).id)
    t1 = time.perf_counter()
    ex.commit(rec.id)
    t2 = time.perf_counter()
    ex.undo(rec.id)
    t3 = time.perf_counter()
    return {"snapshot_s": t1 - t0, "change_s": t2 - t1, "restore_s": t3 - t2}


def with_cp(tree: Path, tmp: Path) -> dict[str, float]:
    snap = tmp / "cp-snap"
    t0 = time.perf_counter()
    subprocess.run(["cp", "-a", str(tree), str(snap)], check=True)
    t1 = time.perf_counter()
    sh(tree, SCRIPT)
    t2 = time.perf_counter()
    shutil.rmtree(tree)
    subprocess.run(["cp", "-a", str(snap), str(tree)], check=True)
    t3 = time.perf_counter()
    shutil.rmtree(snap)
    return {"snapshot_s": t1 - t0, "change_s": t2 - t1, "restore_s": t3 - t2}


def with_git(tree: Path, tmp: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "snapshot")
    t1 = time.perf_counter()
    sh(tree, SCRIPT)
    t2 = time.perf_counter()
    git(tree, "reset", "-q", "--hard")
    git(tree, "clean", "-q", "-fdx")
    t3 = time.perf_counter()
    shutil.rmtree(tree / ".git")
    return {"snapshot_s": t1 - t0, "change_s": t2 - t1, "restore_s": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=3500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"goex": [], "cp -a": [], "git": []}
    with tempfile.TemporaryDirectory(prefix="goex-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        tree = tmp / "tree"
        tree.mkdir()
        make_tree(tree, args.mb, args.files)
        original = state(tree)
        stage = tmp / "stage"
        stage.mkdir(mode=0o711)
        ex = GoexExecutor(data_dir=tmp / "goex-data", stage_dir=stage,
                          sandbox={"disk_mb": 4 * args.mb + 1024, "wall_timeout_s": 300, "cpu_seconds": 120})
        try:
            for _rep in range(args.repeat):  # interleaved: each repetition runs all three in turn
                for name, fn in (("goex", lambda: with_goex(ex, tree, tmp)), ("cp -a", lambda: with_cp(tree, tmp)),
                                 ("git", lambda: with_git(tree, tmp))):
                    r = fn()
                    r["total_s"] = r["snapshot_s"] + r["change_s"] + r["restore_s"]
                    r["exact"] = state(tree) == original
                    if not r["exact"]:  # keep the next method's start state right
                        raise SystemExit(f"{name} did not restore the tree")
                    runs[name].append(r)
        finally:
            ex.close()
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("snapshot_s", "change_s", "restore_s", "total_s")}
           for name, rs in runs.items()}
    ratios = {name: med[name]["total_s"] / med["goex"]["total_s"] for name in ("cp -a", "git")}
    result = {"mb": args.mb, "files": args.files, "repeat": args.repeat, "runs": runs, "median": med,
              "baseline_over_goex": ratios, "all_exact": all(r["exact"] for rs in runs.values() for r in rs)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    t = Table(title=f"snapshot, change, restore: {args.mb} MB / {args.files} files (median of {args.repeat}, interleaved)")
    for c in ("method", "snapshot s", "change s", "restore s", "total s", "total / goex", "restored exactly"):
        t.add_column(c)
    for name, m in med.items():
        t.add_row(name, f"{m['snapshot_s']:.2f}", f"{m['change_s']:.2f}", f"{m['restore_s']:.2f}", f"{m['total_s']:.2f}",
                  f"{m['total_s'] / med['goex']['total_s']:.2f}x", str(all(r["exact"] for r in runs[name])))
    Console().print(t)
    Console().print("goex: snapshot = propose + run (staged copy, sandboxed script, diff, blobs); change = commit; "
                    "restore = undo. Baselines run the script directly, unconfined.")


if __name__ == "__main__":
    main()
