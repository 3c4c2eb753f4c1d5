"""Run inside CPython 3.11, 3.12 or 3.13 by ``test_reraise_arms.py``: round-trips the constructs of
``reraise_arms.py`` (a ``finally`` body ``if c: pass`` whose other arm branches: the ``RERAISE``
3.12+ copy into the empty arm read as 3.11's jump to the handler's own) and the sources given on
stdin (a JSON list) through the decompiler of that interpreter, each judged by its results on fixed
inputs, and prints one JSON line. It imports only the plugin's source (on PYTHONPATH).

    python3.13 reraise_arms_child.py [mutation] < sources.json"""

from __future__ import annotations

import json
import sys

from skyplex_depyf.corpus import outcome_of
from skyplex_depyf.decompiler import decompile

INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3), (0, 3), (2, 0)]


def _def(*lines: str) -> str:
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


_TRY = ["try:", "    z = 10 // a"]
CONSTRUCTS = {
    # the other arm holds a conditional expression: its jump to the store lies between the copy and
    # the handler's own RERAISE
    "else_ternary": _def(*_TRY, "finally:", "    if b:", "        pass", "    else:", "        z = 4 if a > 1 else 5"),
    # the other arm returns (``SWAP; POP_EXCEPT; RETURN_VALUE``, the last two outside the table)
    "elif_return": _def(*_TRY, "finally:", "    if b:", "        pass", "    elif a > 2:", "        return z + 1"),
    # an except clause with a name before the finally clause, a nested conditional expression
    "named_clause_ternary": _def(*_TRY, "except ZeroDivisionError as err:", "    pass", "finally:", "    if b:",
                                 "        pass", "    else:", "        z = 4 if (a if b else z) else 5"),
    # control: nothing branches in the other arm (``tails.share_reraises`` reads it)
    "else_plain": _def(*_TRY, "finally:", "    if b:", "        pass", "    else:", "        z = 3"),
}
#: the constructs the rule is for
NEEDED = ["else_ternary", "elif_return", "named_clause_ternary"]


def judge(source: str) -> str:
    """'ok' | 'refused: <why>' | 'wrong: <how>' for the function ``f``."""
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
    """Break the rule on purpose: what comes out must never be wrong, only refused more often."""
    from skyplex_depyf import reraise_arms, versions
    from skyplex_depyf.streams import forward_jump

    if name == "off":  # the copies stay
        versions.share_arm_reraises = lambda stream, entries: stream
    elif name == "to_cleanup":  # a copy sent to the clean-up's re-raise (``COPY 3; POP_EXCEPT; RERAISE 1``)
        def to_cleanup(stream: list, entries: list) -> list:
            out = list(stream)
            for p, ins in enumerate(stream):
                if ins.opname == "RERAISE" and ins.arg == 0 and p + 1 < len(stream):
                    q = next((k for k in range(p + 1, len(stream)) if stream[k].opname == "RERAISE"
                              and stream[k].arg == 1), None)
                    if q is not None:
                        out[p] = forward_jump(ins, stream[q].offset)
            return out
        versions.share_arm_reraises = to_cleanup
    elif name == "anywhere":  # every inner RERAISE sent to the next one, whatever stands between
        def anywhere(stream: list, entries: list) -> list:
            out = list(stream)
            for p, ins in enumerate(stream):
                q = next((k for k in range(p + 1, len(stream)) if stream[k].opname == "RERAISE"), None)
                if ins.opname == "RERAISE" and q is not None:
                    out[p] = forward_jump(ins, stream[q].offset)
            return out
        versions.share_arm_reraises = anywhere
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")
    assert reraise_arms.share_arm_reraises is not None


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    given = json.loads(sys.stdin.read() or "[]")
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: judge(source) for name, source in CONSTRUCTS.items()},
              "given": [judge(source) for source in given]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
