"""Round-trip rate of skyplex-depyf's decompiler under each installed CPython (3.10 to 3.13).

The decompiler reads the bytecode of the interpreter it runs in, so each version is measured by
running the corpus in a subprocess under that interpreter, with the plugin's source on PYTHONPATH
(the decompiler imports neither torch nor the kernel). The corpus and the judges are those of
``benchmarks/depyf_roundtrip.py``: generated functions and generators run on fixed inputs and
compared with the original's results, and every function of the stdlib modules (each interpreter's
own stdlib) recompiled to identical raw bytecode. The running interpreter's row (3.11, the
rules' own version) is the reference each other version is compared with, as a ratio.

    python benchmarks/depyf_versions.py [--seed 0] [--generated 300] [--generators 100]
        [--python PATH ...] [--failures] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

from skyplex_depyf import interpreters

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "plugins" / "depyf" / "src"
RESULTS = ROOT / "benchmarks" / "results" / "depyf_versions.json"
OUTCOMES = ("ok", "refused", "no-compile", "wrong", "unproven")


def worker(seed: int, generated: int, generators: int, stdlib: bool) -> dict:
    """Run the corpus in this interpreter; the counts per corpus and the refusals by reason."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import depyf_roundtrip as bench
    from skyplex_depyf.corpus import gen_function, gen_generator, stdlib_functions

    counts: dict[str, Counter] = {"generated": Counter(), "generators": Counter(), "stdlib": Counter()}
    rng = random.Random(seed)
    for corpus, make, n in (("generated", gen_function, generated), ("generators", gen_generator, generators)):
        for _ in range(n):
            source = make(lambda lo, hi: rng.randint(lo, hi))
            namespace: dict = {}
            exec(compile(source, "<generated>", "exec", dont_inherit=True), namespace)
            bench.CURRENT[:] = [corpus, source]
            counts[corpus][bench.judge_generated(bench.ours, namespace["generated"], "generated")] += 1
    if stdlib:
        for name, fn in stdlib_functions():
            bench.CURRENT[:] = ["stdlib", name]
            counts["stdlib"][bench.judge_stdlib(bench.ours, fn)] += 1
    failures = [[corpus, key, n] for (corpus, key), n in bench.FAILURES.most_common(15)]
    return {"python": sys.version.split()[0], "counts": {c: dict(v) for c, v in counts.items() if v},
            "failures": failures}


def run_under(path: str, args: argparse.Namespace) -> dict:
    command = [str(Path(__file__).resolve()), "--worker", "--seed", str(args.seed),
               "--generated", str(args.generated), "--generators", str(args.generators)]
    if args.no_stdlib:
        command.append("--no-stdlib")
    done = interpreters.run(path, command, timeout=3600, package_root=SOURCE)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generated", type=int, default=300)
    parser.add_argument("--generators", type=int, default=100)
    parser.add_argument("--no-stdlib", action="store_true", help="generated corpora only")
    parser.add_argument("--python", action="append", default=[], metavar="PATH",
                        help="an interpreter to measure (repeatable; default: every CPython 3.10-3.13 found)")
    parser.add_argument("--failures", action="store_true", help="list each version's largest refusal groups")
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="FILE",
                        help=f"where to write the JSON results (default: {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.seed, args.generated, args.generators, not args.no_stdlib)))
        return
    if args.python:
        targets = {f"{Path(p).name}": p for p in args.python}
    else:
        targets = interpreters.installed()
    results = {label: run_under(path, args) for label, path in targets.items()}
    reference = next((r for r in results.values() if r.get("python", "").startswith("3.11.")), None)
    print(f"{'python':<8} {'corpus':<10} {'n':>5} {'ok':>5} {'rate':>7} {'refused':>8} {'no-compile':>11} "
          f"{'wrong':>6} {'unproven':>9} {'vs 3.11':>8}")
    rows = []
    for label, result in results.items():
        if "error" in result:
            print(f"{label:<8} failed: {result['error']}")
            continue
        for corpus, c in result["counts"].items():
            n = sum(c.values())
            rate = c.get("ok", 0) / n if n else 0.0
            ref = (reference or {}).get("counts", {}).get(corpus)
            ref_rate = ref.get("ok", 0) / sum(ref.values()) if ref else 0.0
            ratio = f"{rate / ref_rate:.2f}x" if ref_rate else "n/a"
            rows.append({"python": result["python"], "corpus": corpus, "n": n, "rate": rate,
                         **{k: c.get(k, 0) for k in OUTCOMES}, "ratio_vs_311": rate / ref_rate if ref_rate else None})
            print(f"{result['python']:<8} {corpus:<10} {n:>5} {c.get('ok', 0):>5} {rate:>7.1%} "
                  f"{c.get('refused', 0):>8} {c.get('no-compile', 0):>11} {c.get('wrong', 0):>6} "
                  f"{c.get('unproven', 0):>9} {ratio:>8}")
    if args.failures:
        for label, result in results.items():
            print(f"\nlargest refusal groups under {result.get('python', label)}:")
            for corpus, key, n in result.get("failures", []):
                print(f"{n:>5}  {corpus:<10} {key}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "generated": args.generated, "generators": args.generators,
                                   "stdlib": not args.no_stdlib, "rows": rows,
                                   "failures": {r.get("python", k): r.get("failures") for k, r in results.items()}},
                                  indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
