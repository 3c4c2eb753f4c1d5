"""Run inside CPython 3.11, 3.12 or 3.13 by ``test_empty_arms.py``: round-trips the constructs of the
empty-arm rule (``empty_arms.py``: ``else: pass`` written where 3.12 and 3.13 kept an empty ``else``
arm) and the sources given on stdin (a JSON list) through the decompiler of that interpreter, each
judged by its results on fixed inputs, and prints one JSON line (outcomes and the sources written).
It imports only the plugin's source (on PYTHONPATH), never the kernel.

    python3.13 empty_arms_child.py [mutation] < sources.json"""

from __future__ import annotations

import json
import sys

from skyplex_depyf.corpus import outcome_of
from skyplex_depyf.decompiler import decompile

INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3), (0, 3), (2, 0)]


def _def(*lines: str) -> str:
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


CONSTRUCTS = {
    # the empty else arm ending an ``except ... as`` clause: 3.13 keeps the clause's exit twice
    "named_clause": _def("try:", "    z = a // b", "except ZeroDivisionError as err:", "    if a:",
                         "        z = 5", "    else:", "        pass"),
    # the same in a clause without a name (3.12 and 3.13)
    "clause": _def("try:", "    z = a // b", "except ZeroDivisionError:", "    if a:", "        z = 5",
                   "    else:", "        pass"),
    # ending a for loop's body: the back-jump is kept twice
    "loop_body": _def("for i in range(3):", "    if a > i:", "        z += 1", "    else:", "        pass"),
    # before the function's return
    "before_return": _def("if a:", "    z = 2", "else:", "    pass"),
    # two empty arms in one function, one of them nested
    "two_arms": _def("for i in range(3):", "    if a > i:", "        z += 1", "        if b:",
                     "            z *= 2", "        else:", "            pass", "    else:", "        pass"),
    # the loop's if with its empty arm kept, the one before the return without: only the first is
    # written with ``else: pass`` (the second reading tries fewer arms than all)
    "one_of_two": _def("for i in range(3):", "    if a > i:", "        z += 1", "    else:", "        pass",
                       "if b:", "    z = 2"),
    # controls: the same places without an else arm, which must be written without one
    "named_clause_no_else": _def("try:", "    z = a // b", "except ZeroDivisionError as err:", "    if a:",
                                 "        z = 5"),
    "loop_body_no_else": _def("for i in range(3):", "    if a > i:", "        z += 1"),
    "before_return_no_else": _def("if a:", "    z = 2"),
    # a try statement's else clause after except clauses that all leave (return, raise): 3.12 and 3.13
    # emit the clause's handler after those of the statements in the else clause
    "else_try": _def("try:", "    z = a // b", "except ZeroDivisionError as err:", "    return 0", "else:",
                     "    try:", "        z = 10 // a", "    except ZeroDivisionError:", "        z = 3"),
    "else_try_raise": _def("try:", "    z = a // b", "except ZeroDivisionError:", "    raise ValueError(a)",
                           "else:", "    try:", "        z = 10 // a", "    except ZeroDivisionError:", "        z = 3"),
    # the clause's exit is the function's end, copied into the handler
    "else_try_end": ("def f(a, b):\n    z = 1\n    try:\n        z = a // b\n    except ZeroDivisionError as err:\n"
                     "        pass\n    else:\n        try:\n            z = 10 // a\n        except ZeroDivisionError:\n"
                     "            z = 3\n"),
    # the function's end left implicit after an if statement: 3.12 and 3.13 copy the short end into an
    # arm; written out, ``return None`` is a line of its own and the end one block
    "implicit_if_else": "def f(a, b):\n    if a:\n        b = 1\n    else:\n        b = 2\n    a = b\n",
    "implicit_pass_elif": "def f(a, b):\n    if a:\n        pass\n    elif b:\n        a = 4\n    b = a\n",
    "implicit_ternary": ("def f(a, b):\n    z = 1\n    if a:\n        pass\n    else:\n        z = 2 if b else 3\n"
                         "    y = a\n"),
    # control: the same with ``return None`` written out
    "explicit_if_else": "def f(a, b):\n    if a:\n        b = 1\n    else:\n        b = 2\n    a = b\n    return None\n",
    # control: the same statements after the try, not in its else clause
    "after_try": _def("try:", "    z = a // b", "except ZeroDivisionError as err:", "    return 0", "try:",
                      "    z = 10 // a", "except ZeroDivisionError:", "    z = 3"),
}

#: the constructs whose original has an empty ``else`` arm
WITH_ELSE = ["named_clause", "clause", "loop_body", "before_return", "two_arms", "one_of_two"]
#: the constructs whose try statement has an else clause after clauses that all leave
ELSE_CLAUSES = ["else_try", "else_try_raise", "else_try_end"]
#: the constructs whose function ends in an implicit ``return None`` after an if statement
IMPLICIT_ENDS = ["implicit_if_else", "implicit_pass_elif", "implicit_ternary"]


def judge(source: str) -> tuple[str, str | None]:
    """('ok' | 'refused: <why>' | 'wrong: <how>', the source written) for the function ``f``."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    original = namespace["f"]
    result = decompile(original)
    if not result.ok:
        return f"refused: {result.refusal}", None
    rebuilt: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}", result.source
    problem = outcome_of(original, INPUTS)(rebuilt["f"])
    return (f"wrong: {problem}" if problem else "ok"), result.source


def marks(source: str) -> int:
    """How many places of ``f``'s bytecode show an empty arm kept on its own."""
    from skyplex_depyf.empty_arms import empty_arm_marks

    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    return empty_arm_marks(namespace["f"].__code__)


def mutate(name: str) -> None:
    """Break the rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import decompiler, empty_arms

    if name == "never":  # no second reading: every empty arm dropped
        decompiler.second_reading = lambda code, attempt: None
        decompiler.last_readings = lambda attempt: None
    elif name == "always":  # every if without an else written with ``else: pass``, on every version
        empty_arms._READING.set(empty_arms._Reading(None))
        empty_arms.restart = lambda: None
        decompiler.restart = lambda: None
        decompiler.second_reading = lambda code, attempt: None
    elif name == "first_only":  # the second reading tries every arm at once, never fewer
        empty_arms.LIMIT = 1
    elif name == "clauses_never":  # no else clause after a try whose clauses leave
        search = empty_arms._search
        empty_arms._search = lambda var, marks, attempt: (
            None if var is empty_arms._CLAUSES else search(var, marks, attempt))
    elif name == "implicit_never":  # the function's final ``return None`` always written out
        decompiler.implicit_end = lambda: False
    elif name == "implicit_always":  # ... never written, on every version
        empty_arms._IMPLICIT.set(True)
        decompiler.last_readings = lambda attempt: None
    elif name == "clauses_always":  # every such try takes the code after it as its else clause
        empty_arms._CLAUSES.set(empty_arms._Reading(None))
        empty_arms.restart = lambda: None
        decompiler.restart = lambda: None
        decompiler.second_reading = lambda code, attempt: None
        decompiler.last_readings = lambda attempt: None
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    given = json.loads(sys.stdin.read() or "[]")
    constructs = {name: judge(source) for name, source in CONSTRUCTS.items()}
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: o for name, (o, _) in constructs.items()},
              "written": {name: text for name, (_, text) in constructs.items()},
              "marks": {name: marks(source) for name, source in CONSTRUCTS.items()},
              "given": [judge(source)[0] for source in given]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
