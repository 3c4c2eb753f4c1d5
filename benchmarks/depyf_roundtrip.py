"""Round-trip correctness of skyplex-depyf's decompiler against depyf 0.20.0, in the same run.

Two corpora, each function given to both decompilers in turn (interleaved):

* generated: random well-formed functions from the grammar in ``skyplex_depyf.corpus`` (seeded;
  assignments, if/elif/else, for/while with break/continue, comprehensions, try/except/else/finally,
  with); judged by behaviour: the decompiled source is compiled, run on fixed inputs and its results
  (values or exception types) compared with the original's.
* generators: the same grammar with yield, yield from and sent values; judged by what they yield.
* match: random match statements (literal, singleton, capture, wildcard, or, sequence, mapping, class
  and ``as`` patterns, guards, ``case _``), drawn until ``--matches`` compile; judged by behaviour
  on subjects of every shape.
* stdlib: every plain function of a few stdlib modules; their inputs are unknown, so the judge is
  bytecode: the recompiled code must have identical raw bytecode and referents.

Outcomes: ``ok``; ``refused`` (ours: a refusal with a listing; depyf: an exception); ``no-compile``
(source that does not compile); ``wrong`` (compiles, behaves differently: silently wrong, generated
corpus only); ``unproven`` (stdlib: compiles, but the bytecode differs, so neither right nor wrong
is shown).

    .venv/bin/python benchmarks/depyf_roundtrip.py [--generated 300] [--generators 100] [--matches 100] [--seed 0]
        [--failures] [--no-baseline] [--corpora generated,generators,match,stdlib]

``--failures`` also lists this decompiler's refusals grouped by the first construct that stopped it
(instruction and reason, numbers masked), largest group first, with the smallest example of each.

Prints a table and writes benchmarks/results/depyf_roundtrip.json.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from skyplex_depyf.corpus import (INPUTS, MATCH_INPUTS, gen_function, gen_generator, gen_match, outcome_of,
                                  stdlib_functions)
from skyplex_depyf.decompiler import compile_like, decompile, find_code

RESULTS = Path(__file__).resolve().parent / "results" / "depyf_roundtrip.json"


class _Timeout(BaseException):
    """Raised by the timer; a BaseException so that ``except Exception`` inside a decompiler does not
    swallow it (and re-armed each second in case a broader handler does)."""


def _with_timeout(fn: Callable[[], Any], seconds: int = 5) -> Any:
    """``fn()``, given up after ``seconds`` of this process's CPU time (not wall time: on a shared,
    loaded machine a wall-clock limit turned slow but finishing reads into refusals)."""
    def expired(*_: Any) -> None:
        signal.setitimer(signal.ITIMER_PROF, 1)  # a swallowed timeout fires again until the call gives up
        raise _Timeout()

    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


FAILURES: Counter = Counter()
EXAMPLES: dict[tuple[str, str], str] = {}
CURRENT = ["", ""]  # the corpus and the source (or name) of the function being judged


def ours(fn: Any) -> str | None:
    result = decompile(fn)
    if result.refusal:
        import re

        key = re.sub(r"\d+", "N", result.refusal)[:100]
        corpus, example = CURRENT[0], CURRENT[1]
        FAILURES[(corpus, key)] += 1
        if (corpus, key) not in EXAMPLES or len(example) < len(EXAMPLES[(corpus, key)]):
            EXAMPLES[(corpus, key)] = example
    return result.source


def theirs(fn: Any) -> str | None:
    import depyf

    return depyf.decompile(fn)


def judge_generated(source_of: Callable, original: Any, name: str, inputs: list = INPUTS) -> str:
    try:
        source = _with_timeout(lambda: source_of(original))
    except BaseException as exc:  # depyf raising (or hanging) counts as a refusal
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "refused"
    if source is None:
        return "refused"
    namespace: dict = {}
    try:
        exec(compile(source, "<decompiled>", "exec", dont_inherit=True), namespace)
        rebuilt = namespace[name]
    except Exception:
        return "no-compile"
    try:
        problem = _with_timeout(lambda: outcome_of(original, inputs)(rebuilt))
    except _Timeout:
        problem = "timeout"
    return "wrong" if problem else "ok"


def judge_stdlib(source_of: Callable, fn: Any) -> str:
    from skyplex_depyf.corpus import _raw_difference

    try:
        source = _with_timeout(lambda: source_of(fn))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "refused"
    if source is None:
        return "refused"
    try:
        module = compile_like(fn.__code__, source)
    except Exception:
        return "no-compile"
    rebuilt = find_code(module, fn.__code__.co_name)
    if rebuilt is None or _raw_difference(fn.__code__, rebuilt):
        return "unproven"
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=300)
    parser.add_argument("--generators", type=int, default=100)
    parser.add_argument("--matches", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", action="store_true", help="list refusals grouped by first failing construct")
    parser.add_argument("--no-baseline", action="store_true", help="skip depyf 0.20.0 (ours only, to save time)")
    parser.add_argument("--corpora", default="generated,generators,match,stdlib",
                        help="comma-separated corpora to run (default: all four)")
    args = parser.parse_args()
    chosen = set(args.corpora.split(","))
    unknown = chosen - {"generated", "generators", "match", "stdlib"}
    if unknown:
        parser.error(f"unknown corpus {sorted(unknown)}: choose from generated, generators, match, stdlib")
    try:
        if args.no_baseline:
            raise ImportError
        import depyf
        baseline = f"depyf {depyf.__version__}"
    except ImportError:
        depyf = None
        baseline = None
        if not args.no_baseline:
            print("depyf is not installed (pip install 'plugins/depyf[bench]'): reporting ours only", file=sys.stderr)

    tools: dict[str, Callable] = {"skyplex-depyf": ours}
    if depyf is not None:
        tools[baseline] = theirs
    counts: dict[str, dict[str, Counter]] = {c: {t: Counter() for t in tools}
                                             for c in ("generated", "generators", "match", "stdlib") if c in chosen}
    seconds: dict[str, float] = {t: 0.0 for t in tools}

    rng = random.Random(args.seed)
    for corpus, make, n in (("generated", gen_function, args.generated), ("generators", gen_generator, args.generators)):
        for _ in range(n):
            source = make(lambda lo, hi: rng.randint(lo, hi))
            if corpus not in chosen:  # still drawn, so the other corpora see the same random stream
                continue
            namespace: dict = {}
            exec(compile(source, "<generated>", "exec", dont_inherit=True), namespace)
            CURRENT[:] = [corpus, source]
            for tool, source_of in tools.items():  # interleaved: each function to every tool in turn
                start = time.perf_counter()
                counts[corpus][tool][judge_generated(source_of, namespace["generated"], "generated")] += 1
                seconds[tool] += time.perf_counter() - start
    made = 0
    while made < args.matches:  # drawn until enough compile: some draws are not valid Python
        source = gen_match(lambda lo, hi: rng.randint(lo, hi))
        namespace = {}
        try:
            exec(compile(source, "<generated>", "exec", dont_inherit=True), namespace)
        except SyntaxError:
            continue
        made += 1
        if "match" not in chosen:
            break  # the last corpus drawn from the stream: nothing after it depends on it
        CURRENT[:] = ["match", source]
        for tool, source_of in tools.items():
            start = time.perf_counter()
            counts["match"][tool][judge_generated(source_of, namespace["generated"], "generated", MATCH_INPUTS)] += 1
            seconds[tool] += time.perf_counter() - start
    for stdlib_name, fn in (stdlib_functions() if "stdlib" in chosen else ()):
        CURRENT[:] = ["stdlib", stdlib_name]
        for tool, source_of in tools.items():
            start = time.perf_counter()
            counts["stdlib"][tool][judge_stdlib(source_of, fn)] += 1
            seconds[tool] += time.perf_counter() - start

    rows = []
    print(f"{'corpus':<10} {'decompiler':<14} {'n':>5} {'ok':>5} {'rate':>7} {'refused':>8} {'no-compile':>11} "
          f"{'wrong':>6} {'unproven':>9}")
    for corpus, per_tool in counts.items():
        for tool, c in per_tool.items():
            n = sum(c.values())
            row = {"corpus": corpus, "decompiler": tool, "n": n, **{k: c.get(k, 0) for k in
                   ("ok", "refused", "no-compile", "wrong", "unproven")}, "rate": c["ok"] / n if n else 0.0}
            rows.append(row)
            print(f"{corpus:<10} {tool:<14} {n:>5} {row['ok']:>5} {row['rate']:>7.1%} {row['refused']:>8} "
                  f"{row['no-compile']:>11} {row['wrong']:>6} {row['unproven']:>9}")
    ratios = {}
    if baseline:
        for corpus in counts:
            a = next(r for r in rows if r["corpus"] == corpus and r["decompiler"] == "skyplex-depyf")
            b = next(r for r in rows if r["corpus"] == corpus and r["decompiler"] == baseline)
            ratios[corpus] = a["rate"] / b["rate"] if b["rate"] else None
            print(f"{corpus}: skyplex-depyf / {baseline} round-trip rate = "
                  + (f"{ratios[corpus]:.2f}x" if ratios[corpus] else "n/a (baseline 0)"))
    if args.failures:
        print("\nrefusals of skyplex-depyf by first failing construct (count, corpus, reason):")
        for (corpus, key), n in FAILURES.most_common():
            print(f"{n:>5}  {corpus:<10} {key}")
            if corpus != "stdlib" and n >= 3:
                print("       smallest example:\n" + "".join(f"         {line}\n" for line in
                                                          EXAMPLES[(corpus, key)].splitlines()))
    print("time spent per decompiler (s): " + ", ".join(f"{t} {s:.1f}" for t, s in seconds.items()))
    if args.no_baseline or len(chosen) < 4:
        print(f"partial run (baseline or corpora skipped): {RESULTS} left as it was")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"python": sys.version.split()[0], "generated": args.generated,
                                   "generators": args.generators, "matches": args.matches, "seed": args.seed,
                                   "baseline": baseline, "rows": rows, "ratio_vs_baseline": ratios,
                                   "seconds": seconds}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
