"""Re-grade the official O1-Mini / O1-Preview code on LiveCodeBench release_v1's public tests.

Per problem the sandboxed grader's verdict is compared with the official one (graded on public AND
hidden tests: an official pass must pass here; an official fail may pass the public tests), and every
disagreement is listed with the grader's reason. Throughput is measured against three in-process
graders built the benchmark's way (one forked process per problem, the code exec'd with a mocked
stdin and a captured stdout), interleaved in the same run: "wall", the benchmark's grader as it is (a
6 s wall alarm per test); "joined", the same with only its thread defect fixed (it waits for the
program's non-daemon threads before reading the captured output, so programs that print from a
thread are run to the end and graded right instead of failing at once, as the sandbox does); and
"cpu", the wall grader with a 6 s CPU-time alarm instead (ITIMER_PROF), which spends what the sandbox
spends on a program that runs into the limit (the wall alarm gives up sooner on a loaded machine, and
fails slow correct programs). The problems whose pass/fail differs between the graders are listed.
The ratio is reported on all problems and, in a second interleaved pass, on the problems that no
grader stopped at its time limit (``--rest-pass``). Timing is ``--repeats`` rounds of the four
graders, the order flipped each round; the table gives the medians of the times and of the
per-round ratios. Optionally the sandboxed grading is repeated with a CPU-burning process alongside
and verdict changes are counted.

    .venv/bin/python benchmarks/livecodebench_regrade.py [--models O1-Mini] [--limit N] [--repeats 5]
        [--stability-runs 3] [--rest-pass] [--skip QID ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

from skyplex_livecodebench.batch import grade_many
from skyplex_livecodebench.compare import compare_stdout, compare_value
from skyplex_livecodebench.problems import load_problems
from skyplex_livecodebench.scores import load_official

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "livecodebench"
OUT = ROOT / "benchmarks" / "results" / "livecodebench_regrade.json"
PREAMBLE = ("from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
            "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\n"
            "from statistics import *\nfrom itertools import *\nfrom functools import *\nfrom operator import *\n"
            "from io import *\nfrom sys import *\nfrom json import *\nfrom builtins import *\nfrom typing import *\n"
            "import string, re, datetime, collections, heapq, bisect, copy, math, random, statistics, itertools, "
            "functools, operator, io, sys, json\nsys.setrecursionlimit(50000)\n")


class _Alarm(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


#: the in-process graders: (alarm clock, whether the program's threads are joined before its output
#: is read). "wall" is the benchmark's grader as it is; "joined" the same with only its thread defect
#: fixed (output printed from a thread the program started is kept, not lost); "cpu" a CPU-time alarm
INPROCESS = {"wall": ("wall", False), "joined": ("wall", True), "cpu": ("cpu", False)}


def inprocess_grade(job: tuple) -> str:
    """The benchmark's way, unsandboxed: exec in this (fresh) process, mocked stdin, an alarm per test
    (``clock`` "wall": the benchmark's 6 s wall alarm; "cpu": 6 s of this process's CPU time). With
    ``join`` the program's own non-daemon threads are joined (under the same alarm) before its captured
    output is read, which the benchmark does not do. Returns "pass", "fail" or "timeout"."""
    result = _inprocess_grade(job)
    if job[5] and any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # a thread still running after a timeout: this pool worker, which has already sent its result
        # when it ends, would otherwise wait for that thread forever at its exit
        threading._register_atexit(os._exit, 0)
    return result


def _inprocess_grade(job: tuple) -> str:
    code, func_name, inputs, outputs, clock, join = job
    sys.set_int_max_str_digits(0)
    if join:
        # a new thread is a daemon when the thread starting it is one, and a pool worker that replaced
        # another was forked from the pool's daemon handler thread: make this thread what a program's
        # main thread is (not a daemon), so the program's threads are daemons exactly when it says so
        threading.current_thread()._daemonic = False
    timer, sig = (signal.ITIMER_REAL, signal.SIGALRM) if clock == "wall" else (signal.ITIMER_PROF, signal.SIGPROF)
    signal.signal(sig, _on_alarm)

    def arm(seconds: float) -> None:
        signal.setitimer(timer, seconds)

    try:
        return "pass" if _inprocess_tests(code, func_name, inputs, outputs, arm, join) else "fail"
    except _Alarm:
        arm(0)
        return "timeout"
    except BaseException:
        arm(0)
        return "fail"


def _join_program_threads(before: set) -> None:
    """Wait for the threads the program started (not daemons: the interpreter would not wait for those)."""
    while True:
        left = [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]
        if not left:
            return
        for t in left:
            t.join()


def _inprocess_tests(code, func_name, inputs, outputs, arm, join=False) -> bool:
    """Every test in order, stopping at the first failure; ``arm(s)`` sets the per-test alarm."""
    if func_name:
        g: dict = {"__name__": "tmp_sol"}
        exec(PREAMBLE + "\n" + code, g)
        method = getattr(g["Solution"](), func_name) if "class Solution" in code else g[func_name]
        for inp, out in zip(inputs, outputs):
            args = [json.loads(x) for x in inp.split("\n")]
            arm(6)
            got = method(*args)
            arm(0)
            if not compare_value(got, json.loads(out)):
                return False
        return True
    compiled = compile(PREAMBLE + "\n" + code, "sol", "exec")
    for inp, out in zip(inputs, outputs):
        buf = io.StringIO()
        old_in = sys.stdin
        sys.stdin = io.StringIO(inp)
        before = set(threading.enumerate())
        try:
            arm(6)
            with contextlib.redirect_stdout(buf):
                try:
                    exec(compiled, {"__name__": "__main__"})
                except SystemExit:
                    pass
                if join:  # the output (and stdin) a thread uses stays redirected until it has ended
                    _join_program_threads(before)
            arm(0)
        finally:
            sys.stdin = old_in
        if not compare_stdout(buf.getvalue(), out)[0]:
            return False
    return True


def explain(problem, detail: dict) -> str:
    """Why the official grading failed a program that passes the public tests here."""
    msg = detail.get("error_message") or detail.get("error") or "?"
    failing = detail.get("inputs")
    public = [t.input for t in problem.public_tests]
    if failing is None:
        return f"official: {msg} (no failing input recorded)"
    on_public = any(str(failing).strip()[:120] == (t if isinstance(t, str) else json.dumps(t)).strip()[:120]
                    or str(failing)[:60] in t for t in public)
    where = "on a PUBLIC test" if on_public else "on a hidden test (not in the public set)"
    return f"official: {msg} {where}"


def run_inprocess(tasks, grader: str = "wall") -> tuple[list[str], float]:
    """Grade ``tasks`` with the in-process grader named in :data:`INPROCESS`; (results, seconds)."""
    clock, join = INPROCESS[grader]
    jobs = [(c or "", p.func_name, [t.input for t in p.public_tests], [t.output for t in p.public_tests], clock, join)
            for p, c in tasks]
    start = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2, maxtasksperchild=1) as pool:  # a fresh process per problem, as the benchmark does
        out = pool.map(inprocess_grade, jobs, chunksize=1)
    return out, time.perf_counter() - start


def run_sandboxed(tasks):
    start = time.perf_counter()
    verdicts = grade_many(tasks, workers=2)
    return verdicts, time.perf_counter() - start


def burner() -> multiprocessing.Process:
    def spin():
        x = 0
        while True:
            x += 1
    proc = multiprocessing.get_context("fork").Process(target=spin, daemon=True)
    proc.start()
    return proc


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def timed_rounds(tasks, repeats: int) -> dict:
    """``repeats`` rounds of the four graders, interleaved (the order flips each round, so a load that
    drifts favours none); per round the sandboxed time over each in-process one, then the medians."""
    rounds = []
    for r in range(repeats):
        order = ["sandbox", "wall", "joined", "cpu"]
        if r % 2:
            order.reverse()
        row: dict = {"load_before": os.getloadavg()[0]}
        for name in order:
            if name == "sandbox":
                row["sandbox_verdicts"], row["sandbox_s"] = run_sandboxed(tasks)
            else:
                row[f"{name}_results"], row[f"{name}_s"] = run_inprocess(tasks, name)
        row["load_after"] = os.getloadavg()[0]
        for name in INPROCESS:
            row[f"ratio_{name}"] = row["sandbox_s"] / row[f"{name}_s"]
        rounds.append(row)
        print(f"  round {r + 1}: sandboxed {row['sandbox_s']:.1f} s; in-process: wall alarm {row['wall_s']:.1f} s, "
              f"threads joined {row['joined_s']:.1f} s, CPU alarm {row['cpu_s']:.1f} s: {row['ratio_wall']:.2f}x / "
              f"{row['ratio_joined']:.2f}x / {row['ratio_cpu']:.2f}x "
              f"(load {row['load_before']:.1f} -> {row['load_after']:.1f})", flush=True)
    keys = ["sandbox_s"] + [f"{n}_s" for n in INPROCESS] + [f"ratio_{n}" for n in INPROCESS]
    return {"rounds": rounds, **{f"median_{k}": median([r[k] for r in rounds]) for k in keys}}


def verdict_differences(tasks, sand, results: dict[str, list[str]]) -> list[dict]:
    """The problems on which the sandboxed grader and the in-process ones do not all agree on pass."""
    out = []
    for i, ((p, code), v) in enumerate(zip(tasks, sand)):
        row = {name: res[i] for name, res in results.items()}
        if len({v.passed} | {x == "pass" for x in row.values()}) > 1:
            out.append({"question_id": p.question_id, "sandbox": v.status, "sandbox_cpu_s": round(v.cpu_s, 2), **row,
                        "threaded": "Thread(" in (code or "")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["O1-Mini", "O1-Preview"])
    ap.add_argument("--limit", type=int, default=0, help="only the first N problems (0: all 400)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds per model (medians reported)")
    ap.add_argument("--stability-runs", type=int, default=3)
    ap.add_argument("--rest-pass", action="store_true",
                    help="also time the graders without the problems any grader stopped at its time limit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-process graders (stability only)")
    ap.add_argument("--skip", nargs="*", default=[], metavar="QID",
                    help="leave these problems out (say the programs that run to the CPU limit, to time the rest)")
    args = ap.parse_args()
    problems = load_problems(DATA / "lcb_release_v1_public_tests.jsonl")
    if args.limit:
        problems = problems[: args.limit]
    problems = [p for p in problems if p.question_id not in set(args.skip)]
    report: dict = {"problems": len(problems), "cpus": os.cpu_count(), "load_at_start": list(os.getloadavg()),
                    "models": {}}
    for model in args.models:
        official = load_official(DATA / f"submissions_{model}-2024-09-12_N1_codegeneration_eval_all.json")
        tasks = [(p, official[p.question_id].codes[0]) for p in problems]
        print(f"\n{model}: {len(problems)} problems, public tests", flush=True)
        if args.no_baseline:
            sand, t_sand = run_sandboxed(tasks)
            timing = {"rounds": [], "median_sandbox_s": t_sand}
            base1, base_join, base_cpu = (["fail"] * len(tasks) for _ in range(3))
        else:
            timing = timed_rounds(tasks, max(1, args.repeats))
            first = timing["rounds"][0]
            sand, base1, base_join, base_cpu = (first["sandbox_verdicts"], first["wall_results"],
                                                first["joined_results"], first["cpu_results"])
            for later in timing["rounds"][1:]:  # the timing rounds double as a stability check without load
                timing.setdefault("verdict_changes_between_rounds", 0)
                timing["verdict_changes_between_rounds"] += sum(
                    x.status != y.status for x, y in zip(sand, later["sandbox_verdicts"]))
        off = [all(official[p.question_id].graded) for p in problems]
        disagreements = []
        for (p, _), v, o, b in zip(tasks, sand, off, base1):
            if v.passed != o:
                detail = (official[p.question_id].details or [{}])[0]
                disagreements.append({"question_id": p.question_id, "official": "pass" if o else "fail",
                                      "sandbox": v.status, "sandbox_cpu_s": round(v.cpu_s, 3), "inprocess": b,
                                      "reason": v.message[:300] or explain(p, detail), "official_detail": detail})
        row = {"sandbox_passed": sum(v.passed for v in sand), "official_passed": sum(off),
               "inprocess_passed": base1.count("pass"), "inprocess_joined_passed": base_join.count("pass"),
               "inprocess_cpu_alarm_passed": base_cpu.count("pass"),
               "verdict_differences": [] if args.no_baseline else verdict_differences(
                   tasks, sand, {"wall": base1, "joined": base_join, "cpu": base_cpu}),
               "official_pass_sandbox_fail": sum(1 for d in disagreements if d["official"] == "pass"),
               "official_fail_sandbox_pass": sum(1 for d in disagreements if d["official"] == "fail"),
               "timing": {k: v for k, v in timing.items() if k != "rounds"},
               "rounds": [{k: v for k, v in r.items() if not k.endswith(("_verdicts", "_results"))}
                          for r in timing["rounds"]],
               "disagreements": disagreements,
               "statuses": {s: sum(v.status == s for v in sand) for s in sorted({v.status for v in sand})},
               # programs run to the CPU limit: on a loaded machine each costs far more wall time than the
               # in-process grader's wall alarm, which is the price of load-independent verdicts
               "cpu_limited": [{"question_id": v.question_id, "status": v.status, "cpu_s": round(v.cpu_s, 2)}
                               for v in sand if v.status == "TLE" or v.cpu_s >= 2.0],
               # what the sandbox runs that the wall-alarm grader skips: programs it fails at once (output
               # printed from a thread is lost in-process) but that run to the end here
               "sandbox_cpu_s_where_inprocess_failed_fast": round(sum(
                   v.cpu_s for v, b in zip(sand, base1) if b == "fail" and v.status in ("AC", "TLE")), 2),
               "sandbox_cpu_s": round(sum(v.cpu_s for v in sand), 2),
               "load_average": list(os.getloadavg())}
        limited = {v.question_id for v, b, j, c in zip(sand, base1, base_join, base_cpu)
                   if v.status == "TLE" or "timeout" in (b, j, c)}
        if limited and args.rest_pass and not args.no_baseline:
            rest = [t for t in tasks if t[0].question_id not in limited]
            _, r_base = run_inprocess(rest, "wall")
            _, r_sand = run_sandboxed(rest)
            _, r_cpu = run_inprocess(rest, "cpu")
            row["without_time_limited"] = {"left_out": sorted(limited), "problems": len(rest), "sandbox_s": r_sand,
                                           "inprocess_s": r_base, "inprocess_cpu_alarm_s": r_cpu,
                                           "ratio": r_sand / r_base, "ratio_cpu_alarm": r_sand / r_cpu,
                                           "load_average": list(os.getloadavg())}
        if args.stability_runs:
            changes, times, changed = 0, [], []
            b = burner()
            try:
                for _ in range(args.stability_runs):
                    again, t = run_sandboxed(tasks)
                    times.append(t)
                    changes += sum(x.status != y.status for x, y in zip(sand, again))
                    changed += [{"question_id": x.question_id, "first": x.status, "again": y.status,
                                 "first_cpu_s": x.cpu_s, "again_cpu_s": y.cpu_s, "message": y.message[:200]}
                                for x, y in zip(sand, again) if x.status != y.status]
            finally:
                b.kill()
            row["stability"] = {"runs": args.stability_runs, "verdict_changes": changes, "times_s": times,
                                "changed": changed, "load_average": list(os.getloadavg())}
        report["models"][model] = row
        t = row["timing"]
        print(f"{'grader':<24}{'passed':>8}{'median s':>10}{'median ratio':>14}")
        print(f"{'official (pub+hidden)':<24}{sum(off):>8}")
        if not args.no_baseline:
            print(f"{'':<26}{'':>8}{'':>10}   sandboxed / this (median of the per-round ratios)")
            print(f"{'in-process, wall alarm':<26}{base1.count('pass'):>8}{t['median_wall_s']:>10.1f}"
                  f"{t['median_ratio_wall']:>12.2f}x   (the benchmark's grader)")
            print(f"{'in-process, threads joined':<26}{base_join.count('pass'):>8}{t['median_joined_s']:>10.1f}"
                  f"{t['median_ratio_joined']:>12.2f}x   (the same, output printed from threads kept)")
            print(f"{'in-process, CPU alarm':<26}{base_cpu.count('pass'):>8}{t['median_cpu_s']:>10.1f}"
                  f"{t['median_ratio_cpu']:>12.2f}x")
            print(f"{'sandboxed':<26}{row['sandbox_passed']:>8}{t['median_sandbox_s']:>10.1f}")
            print(f"problems whose pass/fail differs between the graders (sandbox, wall, joined, CPU): "
                  f"{len(row['verdict_differences'])}")
            for d in row["verdict_differences"]:
                print(f"  {d['question_id']:<10} sandbox={d['sandbox']:<4} wall={d['wall']:<8} joined={d['joined']:<8} "
                      f"cpu={d['cpu']:<8} sandbox cpu {d['sandbox_cpu_s']:.2f} s{'  (prints from a thread)' if d['threaded'] else ''}")
            print(f"verdict changes between the {len(timing['rounds'])} timing rounds: "
                  f"{t.get('verdict_changes_between_rounds', 0)}")
        print(f"sandbox CPU time of the programs {row['sandbox_cpu_s']:.1f} s, of which "
              f"{row['sandbox_cpu_s_where_inprocess_failed_fast']:.1f} s on programs the wall-alarm grader failed at once")
        if "without_time_limited" in row:
            w = row["without_time_limited"]
            print(f"without the {len(w['left_out'])} problems a grader stopped at its limit ({' '.join(w['left_out'])}): "
                  f"sandboxed {w['sandbox_s']:.1f} s, in-process {w['inprocess_s']:.1f} s (wall alarm) / "
                  f"{w['inprocess_cpu_alarm_s']:.1f} s (CPU alarm): {w['ratio']:.2f}x / {w['ratio_cpu_alarm']:.2f}x")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}; programs at or near the CPU limit: "
              + (", ".join(f"{c['question_id']} {c['status']} {c['cpu_s']:.1f} s" for c in row["cpu_limited"]) or "none"))
        if "stability" in row:
            print(f"stability with a CPU burner: {row['stability']['verdict_changes']} verdict changes in "
                  f"{args.stability_runs} runs ({', '.join(f'{t:.1f}' for t in row['stability']['times_s'])} s)")
            for c in row["stability"]["changed"]:
                print(f"  changed: {c['question_id']} {c['first']} ({c['first_cpu_s']:.2f} s CPU) -> {c['again']} "
                      f"({c['again_cpu_s']:.2f} s CPU) {c['message'][:90]}")
        print("disagreements with the official verdicts:")
        for d in disagreements:
            print(f"  {d['question_id']:<10} official={d['official']:<5} sandbox={d['sandbox']:<8} "
                  f"in-process={d['inprocess']:<5} cpu={d['sandbox_cpu_s']:.2f}s  {d['reason'][:100]}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
