"""Run inside CPython 3.12 or 3.13 by ``test_loops312.py``: round-trips the constructs of the
flow rules for 3.12+ streams (``tails.share_clause_exits`` keeping apart the exits of two
``except`` clauses; ``flow.while_ending_loop_body`` reading a break threaded to the enclosing loop's head), and the sources given on stdin (a JSON list), through the decompiler of that
interpreter, each judged by its results on fixed inputs, and prints one JSON line. It imports only
the plugin's source (on PYTHONPATH), never the kernel.

    python3.13 loops312_child.py [mutation] < sources.json"""

from __future__ import annotations

import json
import sys

from skyplex_depyf.corpus import outcome_of
from skyplex_depyf.decompiler import decompile

INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3), (0, 3), (2, 0)]

CONSTRUCTS = {
    # a try in the else clause of a try ending a loop's body: both except clauses go back to the
    # loop's head, each with its own exit (3.12 and 3.13 as 3.11); the two must not be shared
    "try_in_else_clause_ending_loop": (
        "def f(a, b):\n    z = 1\n    for i in range(3):\n        try:\n            if a:\n"
        "                z += 1\n        except ZeroDivisionError:\n            pass\n        else:\n"
        "            try:\n                z *= a // b\n            except ZeroDivisionError:\n"
        "                pass\n    return z\n"),
    # the same with the clauses naming their exception and doing work
    "named_try_in_else_clause_ending_loop": (
        "def f(a, b):\n    z = 1\n    for i in range(4):\n        try:\n            z += a // (b - i)\n"
        "        except ZeroDivisionError as err:\n            z -= 1\n        else:\n            try:\n"
        "                z *= b // a\n            except ZeroDivisionError as err:\n                z += 7\n"
        "    return z\n"),
    # an except clause holding a try whose body ends the clause: the inner body's exit and the inner
    # handler's are the one exit of the outer clause (3.13 copies it), as in 3.11
    "loop_break_in_named_except_clause": (
        "def f(a, b):\n    k = 0\n    try:\n        k += a // b\n    except (ZeroDivisionError, TypeError) as err:\n"
        "        for j in range(3):\n            if j > a:\n                break\n            k += 1\n    return k\n"),
    # a while loop ending a for loop's body: 3.12+ thread its exits (the top test's and a break's)
    # straight to the for loop's head; 3.11 sends them to the for loop's back-jump after the loop
    "break_in_while_ending_for_body": (
        "def f(a, b):\n    z = 0\n    for j in range(3):\n        z += j\n        while a > z:\n"
        "            if b > a:\n                break\n            z += 2\n    return z\n"),
    "break_after_work_in_while_ending_for_body": (
        "def f(a, b):\n    z = 0\n    for j in range(4):\n        while a > z:\n            z += 1\n"
        "            if z == b:\n                z += 5\n                break\n    return z\n"),
    "break_in_while_ending_while_body": (
        "def f(a, b):\n    z = 0\n    k = 0\n    while k < 3:\n        k += 1\n        while z < a:\n"
        "            z += 1\n            if z > b:\n                break\n    return z + k\n"),
}

#: read only because a jump to the enclosing loop's head is the inner while loop's break
THREADED = ["break_in_while_ending_for_body", "break_after_work_in_while_ending_for_body"]


def judge(source: str) -> str:
    """'ok', 'refused: <why>' or 'wrong: <how>' for the function ``f`` (or ``generated``) in ``source``."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    name = "f" if "f" in namespace else "generated"
    original = namespace[name]
    result = decompile(original)
    if not result.ok:
        return f"refused: {result.refusal}"
    rebuilt: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}"
    problem = outcome_of(original, INPUTS)(rebuilt[name])
    return f"wrong: {problem}" if problem else "ok"


def mutate(name: str) -> None:
    """Break one rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import tails

    if name == "clause_any":  # every exit taken for one clause's: two try statements' exits shared
        tails._clause = lambda stream, entries, position, offset: 0
    elif name == "threaded_continue":  # the while loop's threaded break read as its continue
        from skyplex_depyf import flow

        flow.THREADED_EXIT = "continue"
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    given = json.loads(sys.stdin.read() or "[]")
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: judge(source) for name, source in CONSTRUCTS.items()},
              "given": [judge(source) for source in given]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
