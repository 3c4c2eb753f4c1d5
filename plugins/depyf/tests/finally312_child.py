"""Run inside CPython 3.12 or 3.13 by ``test_finally312.py``: round-trips the constructs of the
``finally`` handler and ``JUMP_BACKWARD_NO_INTERRUPT`` rules, and the sources given on stdin (a JSON
list), through the decompiler of that interpreter, each judged by its results on fixed inputs, and
prints one JSON line. It imports only the plugin's source (on PYTHONPATH), never the kernel.

    python3.13 finally312_child.py [mutation] < sources.json"""

from __future__ import annotations

import dis
import json
import sys

from skyplex_depyf.corpus import outcome_of
from skyplex_depyf.decompiler import decompile

INPUTS = [(0, 0), (1, 2), (-3, 5), (7, -1), (4, 4), (10, 3), (0, 3), (2, 0)]

CONSTRUCTS = {
    # an except clause that returns keeps the try in place: 3.12+ puts the finally handler before
    # the normal path's copy of the body, which the test leaving the copy jumps past
    "finally_if_return_after_returning_except": (
        "def f(a, b):\n    y = 1\n    try:\n        y += 9\n    except ZeroDivisionError as err:\n"
        "        if 4:\n            return 7\n    finally:\n        if a:\n            return y\n"
        "    return (a, b, y)\n"),
    # the same with a body the division can leave, an except clause that always returns and a finally
    # body that returns only on a test, falling into the code after the statement otherwise
    "finally_test_return_after_returning_except": (
        "def f(a, b):\n    y = 1\n    try:\n        y += a // b\n    except ZeroDivisionError:\n"
        "        return 7\n    finally:\n        y -= 1\n        if b:\n            return y\n"
        "    return (a, b, y)\n"),
    # the same ending a loop's body: the normal copy's test goes back to the loop's head
    "finally_if_return_ending_loop_body": (
        "def f(a, b):\n    z = 1\n    for j in range(5):\n        try:\n            z *= a // b\n"
        "        except ZeroDivisionError as err:\n            pass\n        finally:\n            if a:\n"
        "                return z\n    return z\n"),
    # a try/finally ending an except clause: 3.12+ runs the normal copy into the clause's exit and
    # puts the inner handler after that exit
    "try_finally_ending_except_clause": (
        "def f(a, b):\n    z = 0\n    try:\n        z += a // b\n    except ZeroDivisionError:\n"
        "        try:\n            z = 1 // a\n        finally:\n            z += 2\n    return z\n"),
    # the same with the clause naming its exception, after a try/finally in the try's body (3.12
    # reads it without the rule; 3.13 lays the except clause's exit out the same way)
    "nested_try_finally_ending_named_except_clause": (
        "def f(a, b):\n    y = 0\n    try:\n        try:\n            y = y + a // b\n        finally:\n"
        "            y += 1\n    except (ZeroDivisionError, TypeError) as err:\n        try:\n"
        "            y -= 1\n        finally:\n            y *= 2\n    return y\n"),
    # an empty finally body around an except clause holding a try/finally: the normal copy is the
    # line's NOP, after the handler; 3.11 had the jump over the handler there
    "empty_finally_around_try_finally_in_except": (
        "def f(a, b):\n    x = 0\n    y = 1\n    try:\n        x = y * 2\n    except ZeroDivisionError:\n"
        "        try:\n            y += a // b\n        finally:\n            y += a // b\n    finally:\n"
        "        pass\n    return (a, b, x, y)\n"),
    # a finally body that returns after an except clause: the handler's copy ends in the return, not
    # a re-raise, and the normal copy ends the code
    "finally_returning_after_except": (
        "def f(a, b):\n    try:\n        b = a // b\n    except ZeroDivisionError:\n        pass\n"
        "    finally:\n        return (a, b)\n"),
    # a finally body returning a conditional expression on a test: the handler's arm jumps to the one
    # return, the normal copy (3.12+) returns in that arm
    "finally_returns_conditional_expression": (
        "def f(a, b):\n    try:\n        b = a // b\n    except ZeroDivisionError as err:\n        b = 2\n"
        "    finally:\n        if a % 3:\n            return (4 if b > 1 else a)\n    return (a, b)\n"),
    # a break out of a loop in an except clause naming its exception: 3.13 copies the clause's exit
    # into the break
    "break_out_of_loop_in_named_except_clause": (
        "def f(a, b):\n    k = 0\n    try:\n        k += a // b\n    except (ZeroDivisionError, TypeError) as err:\n"
        "        while k < 2:\n            if a:\n                break\n            k += 1\n    return k\n"),
    # both arms of an if in such a clause leave it, one through a return
    "if_arms_leaving_named_except_clause": (
        "def f(a, b):\n    y = 0\n    try:\n        y = a // b\n    except ZeroDivisionError as err:\n"
        "        if a > 3:\n            y = 1\n        elif b:\n            return 5\n    return y\n"),
    # a try nested in a finally body: 3.13 leaves its except clause backwards, without interrupt
    "try_in_finally_body": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n        try:\n"
        "            x = 1 // a\n        except ZeroDivisionError:\n            x = 2\n    return x\n"),
    # a with in an except clause and a loop: more handlers leaving backwards
    "with_in_except_in_loop": (
        "def f(a, b):\n    import contextlib\n    t = 0\n    for i in range(3):\n        try:\n"
        "            t += a // (b - i)\n        except ZeroDivisionError as err:\n"
        "            with contextlib.nullcontext(i) as v:\n                t += v\n    return t\n"),
    # a finally body holding a try statement and code after it: 3.12+ copies that code (and the
    # handler's RERAISE 0) into the end of the inner try body and of each clause
    "try_except_then_code_in_finally": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a + 1\n    finally:\n        try:\n"
        "            x = x // b\n        except ZeroDivisionError:\n            x = 7\n        b = 2\n"
        "    return (x, b)\n"),
    "try_named_except_then_code_in_finally": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a + 1\n    finally:\n        try:\n"
        "            x = x // b\n        except (ZeroDivisionError, TypeError) as err:\n            x = 7\n"
        "        b = 2\n    return (x, b)\n"),
    # and after an except clause of its own: the normal copy's tail is laid out after the handler
    "try_except_then_code_in_finally_after_except": (
        "def f(a, b):\n    y = 0\n    try:\n        y = 4 // a\n    except ZeroDivisionError:\n"
        "        pass\n    finally:\n        try:\n            y = 4 // b\n        except ZeroDivisionError:\n"
        "            pass\n        y -= 7\n    return y\n"),
    # a finally body that returns after a folded test's line: the handler keeps its own copy of the
    # return (3.11 copies it too), not a jump to the normal copy's
    "finally_folded_test_return": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n        if 3:\n"
        "            return 3\n"),
    "finally_folded_test_return_before_code": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n        if 3:\n"
        "            return 3\n    return (x, a)\n"),
    # the same after an except clause, whose jump to the normal copy keeps the test's line as
    # ``if True or 1: pass`` (jumps312.kept_folded_statements): the handler's copy is spelt alike
    "finally_folded_test_return_after_except": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    except ZeroDivisionError:\n"
        "        pass\n    finally:\n        if 3:\n            return x\n"),
    "finally_folded_test_return_constant_after_except": (
        "def f(a, b):\n    try:\n        y = a // b\n    except (ZeroDivisionError, TypeError):\n"
        "        pass\n    finally:\n        if 2 or 8:\n            return -2\n"),
    # a yield from keeps its own back-jump to SEND
    "yield_from_in_try": (
        "def f(a, b):\n    try:\n        yield from range(a % 3)\n    except ZeroDivisionError:\n"
        "        yield b\n    yield a\n"),
}

#: read because :func:`skyplex_depyf.finally_copies.finally_copy_end` finds the normal copy for
#: ``layout.relayout``; refused without it (the ``unwired`` setting below)
WIRED_CONSTRUCTS = {
    "try_except_then_returning_code_in_finally": (
        "def f(a, b):\n    y = 0\n    try:\n        y = a\n    finally:\n        try:\n"
        "            z = 4 // y\n        except ZeroDivisionError:\n            y = 3\n        y -= a\n"
        "    return y\n"),
    "try_named_except_then_longer_code_in_finally": (
        "def f(a, b):\n    x = 0\n    try:\n        x = a + 1\n    finally:\n        try:\n"
        "            x = x // b\n        except (ZeroDivisionError, TypeError) as err:\n            x = 7\n"
        "        b += x\n    return (x, b)\n"),
    "nested_try_finally_then_code_in_finally": (
        "def f(a, b):\n    y = 1\n    try:\n        y = a // b\n    finally:\n        try:\n"
        "            y += 2 // a\n        finally:\n            y -= 1\n        b = y * 3\n    return (y, b)\n"),
}


def unwire(broken: bool = False) -> None:
    """``layout._finally_copy`` without its fallback on :func:`finally_copies.finally_copy_end`
    (broken: the fallback kept, the end it finds one instruction early)."""
    from skyplex_depyf import finally_copies

    real_end = finally_copies.finally_copy_end

    def copy_end(group: list, entries: list, stream: list, at: int, cold_at: int):
        if not broken:
            return None
        found = real_end(group, entries, stream, at, cold_at)
        if found is not None:
            order = [ins.offset for ins in stream]
            found = order[max(order.index(found) - 1, at)]
        return found

    finally_copies.finally_copy_end = copy_end


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


def canonical_names(source: str) -> list[str]:
    """The canonical (3.11) operation names of ``f`` in ``source``, in order."""
    from skyplex_depyf import versions

    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    return [ins.opname for ins in versions.instructions(namespace["f"].__code__)]


def raw_names(source: str) -> list[str]:
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    return [ins.opname for ins in dis.get_instructions(namespace["f"].__code__)]


def mutate(name: str) -> None:
    """Break one rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import finally312, finally_tails, tails, versions

    if name == "finally_off":  # the rule left out: the handler stays where 3.12+ put it
        finally312._move_one = lambda stream, entries: None
    elif name == "exit_order":  # the handler put back after the except clause's first exit instruction
        real_tail = finally312._before_tail

        def broken_tail(stream: list, position: dict, h: int, c: int, expected: list):
            out = real_tail(stream, position, h, c, expected)
            if out is None:
                return None
            k = next(k for k, ins in enumerate(out) if ins.offset == stream[h].offset)
            pushed = out[k - 1:k]
            j = k + (c + 3 - h)
            return out[:k - 1] + out[k:j] + out[j:j + 1] + pushed + out[j + 1:]

        finally312._before_tail = broken_tail
    elif name == "finally_order":  # the handler put back before the normal copy's last instruction
        real_matched = finally312._matched

        def broken_matched(stream: list, n: int, expected: list, returns: list):
            at = real_matched(stream, n, expected, returns)
            return None if at is None else at[:-1] or at

        finally312._matched = broken_matched
    elif name == "return_target":  # an arm's copied return sent to the instruction before the shared one
        real_returns = finally312._shared_return_jumps

        def broken_returns(stream: list, position: dict, expected: list) -> list:
            return [None if r is None else r - 1 for r in real_returns(stream, position, expected)]

        finally312._shared_return_jumps = broken_returns
    elif name == "clause_exits_off":  # the rule left out: each copy of a clause's exit stays
        versions.share_clause_exits = lambda stream, entries: stream
    elif name == "clause_exits":  # each shared copy of a clause's exit sent to the copy's second instruction
        real_exits = tails.share_clause_exits

        def broken_exits(stream: list, entries: list) -> list:
            return [ins._replace(argval=ins.argval + 2) if ins.opname != old.opname and ins.opname == "JUMP_FORWARD"
                    else ins for ins, old in zip(real_exits(stream, entries), stream)]

        versions.share_clause_exits = broken_exits
    elif name == "back_jumps":  # each renamed back-jump sent one instruction past its target
        real_plain = tails.plain_back_jumps

        def broken_plain(stream: list) -> list:
            return [ins._replace(argval=ins.argval + 2) if ins.opname != old.opname else ins
                    for ins, old in zip(real_plain(stream), stream)]

        versions.plain_back_jumps = broken_plain
    elif name == "tails_off":  # the tail rules left out: the copies and 3.12+'s order stay
        finally_tails.share_finally_tails = lambda stream, entries: (stream, entries)
        finally312.share_finally_tails = finally_tails.share_finally_tails
    elif name == "tail_target":  # the shared tail put back one instruction short (the jumps go to its second)
        real_shared = finally_tails._shared

        def broken_shared(stream: list, entries: list, h: int, c: int):
            out = real_shared(stream, entries, h, c)
            if out is None:
                return None
            kept = {id(ins) for ins in stream}
            first = next(ins.argval for ins in out if id(ins) not in kept and ins.opname == "JUMP_FORWARD")
            at = next(k for k, ins in enumerate(out) if ins.offset == first)
            return [ins._replace(argval=out[at + 1].offset) if ins.argval == first and ins.opname == "JUMP_FORWARD"
                    else ins for ins in out[:at] + out[at + 1:]]

        finally_tails._shared = broken_shared
    elif name == "tail_first_off":  # the normal copy's tail left after the handler
        finally_tails._tail_first = lambda stream, entries: None
    elif name == "finally_returns_off":  # the handler's return stays shared with the normal copy's
        versions.kept_finally_returns = lambda before, after: after
    elif name == "finally_returns_short":  # only the copy's first instruction put back
        real_kept = finally312.kept_finally_returns

        def broken_kept(before: list, after: list) -> list:
            out = real_kept(before, after)
            return [new if new.opname == old.opname or k == 0 or out[k - 1].opname == after[k - 1].opname
                    else old for k, (new, old) in enumerate(zip(out, after))]

        versions.kept_finally_returns = broken_kept
    elif name == "folded_alike_off":  # the handler's copy of a kept folded statement left a NOP
        finally312._folded_alike = lambda stream, position, h, c, n, at, expected: stream[h:n]
    elif name == "kept_line_off":  # the normal copy's return line left a NOP
        finally312._kept_return_line = lambda stream, position, n, at: None
    elif name in ("unwired", "copy_end_broken"):
        unwire(broken=name == "copy_end_broken")
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    sources = json.loads(sys.stdin.read() or "[]")
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: judge(source) for name, source in CONSTRUCTS.items()},
              "given": [judge(source) for source in sources],
              "canonical": {name: canonical_names(source) for name, source in CONSTRUCTS.items()},
              "raw": {name: raw_names(source) for name, source in CONSTRUCTS.items()},
              "wired": {name: judge(source) for name, source in WIRED_CONSTRUCTS.items()}}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
