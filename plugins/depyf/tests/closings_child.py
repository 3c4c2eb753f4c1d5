"""Run inside CPython 3.12 or 3.13 by ``test_closings.py``: round-trips the constructs of
``closings.closed_loop_bodies`` (a ``for`` loop's body ending in ``if c: ...``, whose threaded test
3.12+ leave out of the exception table) and ``closings.folded_tests`` (3.13: a folded constant test's
jump left out of the table), and the sources given on stdin (a JSON list), through the decompiler of
that interpreter, each judged by its results on fixed inputs; prints one JSON line. It imports only
the plugin's source (on PYTHONPATH), never the kernel.

    python3.13 closings_child.py [mutation] < sources.json"""

from __future__ import annotations

import json
import sys

from skyplex_depyf.corpus import outcome_of
from skyplex_depyf.decompiler import decompile

INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3), (0, 3), (2, 0)]


def _def(*lines: str) -> str:
    return "def f(a, b):\n" + "".join(f"    {line}\n" for line in lines)


#: a loop body ending in ``if c: <exit>`` where the code around is covered (a generator, a try body)
THREADED = {
    "break_ending_generator_loop": _def(
        "z = 0", "for i in range(4):", "    z += i", "    if z > a:", "        break", "yield z"),
    "and_break_ending_generator_loop": _def(
        "z = 0", "for i in range(5):", "    z += 1", "    if a and z > b:", "        break", "yield z"),
    "elif_return_ending_generator_loop": _def(
        "z = 0", "for i in range(4):", "    z += i", "    if z > a:", "        break", "    elif b > z:",
        "        return", "yield z"),
    "break_ending_loop_in_try_body": _def(
        "z = 0", "try:", "    for j in range(5):", "        z += a // (b + j)", "        if z > 3:",
        "            break", "    z = -z", "except ZeroDivisionError:", "    z = 9", "return z"),
    # the last arm falls into the loop's closing back-jump: the threaded test is sent to that one
    "elif_ending_generator_loop": _def(
        "z = 0", "for i in range(4):", "    if a > i:", "        pass", "    elif b:", "        z += i", "yield z"),
    "elif_yield_from_ending_generator_loop": _def(
        "z = 0", "for i in range(3):", "    if a > i:", "        pass", "    elif b:",
        "        yield from range(i)", "yield z"),
    "yielding_break_ending_generator_loop": _def(
        "z = 0", "for i in range(3):", "    z = (yield z) or i", "    if b:", "        break", "yield a"),
}

#: a folded constant test (3.13 leaves its jump out of the table; 3.12 reads them as they are)
FOLDED = {
    "folded_if_ending_elif_arm": _def(
        "x = 0", "if a > 1:", "    pass", "elif b:", "    if not 6 + 1:", "        pass", "else:",
        "    x = a", "yield (a, b, x)"),
    "folded_if_ending_loop_body": _def(
        "z = 0", "for i in range(3):", "    z += i", "    if not 6:", "        z = 7", "yield z"),
    "folded_or_in_conditional_value": _def(
        "z = (5 or b) if a else 2", "yield z"),
}

#: shapes the rules must leave as they are: a continue written in the source (its jump covered), a
#: comprehension's filter, an empty arm ending the body (the test lands on the closing back-jump), a
#: continue in the middle of a body
KEPT = {
    "continue_then_break_ending_generator_loop": _def(
        "z = 0", "for i in range(4):", "    z += i", "    if z < a:", "        continue", "    break", "yield z"),
    "filter_in_generator": _def("yield [i for i in range(b) if a > i]"),
    "pass_arm_ending_generator_loop": _def(
        "z = 0", "for j in range(3):", "    z += j", "    if a:", "        pass", "yield z"),
    "continue_in_middle_of_generator_loop": _def(
        "z = 0", "for i in range(4):", "    if a > i:", "        continue", "    z += i", "    if z > b:",
        "        break", "yield z"),
}

CONSTRUCTS = {**THREADED, **FOLDED, **KEPT}


def judge(source: str) -> str:
    """'ok', 'refused: <why>' or 'wrong: <how>' for the function ``f`` in ``source``."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    original = namespace["f"]
    result = decompile(original)
    if not result.ok:
        return f"refused: {result.refusal}"
    rebuilt: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}"
    problem = outcome_of(original, INPUTS)(rebuilt["f"])
    return f"wrong: {problem}" if problem else "ok"


def mutate(name: str) -> None:
    """Break one rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import closings

    if name == "covered":  # a hop the table covers (a continue written in the source) read as threaded
        closings.UNCOVERED = False
    elif name == "early":  # the tests sent to the arm's last instruction, not to the closing back-jump
        closings.EARLY = True
    elif name == "fold_anywhere":  # a folded test put before every jump, the table's gap or not
        closings.FOLD_ANYWHERE = True
    elif name == "off":  # neither rule: what each construct needs them for
        closings.closed_loop_bodies = lambda code, instrs, entries: (instrs, entries)
        closings.folded_tests = lambda code, instrs, entries: instrs
        from skyplex_depyf import versions

        versions.closed_loop_bodies, versions.folded_tests = closings.closed_loop_bodies, closings.folded_tests
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
