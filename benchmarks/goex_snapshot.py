"""GoEX snapshot + restore vs git, same tree, same run.

A 200 MB / 3,500-file tree (text and binary files, nested folders) is snapshotted, changed (edits,
deletes, renames, new files, a mode change) and restored, (a) with goex's staged copy + diff + safe
restore (what fs actions do: copy_file_range copies, stat/content diff, O_NOFOLLOW writes) and (b) with
``git add -A && git commit`` then ``git reset --hard && git clean -fdx``. Each is checked to restore the
tree exactly. Writes benchmarks/results/goex_snapshot.json.

    .venv/bin/python benchmarks/goex_snapshot.py [--mb 200] [--files 3500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from skyplex_goex.fs_actions import diff
from skyplex_goex.fstree import SafeRoot, copy_tree, scan

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "goex_snapshot.json"


def make_tree(root: Path, total_mb: int, files: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    size = total_mb * (1 << 20) // files
    for i in range(files):
        d = root / f"d{i % 40}" / f"s{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size) if i % 3 else (b"line %d\n" % i) * (size // 8)
        (d / f"f{i}.bin").write_bytes(data[:size])
    rng.seed(seed)


def mutate(root: Path) -> None:
    files = sorted(root.rglob("*.bin"))
    for p in files[:50]:
        with open(p, "ab") as f:
            f.write(b"edited\n")
    for p in files[50:80]:
        p.unlink()
    for p in files[80:100]:
        p.rename(p.with_suffix(".moved"))
    (root / "new").mkdir()
    for i in range(30):
        (root / "new" / f"n{i}").write_bytes(os.urandom(4096))
    os.chmod(files[100], 0o600)


def state(root: Path) -> dict:
    return {k: (v.type, v.mode, v.size, v.target) for k, v in scan(root).items() if not k.startswith(".git/") and k != ".git"}


def goex_restore(root: Path, snap: Path) -> None:
    """Make ``root`` equal to ``snap`` again with goex's diff + safe writes."""
    changes = diff(snap, scan(snap), root, scan(root))  # from snapshot to now; apply the reverse
    safe = SafeRoot(root)
    for c in sorted(changes, key=lambda c: -c["path"].count("/")):
        if c["before"] is None:  # created since the snapshot
            p = root / c["path"]
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                safe.remove(c["path"])
    for c in sorted(changes, key=lambda c: c["path"].count("/")):
        b = c["before"]
        if b is None:
            continue
        if b["type"] == "d":
            safe.make_dir(c["path"], b["mode"])
        elif b["type"] == "f":
            safe.write_file(c["path"], snap / c["path"], b["mode"], b["mtime_ns"])


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=3500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="goex-bench-") as tmp:
        base = Path(tmp) / "tree"
        base.mkdir()
        make_tree(base, args.mb, args.files)
        original = state(base)
        for rep in range(args.repeat):
            # goex
            snap = Path(tmp) / f"snap{rep}"
            t0 = time.perf_counter()
            copy_tree(base, snap)
            t1 = time.perf_counter()
            mutate(base)
            t2 = time.perf_counter()
            goex_restore(base, snap)
            t3 = time.perf_counter()
            ok_goex = state(base) == original
            shutil.rmtree(snap)
            # git, on the same tree
            shutil.rmtree(base / ".git", ignore_errors=True)
            t4 = time.perf_counter()
            git(base, "init", "-q")
            git(base, "add", "-A")
            git(base, "commit", "-q", "-m", "snapshot")
            t5 = time.perf_counter()
            mutate(base)
            t6 = time.perf_counter()
            git(base, "reset", "-q", "--hard")
            git(base, "clean", "-q", "-fdx")
            t7 = time.perf_counter()
            ok_git = state(base) == original
            shutil.rmtree(base / ".git")
            rows.append({"rep": rep, "goex_snapshot_s": t1 - t0, "goex_restore_s": t3 - t2, "goex_exact": ok_goex,
                         "git_snapshot_s": t5 - t4, "git_restore_s": t7 - t6, "git_exact": ok_git})
            os.chmod(next(iter(sorted(base.rglob("*.bin")))), 0o644)  # git does not restore modes other than x
    best = {k: min(r[k] for r in rows) for k in rows[0] if k.endswith("_s")}
    goex_total = best["goex_snapshot_s"] + best["goex_restore_s"]
    git_total = best["git_snapshot_s"] + best["git_restore_s"]
    result = {"mb": args.mb, "files": args.files, "runs": rows, "best": best, "goex_total_s": goex_total,
              "git_total_s": git_total, "speedup": git_total / goex_total,
              "goex_exact": all(r["goex_exact"] for r in rows), "git_exact": all(r["git_exact"] for r in rows)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    t = Table(title=f"snapshot + restore, {args.mb} MB / {args.files} files (best of {args.repeat})")
    for c in ("method", "snapshot s", "restore s", "total s", "restored exactly"):
        t.add_column(c)
    t.add_row("goex staged copy", f"{best['goex_snapshot_s']:.3f}", f"{best['goex_restore_s']:.3f}", f"{goex_total:.3f}",
              str(result["goex_exact"]))
    t.add_row("git add+commit / reset+clean", f"{best['git_snapshot_s']:.3f}", f"{best['git_restore_s']:.3f}",
              f"{git_total:.3f}", str(result["git_exact"]))
    Console().print(t)
    Console().print(f"speed-up: {result['speedup']:.1f}x (target >= 4x)")


if __name__ == "__main__":
    main()
