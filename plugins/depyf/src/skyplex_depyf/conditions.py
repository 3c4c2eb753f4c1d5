"""Compound conditions read as a whole: ``and``/``or``/``not``, conditional expressions and constants
the compiler folded away, in any nesting, as they appear in ``if``, ``while``, comprehension ``if``
clauses and conditional-expression tests.

CPython 3.11 compiles a test with one recursive scheme ("jump to L when the test's truth is C, else
fall through"), then the peephole pass deletes constant tests (a constant that would jump becomes an
unconditional jump, one that would not disappears) and threads jumps to jumps. This module parses a
run of pure expressions ending in jumps back into an expression under that scheme. A parse is a
guess among equivalent readings; the decompiler's recompile-and-compare check decides, and a shape
that parses nowhere falls back to the ordinary rules."""

from __future__ import annotations

import contextvars
import dis
from dataclasses import dataclass
from typing import Any

from .symbolic import Expr

#: whether the executor reads conditions with this parser first (the decompiler tries both ways)
GENERAL = contextvars.ContextVar("general_conditions", default=False)
#: which of the equivalent readings the parser prefers (bit 0: a conditional expression before an
#: ``and``/``or`` split; bit 1: a left part that skips the right one before one that jumps with it;
#: bit 2: a first test that skips the body alone is an ``if`` of its own, the rest a nested ``if``:
#: ``if a: if b:`` and ``if a and b:`` differ only in how the peephole pass threads jumps across lines);
#: they compile alike except where the peephole pass threaded jumps in a different order, so the
#: decompiler tries each and keeps the one its recompile check proves
PREFERENCE = contextvars.ContextVar("condition_preference", default=0)
PREFERENCES = 8
_MAX_TOKENS = 14
#: which reading each compound condition takes, by (code object id, index of its first test): the
#: decompiler's search sets it; a condition not named takes the parser's first reading
CHOICES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("condition_choices", default=None)
#: where the decompiler wants to hear of conditions with more than one reading: each is appended once
#: as ``(key, number of readings)`` in the order the executor meets them
SEEN: contextvars.ContextVar[list | None] = contextvars.ContextVar("conditions_seen", default=None)
#: at most this many readings of one part of a condition are kept (the search is bounded by it)
_MAX_READINGS = 6


@dataclass
class Token:
    """A test (``expr`` then a conditional jump of ``kind`` to ``target``) or, with ``expr`` None, an
    unconditional jump; ``pos`` is the index of its first instruction."""

    pos: int
    expr: Expr | None
    kind: str
    target: int


def _truth(kind: str, text: str, cond: bool) -> str:
    """The expression that is true exactly when a ``kind`` jump is taken, for a jump on truth ``cond``."""
    wrapped = f"({text})"
    jumps_when = {"true": text, "false": f"not {wrapped}", "none": f"{wrapped} is None",
                  "notnone": f"{wrapped} is not None"}[kind]
    return jumps_when if cond else f"not ({jumps_when})"


class ConditionParser:
    """Parses ``tokens`` (whose fall-through end is the instruction at ``end_pos``) for one executor."""

    def __init__(self, executor: Any, tokens: list[Token]) -> None:
        self.ex = executor
        self.tokens = tokens
        self.memo: dict[tuple, str | None] = {}

    def canon(self, index: int) -> int:
        """Where control really goes from ``index``: unconditional jumps and NOPs followed."""
        seen = set()
        instrs = self.ex.instrs
        while index < len(instrs) and index not in seen:
            seen.add(index)
            ins = instrs[index]
            if ins.opname == "NOP":
                index += 1
            elif ins.opname in self.ex.table["jumps"]:
                index = self.ex.target(ins)
            else:
                break
        return index

    def pos(self, t: int, end_pos: int) -> int:
        return self.tokens[t].pos if t < len(self.tokens) else end_pos

    def parse(self, t0: int, t1: int, target: int, cond: bool, end_pos: int) -> str | None:
        """An expression ``e`` whose test, jumping to ``target`` when its truth is ``cond``, compiles to
        tokens ``[t0, t1)`` falling through to the instruction at ``t1``; None when there is none."""
        key = (t0, t1, target, cond)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # a cycle (a reading through itself) finds nothing
        found = self._parse(t0, t1, target, cond, end_pos)
        self.memo[key] = found
        return found

    def _parse(self, t0: int, t1: int, target: int, cond: bool, end_pos: int) -> str | None:
        nxt = self.canon(self.pos(t1, end_pos))
        if t0 == t1:  # a constant the compiler dropped: the test never jumps
            return "0" if cond else "1"
        if t1 == t0 + 1:
            tok = self.tokens[t0]
            if tok.expr is None:
                return ("1" if cond else "0") if self.canon(tok.target) == target else None
            if self.canon(tok.target) == target:
                return _truth(tok.kind, tok.expr.text, cond)
        preference = PREFERENCE.get()
        if preference & 1:
            found = self._ternary(t0, t1, target, cond, end_pos, nxt)
            if found is not None:
                return found
        other = self.canon(self.pos(t1, end_pos))
        # left jumps where the whole does, or left skips the right part
        readings = [(target, cond, "or" if cond else "and"), (nxt, not cond, "and" if cond else "or")]
        if preference & 2:
            readings.reverse()
        for m in range(t0 + 1, t1):
            right = self.parse(m, t1, target, cond, end_pos)
            if right is None:
                continue
            mid = self.pos(m, end_pos)
            for left_target, left_cond, word in readings:
                left = self.parse(t0, m, left_target, left_cond, mid)
                if left is not None:
                    return f"({left}) {word} ({right})"
        # ``e op constant``: the right part vanished
        left = self.parse(t0, t1, other, not cond, end_pos)
        if left is not None and other != target:
            return f"({left}) {'and' if cond else 'or'} {'0' if cond else '1'}"
        return None if preference & 1 else self._ternary(t0, t1, target, cond, end_pos, nxt)

    def _ternary(self, t0: int, t1: int, target: int, cond: bool, end_pos: int, nxt: int) -> str | None:
        """``(b if t else o)``: t tests to the else part, b tests, a jump to the end, o tests."""
        for m2 in range(t0 + 1, t1 + 1):  # o is tokens [m2, t1)
            else_at = self.canon(self.pos(m2, end_pos))
            orelse = self.parse(m2, t1, target, cond, end_pos)
            if orelse is None:
                continue
            for m1 in range(t0 + 1, m2 + 1):  # t is [t0, m1), b is [m1, m2') with an optional end jump
                b_end = m2
                if m2 - 1 >= m1 and self.tokens[m2 - 1].expr is None and self.canon(self.tokens[m2 - 1].target) == nxt:
                    b_end = m2 - 1
                test = self.parse(t0, m1, else_at, False, self.pos(m1, end_pos))
                if test is None:
                    continue
                body = self.parse(m1, b_end, target, cond, self.pos(b_end, end_pos))
                if body is None:
                    continue
                if b_end == m2 and m1 < m2 and self.canon(self.pos(b_end, end_pos)) != nxt:
                    # without the end jump, the body must never fall into the else part
                    if not self._always_jumps(m1, m2, target):
                        continue
                return f"({body}) if ({test}) else ({orelse})"
        return None

    def _always_jumps(self, t0: int, t1: int, target: int) -> bool:
        last = self.tokens[t1 - 1] if t1 > t0 else None
        return last is not None and last.expr is None and self.canon(last.target) == target


class ReadingEnumerator(ConditionParser):
    """Every reading ``parse`` could have chosen, not only its first: each nesting level may split
    differently (``a and (b if c else 0)`` where the first reading found ``a and (c and 1)``), and
    the peephole pass threads the jumps of each reading in its own order. At most ``_MAX_READINGS``
    per part, so the search over them stays bounded."""

    def __init__(self, executor: Any, tokens: list[Token]) -> None:
        super().__init__(executor, tokens)
        self.all_memo: dict[tuple, list[str]] = {}

    def readings(self, t0: int, t1: int, target: int, cond: bool, end_pos: int) -> list[str]:
        key = (t0, t1, target, cond)
        if key in self.all_memo:
            return self.all_memo[key]
        self.all_memo[key] = []  # a reading through itself finds nothing
        found: list[str] = []
        for text in self._readings(t0, t1, target, cond, end_pos):
            if text not in found:
                found.append(text)
                if len(found) == 4 * _MAX_READINGS:
                    break
        # the shortest readings first: a reading that nests conditional expressions around constants
        # (``0 if (1 if a else 0) else 1``) is seldom what the source said
        found = sorted(found, key=len)[:_MAX_READINGS]
        self.all_memo[key] = found
        return found

    def _readings(self, t0: int, t1: int, target: int, cond: bool, end_pos: int):
        nxt = self.canon(self.pos(t1, end_pos))
        if t0 == t1:
            yield "0" if cond else "1"
            return
        if t1 == t0 + 1:
            tok = self.tokens[t0]
            if tok.expr is None:
                if self.canon(tok.target) == target:
                    yield "1" if cond else "0"
                return
            if self.canon(tok.target) == target:
                yield _truth(tok.kind, tok.expr.text, cond)
                return
        yield from self._ternaries(t0, t1, target, cond, end_pos, nxt)
        readings = [(target, cond, "or" if cond else "and"), (nxt, not cond, "and" if cond else "or")]
        for m in range(t0 + 1, t1):
            rights = self.readings(m, t1, target, cond, end_pos)
            if not rights:
                continue
            mid = self.pos(m, end_pos)
            for left_target, left_cond, word in readings:
                for left in self.readings(t0, m, left_target, left_cond, mid):
                    for right in rights:
                        yield f"({left}) {word} ({right})"
        other = self.canon(self.pos(t1, end_pos))
        if other != target:
            for left in self.readings(t0, t1, other, not cond, end_pos):
                yield f"({left}) {'and' if cond else 'or'} {'0' if cond else '1'}"

    def _ternaries(self, t0: int, t1: int, target: int, cond: bool, end_pos: int, nxt: int):
        for m2 in range(t0 + 1, t1 + 1):
            else_at = self.canon(self.pos(m2, end_pos))
            orelses = self.readings(m2, t1, target, cond, end_pos)
            if not orelses:
                continue
            for m1 in range(t0 + 1, m2 + 1):
                b_end = m2
                if m2 - 1 >= m1 and self.tokens[m2 - 1].expr is None and self.canon(self.tokens[m2 - 1].target) == nxt:
                    b_end = m2 - 1
                if (b_end == m2 and m1 < m2 and self.canon(self.pos(b_end, end_pos)) != nxt
                        and not self._always_jumps(m1, m2, target)):
                    continue
                tests = self.readings(t0, m1, else_at, False, self.pos(m1, end_pos))
                bodies = self.readings(m1, b_end, target, cond, self.pos(b_end, end_pos)) if tests else []
                for test in tests:
                    for body in bodies:
                        for orelse in orelses:
                            yield f"({body}) if ({test}) else ({orelse})"


def tokenize(executor: Any, i: int, first: Expr, kind: str, stack: list, limit: int) -> list[Token]:
    """The tests from the conditional jump at ``i`` (its value ``first``) onward: each pure expression
    followed by a conditional jump, or an unconditional forward jump, up to ``limit``."""
    instrs = executor.instrs
    tokens = [Token(i, first, kind, executor.target(instrs[i]))]
    p = i + 1
    while p < limit and len(tokens) < _MAX_TOKENS:
        ins = instrs[p]
        if ins.opname == "NOP":
            p += 1
            continue
        if ins.opname == "JUMP_FORWARD":
            tokens.append(Token(p, None, "", executor.target(ins)))
            p += 1
            continue
        found = None
        for q in range(p, min(limit, p + 40)):
            op = instrs[q].opname
            if op in executor.table["cond_jumps"]:
                stmts, rest = executor.speculate(p, q, stack)
                if not stmts and len(rest) == len(stack) + 1 and isinstance(rest[-1], Expr):
                    found = q
                    tokens.append(Token(p, rest[-1], executor.table["cond_jumps"][op], executor.target(instrs[q])))
                break
            if op in executor.table["jumps"] or op.startswith(("STORE", "RETURN", "POP_TOP", "DELETE", "YIELD",
                                                               "RAISE", "RERAISE", "FOR_ITER", "PUSH_EXC",
                                                               "BEFORE", "SETUP", "JUMP_IF")):
                break
        if found is None:
            break
        p = found + 1
    return tokens


def compound(executor: Any, i: int, hi: int, value: Expr, kind: str, stack: list) -> tuple[int, int, Expr] | None:
    """``(body_start, skip_to, expr)`` when the tests from ``i`` form one condition of two or more tests
    (jump to ``skip_to`` when ``expr`` is false, else go on at ``body_start``); None otherwise."""
    tokens = tokenize(executor, i, value, kind, stack, hi)
    if len(tokens) < 2:
        return None
    parser = ConditionParser(executor, tokens)
    for t1 in range(len(tokens), 1, -1):
        end_pos = tokens[t1].pos if t1 < len(tokens) else _after(executor, tokens[-1])
        if end_pos > hi:
            continue
        body = parser.canon(end_pos)
        inside = {parser.canon(tok.pos) for tok in tokens[1:t1] if tok.expr is not None}  # jumps are transparent
        targets = []
        for tok in tokens[:t1]:
            t = parser.canon(tok.target)
            if t != body and t not in inside and t not in targets:
                targets.append(t)
        if len(targets) != 1:
            continue
        if PREFERENCE.get() & 4 and tokens[0].expr is not None and tokens[0].target == targets[0]:
            return None  # read ``if <first test>:`` alone; the nested tests make the inner ``if``
        parser.memo.clear()
        text = parser.parse(0, t1, targets[0], False, end_pos)
        if text is not None:
            text = _chosen_reading(executor, i, tokens, t1, targets[0], end_pos, text)
            return end_pos, _raw_target(executor, tokens[:t1], targets[0], parser, end_pos), Expr(text)
    return None


def _chosen_reading(executor: Any, i: int, tokens: list[Token], t1: int, target: int, end_pos: int,
                    first: str) -> str:
    """The reading the decompiler's search chose for the condition at ``i``: ``first`` (the parser's
    own) unless told otherwise; the other readings are listed to the search through ``SEEN``."""
    choices, seen = CHOICES.get(), SEEN.get()
    if choices is None and seen is None:
        return first
    key = (id(executor.code), i)
    choice = (choices or {}).get(key, 0)
    if seen is None and choice == 0:
        return first
    enumerator = ReadingEnumerator(executor, tokens)
    texts = [first] + [t for t in enumerator.readings(0, t1, target, False, end_pos) if t != first]
    if seen is not None and len(texts) > 1 and all(key != k for k, _ in seen):
        seen.append((key, len(texts)))
    return texts[choice] if choice < len(texts) else first


def _after(executor: Any, tok: Token) -> int:
    return tok.pos + 1 if tok.expr is None else executor.index[_jump_of(executor, tok).offset] + 1


def _jump_of(executor: Any, tok: Token) -> dis.Instruction:
    p = tok.pos
    while executor.instrs[p].opname not in executor.table["cond_jumps"]:
        p += 1
    return executor.instrs[p]


def _raw_target(executor: Any, tokens: list[Token], canon_target: int, parser: ConditionParser,
                end_pos: int) -> int:
    """The jump target as written (the first test's own target when it goes there), so the ordinary
    rules see the same destinations the compiler emitted; never a jump inside the condition itself
    (a folded else part's ``JUMP_FORWARD``), which would read as a jump backwards."""
    for tok in tokens:
        if parser.canon(tok.target) == canon_target and tok.target >= end_pos:
            return tok.target
    return canon_target
