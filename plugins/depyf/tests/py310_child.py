"""Run inside CPython 3.10 by ``test_py310.py``: round-trips the constructs of ``versions_child.py``,
the ones whose 3.10 spelling needs a rule of its own, and a seeded sample of the generated corpus,
optionally with one front-end rule broken, and prints one JSON line. It imports only the plugin's
source (on PYTHONPATH) and ``versions_child.py`` beside it, never the kernel."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from py310_async import ASYNC_310, judge_async
from versions_child import CONSTRUCTS, METHODS, judge, proven

from skyplex_depyf.corpus import MATCH_INPUTS, gen_function, gen_generator, gen_match, outcome_of
from skyplex_depyf.decompiler import decompile

#: constructs whose 3.10 instructions differ from 3.11's in a way one rule of ``py310.py`` reads
CONSTRUCTS_310 = {
    "slice_augmented": "def f(a, b):\n    xs = [1, 2, 3]\n    xs[a % 2:b % 3] += [a]\n    return xs\n",
    "subscript_augmented": "def f(a, b):\n    xs = [a, b, 3]\n    xs[a % 3] += b\n    xs[1] -= a\n    return xs\n",
    "attribute_augmented": ("def f(a, b):\n    import types\n    n = types.SimpleNamespace(v=a)\n    n.v *= b\n"
                            "    return n.v\n"),
    "every_operator": ("def f(a, b):\n    c = b % 7 + 1\n    x = a + b - c * a // c % c ** 2 / c\n"
                       "    y = (a & b) | (a ^ b) << 2 >> 1\n    x += 1\n    x -= c\n    y *= 3\n    y //= c\n"
                       "    y %= 5\n    y **= 2\n    x /= c\n    y &= 7\n    y |= 8\n    y ^= a\n    y <<= 1\n"
                       "    y >>= 1\n    return x, y\n"),
    "calls_of_every_kind": ("def f(a, b):\n    xs = [a, b]\n    d = {'k': a}\n    return (max(*xs), dict(**d), "
                            "dict(d, k2=b), sorted(xs, key=abs, reverse=True), len(xs), str(a).zfill(b % 4), "
                            "(min if a > b else max)(a, b), (abs or len)(a), print.__call__ is None)\n"),
    "global_callable_chains": "def f(a, b):\n    return int.from_bytes(bytes([a % 256]), 'big'), abs(-a).bit_length()\n",
    "chained_comparison_in_if": ("def f(a, b):\n    if a < b <= 4:\n        return 1\n    while 0 <= a < b:\n"
                                 "        a += 1\n    return a\n"),
    "walrus_and_fstring": "def f(a, b):\n    if (n := a * b) > 3:\n        return f'{n}-{a!r}-{b:>3}'\n    return n\n",
    "closure_and_nested_def": ("def f(a, b):\n    def add(q, r=2):\n        return q + a + r\n"
                               "    g = lambda z: add(z) * b\n    return [g(i) for i in range(3)], add(b, r=a)\n"),
    "comprehension_over_closure": ("def f(a, b):\n    return {i: [a * j for j in range(i)] for i in range(b % 4)}, "
                                   "sum(i * a for i in range(3))\n"),
    "generator_delegating": ("def f(a, b):\n    x = yield a\n    y = yield from range(b % 3)\n    yield x, y\n"),
    "loops_with_breaks": ("def f(a, b):\n    t = 0\n    for i in range(a % 5):\n        if i == b:\n            break\n"
                          "        if i % 2:\n            continue\n        t += i\n    else:\n        t = -t\n"
                          "    while t < 10:\n        t += 3\n        if t == 7:\n            break\n    return t\n"),
    "try_except_else": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    except ZeroDivisionError as e:\n"
                        "        x = str(e)\n    else:\n        x += 2\n    return x\n"),
    "try_finally_then_return": ("def f(a, b):\n    x = 0\n    try:\n        x = a // b\n    finally:\n"
                                "        b += 1\n    return x, b\n"),
    "assert_and_raise": ("def f(a, b):\n    assert a is not None, 'a'\n    if b is None:\n        raise ValueError(b)\n"
                         "    return not a, -b, ~a\n"),
    "match_none_before_other_cases": ("def f(a, b):\n    r = 0\n    match a:\n        case None:\n            r = 1\n"
                                      "        case True:\n            r = 2\n        case _:\n            r = -1\n"
                                      "    return r\n"),
    "match_or_pattern_returning": ("def f(a, b):\n    r = 0\n    match a % 5:\n        case 0 | 1 | 3:\n"
                                   "            r = 1\n            return r\n    return r + b\n"),
    "match_class_patterns": ("def f(a, b):\n    r = 0\n    match a:\n        case int():\n            r = 1\n"
                             "        case str():\n            r = 2\n    return r\n"),
    "match_mapping_parts": ("def f(a, b):\n    r = 0\n    match {'a': a % 3, 'b': b, 'c': None}:\n"
                            "        case {'a': 1, 'b': _, 'c': None}:\n            r = 1\n"
                            "        case {'a': 2, 'b': 3, 'c': None, 'd': 4}:\n            r = 2\n"
                            "        case {'a': 0}:\n            r = 3\n    return r\n"),
    "match_class_parts": ("def f(a, b):\n    r = 0\n    match a:\n        case int(None):\n            r = 1\n"
                          "        case int(real=3):\n            r = 2\n        case complex(real=1, imag=True):\n"
                          "            r = 3\n    return r\n"),
    "match_captured_parts": ("def f(a, b):\n    r = 0\n    match {'k': a % 2, 'j': b, 'i': a}:\n"
                             "        case {'k': 0, 'j': v1, 'i': v2}:\n            r = (v1, v2)\n"
                             "        case {'k': v0}:\n            r = v0\n    match b:\n"
                             "        case complex(v3, imag=v4):\n            r = (r, v3, v4)\n    return r\n"),
    "match_wildcard_parts": ("def f(a, b):\n    r = 0\n    match {'k': a}:\n        case {'k': _}:\n            r = 1\n"
                             "        case {}:\n            r = 2\n    match a:\n        case int(real=_):\n"
                             "            r += 10\n        case _:\n            r += 20\n    return r\n"),
    "match_alternative_parts": ("def f(a, b):\n    r = 0\n    match {'k': a % 6, 'j': b % 2}:\n"
                                "        case {'k': 0 | 4, 'j': 1}:\n            r = 1\n"
                                "        case {'k': None | 3}:\n            r = 2\n    match a:\n"
                                "        case int(3 | 2):\n            r += 10\n    return r\n"),
    "folded_if_after_conditional_expression": ("def f(a, b):\n    y = max(-2, a) if b else 9\n    if 7:\n"
                                               "        return y\n    return 0\n"),
    "folded_if_after_try": ("def f(a, b):\n    try:\n        a = a // b\n    except ZeroDivisionError:\n"
                            "        a = 0\n    if 7:\n        return -a\n    return a\n"),
    "folded_if_after_while": ("def f(a, b):\n    while a < 5:\n        a += 1 if b else 2\n    if 3:\n"
                              "        return a\n"),
    "try_ending_finally_body": ("def f(a, b):\n    try:\n        a += 1\n    finally:\n        try:\n"
                                "            b = a // b\n        except ZeroDivisionError:\n            b = 0\n"
                                "    return a, b\n"),
    "try_as_ending_finally_body": ("def f(a, b):\n    try:\n        a += 1\n    finally:\n        a -= b\n"
                                   "        try:\n            b = a // b\n"
                                   "        except (ZeroDivisionError, TypeError) as err:\n            b = str(err)\n"
                                   "    return a, b\n"),
    "try_ending_finally_body_in_loop": ("def f(a, b):\n    k = 0\n    while k < 3:\n        k += 1\n"
                                        "        try:\n            b = -b\n        finally:\n            try:\n"
                                        "                a = a // b\n            except ZeroDivisionError:\n"
                                        "                a = 5\n    return a, b\n"),
    "match_lone_literal_case": ("def f(a, b):\n    r = 0\n    match a % 3:\n        case 0:\n            r = 1\n"
                                "    return r\n"),
    "if_with_empty_else": "def f(a, b):\n    r = 0\n    if a > b:\n        r = 1\n    else:\n        pass\n    return r\n",
    "match_captures_before_tests": ("def f(a, b):\n    r = 0\n    match {'k': a, 'j': b % 2, 'i': a % 3, 'h': None}:\n"
                                    "        case {'k': v0, 'j': 1, 'i': v1, 'h': None}:\n            r = (v0, v1)\n"
                                    "        case {'k': v2, 'j': 0}:\n            r = v2\n    match a:\n"
                                    "        case int(real=v3, imag=0):\n            r = (r, v3)\n    return r\n"),
    "match_cases_leaving_past_else": ("def f(a, b):\n    r = 0\n    match [a] if a % 2 else [a, b]:\n"
                                      "        case [_] as v0 if a > b:\n            r = (1, v0)\n"
                                      "        case [_]:\n            r = 3\n        case v0 if len(v0) == b:\n"
                                      "            r = 2\n    return r\n"),
    "finally_copies_keeping_their_returns": ("def f(a, b):\n    z = 0\n    try:\n        if a:\n            return 3\n"
                                             "    finally:\n        if b:\n            if a > b:\n                return 4\n"
                                             "            z = 1\n        z += 2\n    try:\n        z = 5 // b\n"
                                             "    except ZeroDivisionError:\n        z -= 3\n    return z\n"),
    "return_copied_into_conditional_expression": ("def f(a, b):\n    if (a if b else a - 1):\n        return -1\n"
                                                  "    try:\n        try:\n            b += 1\n        finally:\n"
                                                  "            a = 2\n    except ZeroDivisionError:\n"
                                                  "        a -= 3\n    return (a, b)\n"),
    "with_ending_finally_in_handler": ("def f(a, b):\n    try:\n        if a > b:\n            return 5\n"
                                       "    except TypeError:\n        try:\n            b += a\n        finally:\n"
                                       "            with __import__('contextlib').nullcontext(b):\n                a = 2\n"
                                       "    return (a, b)\n"),
    "match_nested_parts": ("def f(a, b):\n    r = 0\n    match {'k': [a % 3, b], 'j': a}:\n"
                           "        case {'k': [0, v0], 'j': int(v1)}:\n            r = (v0, v1)\n"
                           "        case {'k': [1 | 2, _]}:\n            r = 2\n    match (a, b % 5):\n"
                           "        case [int(real=v2, imag=0), int(3 | 4)]:\n            r = (r, v2)\n    return r\n"),
    "match_captures_below_nested_parts": ("def f(a, b):\n    r = 0\n    match complex(a, b % 3):\n"
                                          "        case complex(real=float(v0), imag=float(0.0 | 1.0) as v1):\n"
                                          "            r = (v0, v1)\n        case complex(imag=v2, real=_):\n"
                                          "            r = v2\n    match {'k': {'j': a, 'i': b}}:\n"
                                          "        case {'k': {'i': int(v3), 'j': v4}} if v3 > v4:\n"
                                          "            r = (r, v3, v4)\n    return r\n"),
    "match_wildcards_in_nested_parts": ("def f(a, b):\n    r = 0\n    match {'k': a, 'j': {'i': b}}:\n"
                                        "        case {'k': int(_), 'j': {'i': _}}:\n            r = 1\n"
                                        "        case {'j': int()}:\n            r = 2\n    match [a]:\n"
                                        "        case [int(_) | str(_)]:\n            r += 10\n    return r\n"),
}


#: methods whose nested functions 3.10 names after the class (a constant in its bytecode)
METHODS_310 = {
    "method_with_comprehension": "class K:\n    def f(self, xs):\n        return [x * 2 for x in xs if x]\n",
    "method_with_nested_def": ("class K:\n    def f(self, n):\n        def double(v):\n            return 2 * v\n"
                               "        return double(n), (lambda: n)()\n"),
}


def _tuple_ops_changed(change: Any) -> None:
    """Every op the tuple rules of ``py310_match`` plan passed through ``change`` (None drops it)."""
    from skyplex_depyf import py310_match

    real_plan = py310_match.Parts.plan_parts

    def changed(self: py310_match.Parts) -> None:
        real_plan(self)
        ops = {k: change(op) for k, op in self.tuple_ops.items()}
        self.tuple_ops = {k: op for k, op in ops.items() if op is not None}

    py310_match.Parts.plan_parts = changed


def mutate(name: str) -> None:
    """Break one 3.10 rule on purpose: what comes out must still never be wrong (the recompile check
    guards every output), only refused more often."""
    from skyplex_depyf import opcodes, py310

    if name == "operators":  # addition read as subtraction
        opcodes.BINARY_OPS_310["BINARY_ADD"], opcodes.BINARY_OPS_310["BINARY_SUBTRACT"] = (10, "-"), (0, "+")
        opcodes.BINARY_OPS_310["INPLACE_ADD"] = (23, "-=")
    elif name == "rotations":  # ROT_THREE's swaps in the wrong order
        opcodes.ROTATIONS_310["ROT_THREE"] = (2, 3)
    elif name == "jumps":  # every absolute conditional jump read with the opposite condition
        real = py310._canonical_jump
        flipped = {"POP_JUMP_IF_FALSE": "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_IF_TRUE": "POP_JUMP_FORWARD_IF_FALSE"}
        py310._canonical_jump = lambda op: flipped.get(op) or real(op)
    elif name == "calls":  # the NULL put one instruction after the callable's first
        real_start = py310._Reader310.callable_start

        def late(self: py310._Reader310, c: int, below: int) -> int | None:
            q = real_start(self, c, below)
            return None if q is None else min(q + 1, c - 1)

        py310._Reader310.callable_start = late
    elif name == "keywords":  # keyword names dropped: every argument read as positional
        real_rewrite = py310._Reader310.rewrite

        def positional(self: py310._Reader310, k: int) -> tuple[list, int]:
            made, step = real_rewrite(self, k)
            for item in made:
                if item.ins.opname == "KW_NAMES":
                    item.ins = item.ins._replace(opname="NOP")
            return made, step

        py310._Reader310.rewrite = positional
    elif name == "handlers":  # code inside a handler sent to the handler itself, not its clean-up
        from skyplex_depyf import py310_blocks

        real_handler_of = py310_blocks.Blocks.handler_of

        def own_handler(self: py310_blocks.Blocks, state: tuple | None) -> tuple | None:
            found = real_handler_of(self, state)
            if found is not None and isinstance(found[0], tuple):
                return found[0][1], found[1], found[2]
            return found

        py310_blocks.Blocks.handler_of = own_handler
    elif name == "else_blocks":  # an else block moved before the try body instead of after it
        from skyplex_depyf import py310_blocks

        real_layout = py310_blocks.Blocks.layout

        def early(self: py310_blocks.Blocks) -> list:
            parts = real_layout(self)
            for n in range(1, len(parts)):
                if parts[n][0] == "else":
                    parts[n - 1], parts[n] = parts[n], parts[n - 1]
                    break
            return parts

        py310_blocks.Blocks.layout = early
    elif name == "tails":  # the block after a try statement put back one instruction short
        from skyplex_depyf import py310_blocks

        real_plan_tail = py310_blocks.Blocks.plan_tail

        def short(self: py310_blocks.Blocks, handler: int, m: int) -> None:
            real_plan_tail(self, handler, m)
            self.tails_before = {k: [(h, a + 1, r) for h, a, r in v] for k, v in self.tails_before.items()}

        py310_blocks.Blocks.plan_tail = short
    elif name == "owners":  # a method's class read one level too shallow: its nested names differ
        real_owners = py310.owning_classes
        py310.owning_classes = lambda code: real_owners(code)[1:]
    elif name == "match_flags":  # a class or keys pattern's failure read as its success
        real_rewrite = py310._Reader310.rewrite

        def inverted(self: py310._Reader310, k: int, as_copy: bool = False) -> tuple[list, int]:
            made, step = real_rewrite(self, k, as_copy)
            if self.instrs[k].opname in ("MATCH_CLASS", "MATCH_KEYS"):
                for item in made:
                    if item.ins.opname == "POP_JUMP_FORWARD_IF_NONE":
                        item.ins = item.ins._replace(opname="POP_JUMP_FORWARD_IF_NOT_NONE")
            return made, step

        py310._Reader310.rewrite = inverted
    elif name == "none_tests":  # ``case None`` read as a test for anything but None
        real_rewrite = py310._Reader310.rewrite

        def negated(self: py310._Reader310, k: int, as_copy: bool = False) -> tuple[list, int]:
            made, step = real_rewrite(self, k, as_copy)
            for item in made:
                if item.ins.opname == "POP_JUMP_FORWARD_IF_NOT_NONE":
                    item.ins = item.ins._replace(opname="POP_JUMP_FORWARD_IF_NONE")
            return made, step

        py310._Reader310.rewrite = negated
    elif name == "match_exits":  # the block after a match statement moved one instruction short
        from skyplex_depyf import py310_copies

        real_exit = py310_copies.Copies.match_exit

        def short_exit(self: py310_copies.Copies) -> tuple[int, int] | None:
            found = real_exit(self)
            return None if found is None else (found[0] + 1, found[1])

        py310_copies.Copies.match_exit = short_exit
    elif name == "copy_chains":  # a copy of a copy jumps to that copy, not where it jumps
        from skyplex_depyf import py310_copies

        real_copies = py310_copies.Copies.exit_copies

        def first_copy(self: py310_copies.Copies) -> dict:
            found = real_copies(self)
            starts = sorted(found)
            for a, b in zip(starts, starts[1:]):
                found[a] = (found[a][0], self.instrs[b].offset)
            return found

        py310_copies.Copies.exit_copies = first_copy
    elif name == "part_reads":  # a part read one wildcard further on
        _tuple_ops_changed(lambda op: (op[0], op[1], op[2] + 1) if op[0] == "read" else op)
    elif name == "tuple_pops":  # the tuple's pop leaves one value of its parts on the stack
        _tuple_ops_changed(lambda op: (op[0], op[1], op[2] - 1) if op[0] == "pop" and op[2] else op)
    elif name == "unpacks":  # the tuple unpacked into one value more than it holds
        _tuple_ops_changed(lambda op: (op[0], op[1] + 1, op[2]) if op[0] != "rotate" and op[1] else op)
    elif name == "rotations_as_310":  # a capture rotated below each tuple as one value, as 3.10 does
        _tuple_ops_changed(lambda op: None if op[0] == "rotate" else op)
    elif name == "shallow_rotations":  # a capture rotated below one value fewer than the tuples hold
        _tuple_ops_changed(lambda op: ("rotate", op[1] - 1) if op[0] == "rotate" else op)
    elif name == "folded_statements":  # a folded ``if 7:`` read as nothing, as before the rule
        py310._Reader310.folded_statement = lambda self, k: False
    elif name == "finally_pushes":  # a finally handler starting with a try does not save the exception
        real_rewrite = py310._Reader310.rewrite

        def unsaved(self: py310._Reader310, k: int, as_copy: bool = False) -> tuple[list, int]:
            made, step = real_rewrite(self, k, as_copy)
            if self.instrs[k].opname.startswith("SETUP_") and made and made[0].ins.opname == "PUSH_EXC_INFO":
                made = made[1:]
            return made, step

        py310._Reader310.rewrite = unsaved
    elif name == "cleanup_order":  # the outer statement's clean-up before the nested one's
        from skyplex_depyf import py310_blocks

        real_order = py310_blocks.Blocks.ending_order
        py310_blocks.Blocks.ending_order = lambda self, handlers: real_order(self, handlers)[::-1]
    elif name == "tail_twice":  # code copied after two statements put back after each of them
        from skyplex_depyf import py310_blocks

        real_plan_tail = py310_blocks.Blocks.plan_tail

        def each(self: py310_blocks.Blocks, handler: int, m: int) -> None:
            claimed, self.tail_jumps = self.tail_jumps, {}
            real_plan_tail(self, handler, m)
            self.tail_jumps = {**claimed, **self.tail_jumps}

        py310_blocks.Blocks.plan_tail = each
    elif name == "past_else":  # earlier cases leave one instruction into the block after the statement
        from skyplex_depyf import py310_match

        real_leave = py310_match.Parts.cases_leave_past_else

        def late(self: py310_match.Parts) -> None:
            real_leave(self)
            for a, (end, target) in list(self.copies.items()):
                if isinstance(target, tuple) and target[0] == "past else" and target[1] + 1 < len(self.instrs):
                    self.copies[a] = (end, self.instrs[target[1] + 1].offset)

        py310_match.Parts.cases_leave_past_else = late
    elif name == "aenter_awaits":  # the await of ``__aenter__`` numbered as ``__aexit__``'s
        real_rewrite = py310._Reader310.rewrite_one

        def renumbered(self: py310._Reader310, k: int, as_copy: bool = False) -> tuple[list, int]:
            made, step = real_rewrite(self, k, as_copy)
            for item in made:
                if item.ins.opname == "GET_AWAITABLE" and item.ins.arg == 1:
                    item.ins = item.ins._replace(arg=2, argval=2)
            return made, step

        py310._Reader310.rewrite_one = renumbered
    elif name == "async_with_levels":  # an async with body protected at the depth of its SETUP
        from skyplex_depyf import py310_blocks

        real_follow = py310_blocks.Blocks.follow_blocks

        def deeper(self: py310_blocks.Blocks) -> None:
            real_follow(self)
            for handler, k in self.setup_index.items():
                if self.instrs[k].opname == "SETUP_ASYNC_WITH":
                    self.level[handler] += 1

        py310_blocks.Blocks.follow_blocks = deeper
    elif name == "async_for_ends":  # an async for loop's END_ASYNC_FOR read as a finally handler
        from skyplex_depyf import py310_blocks

        real_kind = py310_blocks.Blocks.handler_kind
        py310_blocks.Blocks.handler_kind = lambda self, h, setup: (
            "finally" if self.instrs[h].opname == "END_ASYNC_FOR" else real_kind(self, h, setup))
    elif name == "copied_around":  # two copies of a finally body read as a jump 3.10 replaced by a copy
        from skyplex_depyf import py310_copies

        py310_copies.Copies.copied_around = lambda self, x, y, lines: False
    elif name == "longest_copy_only":  # a copy found only as long as the code alike before two returns
        from skyplex_depyf import py310_copies

        py310_copies.Copies.copy_lengths = lambda self, n: range(n, max(n - 1, 0), -1)
    elif name == "into_with_handlers":  # a with handler's last pop and the re-raise after it read as a copy
        from skyplex_depyf import py310_copies

        py310_copies.Copies.with_handler_units = lambda self: []
    elif name == "empty_else":  # an arm ending in a copy of the block after it read as falling into it
        py310._Reader310.empty_else_arms = lambda self: {}
    elif name != "none":
        raise SystemExit(f"unknown mutation {name!r}")


#: constructs whose code after a statement 3.10 copied into several exits, put back once
PUT_BACK_ONCE = ("try_ending_finally_body", "try_as_ending_finally_body", "try_ending_finally_body_in_loop")


def returns(source: str) -> int | None:
    """How many ``return`` statements the decompiled source of ``source`` spells (None when refused)."""
    from skyplex_depyf.decompiler import decompile

    namespace: dict = {}
    exec(compile(source, "<construct>", "exec", dont_inherit=True), namespace)
    found = decompile(namespace["f"]).source
    return None if found is None else sum(line.strip().startswith("return") for line in found.splitlines())


def judge_match(source: str) -> str:
    """:func:`versions_child.judge` for a function of the match grammar, run on its own inputs."""
    namespace: dict = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), namespace)
    result = decompile(namespace["generated"])
    if not result.ok:
        return f"refused: {result.refusal}"
    rebuilt: dict = {}
    try:
        exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    except SyntaxError as exc:
        return f"wrong: does not compile: {exc}"
    problem = outcome_of(namespace["generated"], MATCH_INPUTS)(rebuilt["generated"])
    return f"wrong: {problem}" if problem else "ok"


def match_sample(rng: random.Random, n: int) -> list[str]:
    """``n`` functions of the match grammar that compile (a draw that is not valid Python is skipped)."""
    found: list[str] = []
    while len(found) < n:
        source = gen_match(lambda lo, hi: rng.randint(lo, hi))
        try:
            compile(source, "<generated>", "exec", dont_inherit=True)
        except SyntaxError:
            continue
        found.append(source)
    return found


def main() -> None:
    seed, n_functions, n_generators = (int(a) for a in sys.argv[1:4])
    mutate(sys.argv[4] if len(sys.argv) > 4 else "none")
    n_matches = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    rng = random.Random(seed)
    generated = [gen_function(lambda lo, hi: rng.randint(lo, hi)) for _ in range(n_functions)]
    generators = [gen_generator(lambda lo, hi: rng.randint(lo, hi)) for _ in range(n_generators)]
    matches = match_sample(rng, n_matches)
    report = {"python": list(sys.version_info[:2]),
              "constructs": {name: judge(source) for name, source in {**CONSTRUCTS, **CONSTRUCTS_310}.items()},
              "generated": [judge(source) for source in generated],
              "generators": [judge(source) for source in generators],
              "matches": [judge_match(source) for source in matches],
              "async": {name: judge_async(source) for name, source in ASYNC_310.items()},
              "methods": {name: proven(source) for name, source in {**METHODS, **METHODS_310}.items()},
              "returns": {name: returns(CONSTRUCTS_310[name]) for name in PUT_BACK_ONCE}}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
