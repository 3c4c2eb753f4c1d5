"""Run inside CPython 3.12 or 3.13 by ``test_handlers312.py``: round-trips the constructs of the
handler-layout rules below, and the sources given on stdin (a JSON list), through the decompiler of
that interpreter, each judged by its results on fixed inputs, and prints one JSON line. It imports
only the plugin's source (on PYTHONPATH), never the kernel.

    python3.13 handlers312_child.py [mutation] < sources.json"""

from __future__ import annotations

import json
import sys

from finally312_child import judge

_WITH = "    with __import__('contextlib').nullcontext(b) as w:\n        a += 1\n"

#: rule -> {construct: source}; each construct is refused without its rule (on 3.12 and 3.13)
CONSTRUCTS = {
    # finally_copies._returning_copy_end: a finally body that always returns, after a handler that
    # goes back before it (a with, a try/except in a loop): its normal copy ends the normal code and
    # the finally handler stays right after it, so layout.relayout can place the other handlers
    "returning": {
        "with_then_finally_returning_value": (
            "def f(a, b):\n" + _WITH + "    try:\n        a = 1\n    finally:\n        return a + b\n"),
        "with_then_finally_folded_test_returning_constant": (
            "def f(a, b):\n" + _WITH + "    try:\n        y = a\n    finally:\n        if -2:\n"
            "            return not 3\n"),
        "with_then_finally_returning_on_both_arms": (
            "def f(a, b):\n" + _WITH + "    try:\n        a = a // b\n    finally:\n        if a:\n"
            "            return a\n        return b\n"),
        "with_then_finally_loop_then_return": (
            "def f(a, b):\n" + _WITH + "    try:\n        a = a // b\n    finally:\n        for i in range(2):\n"
            "            b += i\n        return (a, b)\n"),
        "with_in_loop_then_finally_returning": (
            "def f(a, b):\n    for i in range(3):\n        with __import__('contextlib').nullcontext(b) as w:\n"
            "            a += 1\n    try:\n        a = a // b\n    finally:\n        b += 1\n        return a\n"),
        "continue_in_except_then_finally_returning": (
            "def f(a, b):\n    for i in range(2):\n        try:\n            a = a // b\n"
            "        except ZeroDivisionError:\n            continue\n    try:\n        a = a // b\n"
            "    finally:\n        return a\n"),
        # (the with handler guarded by the finally handler too: only the normal code's range counts)
        "with_inside_try_finally_returning": (
            "def f(a, b):\n    try:\n        with __import__('contextlib').nullcontext(b):\n            a += 1\n"
            "    finally:\n        return a\n"),
    },
    # finally_copies._copy_with_returns_end: the same with a finally body that returns on a test only:
    # the handler goes right after the normal copy (3.11 copied a return ending the code before it)
    "returns_on_a_test": {
        "with_then_finally_returning_on_a_test": (
            "def f(a, b):\n" + _WITH + "    try:\n        x = a\n    finally:\n        if b:\n"
            "            return x\n"),
        "with_then_finally_returning_on_a_test_then_code": (
            "def f(a, b):\n" + _WITH + "    try:\n        x = a\n    finally:\n        if b:\n"
            "            return x\n        a += 2\n    b = 3\n    return (a, b)\n"),
        "with_in_loop_then_finally_returning_on_a_test": (
            "def f(a, b):\n    for i in range(3):\n        with __import__('contextlib').nullcontext(b) as w:\n"
            "            a += 1\n    try:\n        x = a // b\n    finally:\n        if a > 2:\n"
            "            return (x, a)\n    return b\n"),
        # (the return inside a loop drops the iterator in both copies)
        "with_then_loop_of_finally_returning_on_a_test": (
            "def f(a, b):\n" + _WITH + "    for i in range(3):\n        try:\n            x = a // (b - i)\n"
            "        finally:\n            if a > 4:\n                return x + i\n        a += 2\n    return a\n"),
        "with_in_loop_before_finally_returning_on_a_test": (
            "def f(a, b):\n    for i in range(3):\n        with __import__('contextlib').nullcontext(b) as w:\n"
            "            a += 1\n        try:\n            x = a // (b - i)\n        finally:\n            if a > 4:\n"
            "                return x + i\n    return a\n"),
    },
    # finally_copies._nested_ends: a try body ending in try statements of its own, the finally body's
    # normal copy starting where the nested except clause goes back to
    "nested_ends": {
        "try_finally_then_try_except_in_try_finally": (
            "def f(a, b):\n    y = 0\n    try:\n        try:\n            y = a // b\n        finally:\n"
            "            b = 2\n        try:\n            y = a\n        except ZeroDivisionError:\n            pass\n"
            "    finally:\n        b = 3\n    return (y, b)\n"),
        "try_finally_then_try_named_except_in_try_finally_returning": (
            "def f(a, b):\n    y = 0\n    try:\n        try:\n            y = a // b\n        finally:\n"
            "            b = 2\n        try:\n            y = a // (b - 2)\n        except ZeroDivisionError as err:\n"
            "            pass\n    finally:\n        return y\n"),
    },
    # finally_copies._past_arm_end_nop: the line NOP 3.12+ keeps at the end of an if arm ending the
    # normal copy of a finally body holding a try: the handler goes after it
    "arm_end_nop": {
        "try_finally_then_if_else_in_finally": (
            "def f(a, b):\n    x = 0\n    try:\n        x = a\n    finally:\n        try:\n            y = b\n"
            "        finally:\n            x ^= a\n        if a:\n            b = 1\n        else:\n            y = 2\n"
            "    return (x, b)\n"),
    },
    # finally_landings.except_groups_before_copies: a try/except/finally ending an if arm, its finally
    # body returning under a folded test
    "except_before_copy": {
        "if_arm_try_except_finally_folded_return": (
            "def f(a, b):\n    if a:\n        try:\n            y = a // b\n        except ZeroDivisionError:\n"
            "            y = 2\n        finally:\n            if 3:\n                return y\n    return 4\n"),
        "if_arm_try_except_finally_folded_return_constant": (
            "def f(a, b):\n    if a:\n        try:\n            y = a\n        except (ZeroDivisionError, TypeError):\n"
            "            pass\n        finally:\n            if 3:\n                return -2\n"),
        "if_else_arm_try_named_except_finally_folded_return": (
            "def f(a, b):\n    y = 0\n    if a > b:\n        y = 1\n    elif a:\n        try:\n            y = b // a\n"
            "        except ZeroDivisionError as err:\n            y = 5\n        finally:\n            if 2 or 8:\n"
            "                return (y, a)\n    return y\n"),
        # (the try body's loop exits to the copy)
        "if_arm_try_loop_except_finally_folded_return": (
            "def f(a, b):\n    if a:\n        try:\n            k = 0\n            while k < a:\n                k += 1\n"
            "        except ZeroDivisionError as err:\n            pass\n        finally:\n            if 7:\n"
            "                return a and -3\n    return b\n"),
    },
    # finally312._same: a yield in a finally body, whose argument (and the RESUME's after it, 3.13)
    # differs between the handler's copy and the normal copy
    "yield_in_finally": {
        "finally_yielding_then_returning_after_except": (
            "def f(a, b):\n    z = 0\n    try:\n        z = a // b\n    except (ZeroDivisionError, TypeError):\n"
            "        pass\n    finally:\n        yield z\n        return not a\n"),
        "finally_yield_expression_after_except_holding_try": (
            "def f(a, b):\n    y = 1\n    try:\n        yield a\n    except ZeroDivisionError:\n        try:\n"
            "            y = a // b\n        except TypeError:\n            pass\n        finally:\n            a = 2\n"
            "    finally:\n        y = (yield (y & b)) or y\n"),
    },
}

#: constructs read on one version only (the other refuses them for another rule)
READ_ON = {"with_in_loop_before_finally_returning_on_a_test": [3, 13],
           "try_finally_then_if_else_in_finally": [3, 13]}


def mutate(name: str) -> None:
    """Break one rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import finally312, finally_copies, finally_landings

    if name == "nested_ends_off":
        finally_copies._nested_ends = lambda stream, entries, at, cold_at: []
        return
    if name == "nested_ends_early":  # each end found one instruction early
        real_ends = finally_copies._nested_ends
        finally_copies._nested_ends = lambda stream, entries, at, cold_at: [
            k - 1 for k in real_ends(stream, entries, at, cold_at)]
        return
    if name == "arm_nop_off":  # the handler put before the arm's NOP
        finally_copies._past_arm_end_nop = lambda stream, at, k, cold_at: k
        return
    if name == "arm_nop_early":  # the handler put before the copy's last instruction
        finally_copies._past_arm_end_nop = lambda stream, at, k, cold_at: k - 1
        return
    if name == "yield_args_strict":  # the copies compared with the yields' arguments
        finally312._same = lambda mine, other: (
            mine.opname.replace("BACKWARD", "FORWARD") == other.opname.replace("BACKWARD", "FORWARD")
            if finally312.is_jump(mine) and finally312.is_jump(other)
            else mine.opname == other.opname and mine.argval == other.argval)
        return
    if name == "yield_args_any":  # any argument accepted, a constant's too
        finally312._same = lambda mine, other: mine.opname.replace("BACKWARD", "FORWARD") == other.opname.replace(
            "BACKWARD", "FORWARD")
        return
    if name == "landings_off":
        finally312.except_groups_before_copies = lambda stream, entries: (stream, entries)
        return
    if name == "landings_except_only":  # the except group moved, the finally handler left after the copy
        real_moved = finally_landings._moved

        def except_only(stream: list, entries: list, position: dict, h: int):
            out = real_moved(stream, entries, position, h)
            if out is None:
                return None
            c = position[next(e.target for e in entries if e.start <= stream[h].offset < e.end)]
            final = stream[c + 3:finally_landings.handler_cleanup(stream, entries, position, c + 3) + 3]
            ids = {id(x) for x in final}
            rest = [x for x in out if id(x) not in ids]
            at = next(k for k, x in enumerate(rest) if x is stream[h - 1]) + 1
            return rest[:at] + final + rest[at:]

        finally_landings._moved = except_only
        return
    if name == "landings_hop_past":  # the body's new jump sent past the copy's first instruction
        real_moved = finally_landings._moved

        def hop_past(stream: list, entries: list, position: dict, h: int):
            out = real_moved(stream, entries, position, h)
            if out is None:
                return None
            known = {x.offset for x in stream}
            k = next(k for k, x in enumerate(out) if x.offset not in known)
            target = position[out[k].argval]
            return out[:k] + [out[k]._replace(argval=stream[target + 1].offset)] + out[k + 1:]

        finally_landings._moved = hop_past
        return
    rules = {"returning": "_returning_copy_end", "with_returns": "_copy_with_returns_end"}
    rule, _, how = name.rpartition("_")
    if rule in rules and how == "off":  # the rule left out: no place found for the finally handler
        setattr(finally_copies, rules[rule], lambda group, stream, at, cold_at: None)
    elif rule in rules and how == "early":  # the handler placed before the normal copy's last instruction
        real = getattr(finally_copies, rules[rule])

        def early(group: list, stream: list, at: int, cold_at: int):
            found = real(group, stream, at, cold_at)
            if found is None:
                return None
            order = [ins.offset for ins in stream]
            return order[order.index(found) - 1]

        setattr(finally_copies, rules[rule], early)
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    sources = json.loads(sys.stdin.read() or "[]")
    report = {"python": list(sys.version_info[:2]), "read_on": READ_ON,
              "constructs": {rule: {name: judge(source) for name, source in cases.items()}
                             for rule, cases in CONSTRUCTS.items()},
              "given": [judge(source) for source in sources]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
