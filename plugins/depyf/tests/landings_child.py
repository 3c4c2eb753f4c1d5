"""Run inside CPython 3.12 or 3.13 by ``test_handler_landings.py``: judges each function source given as
a JSON list on stdin (round-tripped through the decompiler of this interpreter, then run on fixed
inputs), with one rule of :mod:`skyplex_depyf.landings` (or another named below) broken on purpose,
and prints one JSON line. Names it does not know go to ``versions_child.py``'s mutations. It imports
only the plugin's source (on PYTHONPATH) and its sibling ``versions_child.py``, never the kernel."""

from __future__ import annotations

import json
import sys
from itertools import pairwise
from typing import Any

from versions_child import judge
from versions_child import mutate as mutate_versions

# the shapes the rules read, each refused before them on 3.12 or 3.13
CONSTRUCTS = {
    "with_break_in_loop": (
        "def f(a, b):\n"
        "    import contextlib\n"
        "    x = 0\n"
        "    for i in range(a % 5):\n"
        "        with contextlib.nullcontext(i) as w:\n"
        "            if w > b:\n"
        "                break\n"
        "            x += w\n"
        "    return x\n"),
    "try_in_loop_ending_try": (
        "def f(a, b):\n"
        "    x = [a]\n"
        "    try:\n"
        "        for i in range(a % 4):\n"
        "            try:\n"
        "                x[0] += b // i\n"
        "            except ZeroDivisionError as err:\n"
        "                pass\n"
        "    except TypeError:\n"
        "        pass\n"),
    "try_in_loop_try_else": (
        "def f(a, b):\n"
        "    z = 0\n"
        "    try:\n"
        "        for i in range(a % 4):\n"
        "            try:\n"
        "                z += b // i\n"
        "            except ZeroDivisionError as err:\n"
        "                pass\n"
        "    except TypeError:\n"
        "        pass\n"
        "    else:\n"
        "        z += 1\n"
        "    return z\n"),
    "try_in_loop_in_else_clause": (
        "def f(a, b):\n"
        "    y = 1\n"
        "    try:\n"
        "        y = a // b\n"
        "    except (ZeroDivisionError, TypeError) as err:\n"
        "        pass\n"
        "    else:\n"
        "        for i in range(a % 4):\n"
        "            try:\n"
        "                y *= b // i\n"
        "            except ZeroDivisionError as err:\n"
        "                pass\n"
        "    return a, b, y\n"),
    "finally_holding_with_after_except": (
        "def f(a, b):\n"
        "    import contextlib\n"
        "    z = 0\n"
        "    if a > b:\n"
        "        pass\n"
        "    else:\n"
        "        try:\n"
        "            z = b // a\n"
        "        except (ZeroDivisionError, TypeError):\n"
        "            pass\n"
        "        finally:\n"
        "            with contextlib.nullcontext(a) as w:\n"
        "                z += w\n"
        "            z -= a\n"),
    "finally_holding_try_then_loop": (
        "def f(a, b):\n"
        "    y = 0\n"
        "    try:\n"
        "        y = a // b\n"
        "    finally:\n"
        "        try:\n"
        "            y = len({0 for i in range(a % 4)}) or 9\n"
        "        except ZeroDivisionError:\n"
        "            pass\n"
        "        for i in range(2):\n"
        "            pass\n"),
    "clause_try_ending_in_return": (
        "def f(a, b):\n"
        "    z = 0\n"
        "    try:\n"
        "        z = a // b\n"
        "    except ZeroDivisionError as err:\n"
        "        try:\n"
        "            z += b // a\n"
        "        except ZeroDivisionError:\n"
        "            if a < b:\n"
        "                return 8\n"
        "    return z\n"),
    "while_always_breaking": (
        "def f(a, b):\n"
        "    y = 0\n"
        "    while a > b:\n"
        "        y ^= a\n"
        "        break\n"
        "    return y\n"),
    "while_always_breaking_in_arm": (
        "def f(a, b):\n"
        "    y = 1\n"
        "    if a:\n"
        "        while b > 2:\n"
        "            y ^= a\n"
        "            break\n"
        "    else:\n"
        "        y = a\n"
        "    return a, b, y\n"),
    "for_break_before_folded_else": (
        "def f(a, b):\n"
        "    x = 0\n"
        "    if -2:\n"
        "        for i in range(4):\n"
        "            if a > i:\n"
        "                break\n"
        "            x = a\n"
        "    else:\n"
        "        x -= a\n"
        "    return a, b, x\n"),
    # read before these rules too: the except-clause copies stop at a finally body's normal copy
    "finally_returning_in_arm": (
        "def f(a, b):\n"
        "    x = 1\n"
        "    try:\n"
        "        x = a // b\n"
        "    finally:\n"
        "        if b > a:\n"
        "            return 4\n"
        "        x *= a\n"),
    "empty_finally_after_except": (
        "def f(a, b):\n"
        "    x = 0\n"
        "    try:\n"
        "        x = a // b\n"
        "    except ZeroDivisionError:\n"
        "        x = -1\n"
        "    finally:\n"
        "        pass\n"
        "    x += 2\n"
        "    return x\n"),
    "empty_finally_in_loop": (
        "def f(a, b):\n"
        "    x = 0\n"
        "    for i in range(a % 3):\n"
        "        try:\n"
        "            x += b // i\n"
        "        except ZeroDivisionError as err:\n"
        "            x = 1\n"
        "        finally:\n"
        "            pass\n"
        "    return x\n"),
    "finally_ending_in_nested_loops": (
        "def f(a, b):\n"
        "    y = 0\n"
        "    try:\n"
        "        y = a // b\n"
        "    finally:\n"
        "        try:\n"
        "            y = b // a\n"
        "        except (ZeroDivisionError, TypeError):\n"
        "            pass\n"
        "        for j in range(a % 3):\n"
        "            for i in range(j):\n"
        "                pass\n"),
    # read before these rules too: a case body running into the code after it is no while loop
    "case_running_into_return": (
        "def f(a, b):\n"
        "    r = 0\n"
        "    match a:\n"
        "        case 0:\n"
        "            r = 1\n"
        "    return r\n"),
}


def _one_further(rule: Any, opname: str) -> Any:
    """``rule`` with every ``opname`` jump it made (where the stream held another instruction)
    landing one instruction further on."""

    def broken(stream: list, entries: list) -> list:
        out = rule(stream, entries)
        return [ins._replace(argval=ins.argval + 2) if ins.opname == opname and old.opname != ins.opname
                else ins for ins, old in zip(out, stream)]

    return broken


def mutate(name: str) -> None:
    """Break one rule: what comes out must still never be wrong, only refused more often."""
    from skyplex_depyf import copies, jumps312, landings, versions

    if name == "loop_groups_off":  # a try or with in a loop: its handler behind the jump over it
        landings.loop_body_groups = lambda out, groups, starts: ([], groups)
    elif name == "loop_groups_everywhere":  # every handler put before the jump over it, in a loop or not
        landings.loop_body_groups = lambda out, groups, starts: (groups, [])
    elif name == "finally_tails_off":
        landings.finally_tails_home = lambda groups, entries, outer: groups
    elif name == "own_back_jump_off":
        landings.past_own_back_jump = lambda stream, at, end: end
    elif name == "own_back_jump_late":  # the copy's end taken one instruction past the loop's exit
        real_past = landings.past_own_back_jump

        def late(stream: list, at: int, end: int | None) -> int | None:
            found = real_past(stream, at, end)
            if found is None or found == end:
                return found
            k = next(n for n, ins in enumerate(stream) if ins.offset == found)
            return stream[min(k + 1, len(stream) - 1)].offset

        landings.past_own_back_jump = late
    elif name == "exit_copies_one_further":  # a handler's copy of an exit block made a jump past it
        versions.share_exit_copies = _one_further(copies.share_exit_copies, "JUMP_BACKWARD")
    elif name == "exit_copies_at_end_only":  # an except clause's exit copy shared only right after the try
        real_original = copies._original
        copies._original = lambda stream, w, copy, targets, cold: (
            w if real_original(stream, w, copy, targets, cold) == w else None)
    elif name == "clause_return_exits_off":
        real_cleanup = jumps312._cleanup
        jumps312._inner_cleanup = lambda stream, position, entries, referrers, k: real_cleanup(
            stream, position, entries, stream[k - 1].offset)
    elif name == "breaking_whiles_off":
        versions.breaking_whiles = lambda stream: stream
    elif name == "breaking_whiles_past_exit":  # the break sent one instruction past the loop's exit
        real_whiles = versions.breaking_whiles

        def past(stream: list) -> list:
            out = real_whiles(stream)
            dead = {ins.offset - 1 for ins in out if ins.offset % 2 and ins.opname == "JUMP_BACKWARD"}
            return [ins._replace(argval=ins.argval + 2) if ins.offset in dead else ins for ins in out]

        versions.breaking_whiles = past
    elif name == "any_span_breaks":  # every jump ending a body after a forward test taken for a break
        from skyplex_depyf import loop_breaks

        loop_breaks._break_span = lambda ins: True
    elif name == "exit_nops_off":
        versions.breaks_onto_exit_nops = lambda stream: stream
    elif name == "exit_nops_early":  # the break sent to the instruction before the loop's exit
        real_nops = versions.breaks_onto_exit_nops

        def early(stream: list) -> list:
            out = real_nops(stream)
            before = {b.offset: a.offset for a, b in pairwise(out)}
            return [new._replace(argval=before[new.argval]) if new.argval != old.argval else new
                    for new, old in zip(out, stream)]

        versions.breaks_onto_exit_nops = early
    elif name == "empty_finally_off":  # a finally handler whose normal copy is empty left in its group
        from skyplex_depyf import layout

        real_nested = layout._nested_finally

        def nested(group: list, entries: list, cold: int, stream: list, position: dict, land: int) -> Any:
            found = real_nested(group, entries, cold, stream, position, land)
            return None if found is not None and found[2] == land else found

        layout._nested_finally = nested
    else:
        mutate_versions(name)


def main() -> None:
    mutate(sys.argv[1] if len(sys.argv) > 1 else "none")
    sources = json.loads(sys.stdin.read() or "[]")
    print(json.dumps({"python": list(sys.version_info[:2]), "given": [judge(source) for source in sources],
                      "constructs": {name: judge(source) for name, source in CONSTRUCTS.items()}}))


if __name__ == "__main__":
    main()
