"""``match`` statements of CPython 3.11.

The compiler lays a ``match`` out as: the subject, then per case a ``COPY 1`` of it (all but the last
case), the pattern's tests (each failing test jumps forward to a run of ``POP_TOP`` that clears what
the pattern had pushed and falls into the next case), the captured names stored at the end, an
optional guard jumping to the next case, a ``POP_TOP`` of the subject, the body and a jump to the end.
A trailing ``case _:`` costs no code of its own: its body follows the last case's failure path.

Patterns are read by running their instructions over symbolic values: a :class:`Node` per value a
sub-pattern tests (the subject, an element, a mapping value, an attribute), which the tests, unpacks
and stores shape into pattern text. Or-patterns are read alternative by alternative. What this module
does not know (``**rest``, starred wildcards read by index, captures inside alternatives) is refused,
and the recompile-and-compare check proves every reading it gives."""

from __future__ import annotations

from typing import Any

from .symbolic import Expr, Line, Refusal
from .values import _ends, const_expr

__all__ = ["match_statement", "Match"]

_JUMP_KINDS = {"POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_FORWARD_IF_NOT_NONE"}
_STORES = ("STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF")


class Match:
    """A match statement: ``cases`` are (pattern text, guard text or None, statements)."""

    def __init__(self, subject: str, cases: list) -> None:
        self.subject, self.cases = subject, cases

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Match) and (self.subject, self.cases) == (other.subject, other.cases)


class Node:
    """One value a sub-pattern tests; its ``kind`` and parts fill in as its tests are read."""

    def __init__(self) -> None:
        self.kind: str | None = None  # value, seq, map, class, or
        self.text = ""
        self.length: tuple[str, int] | None = None
        self.children: list[Node] = []
        self.star: int | None = None
        self.keys: list[str] = []
        self.cls = ""
        self.nargs = 0
        self.attrs: tuple = ()
        self.alternatives: list[str] = []
        self.names: list[str] = []
        self.popped = False

    def render(self) -> str:
        if len(self.names) > 1:
            raise ValueError("a value stored under two names")
        base = self._structure()
        if base is None:
            return ("*" if self.star_mark else "") + (self.names[0] if self.names else "_")
        if self.names:
            return f"({base}) as {self.names[0]}" if self.kind == "or" else f"{base} as {self.names[0]}"
        return base

    star_mark = False

    def _structure(self) -> str | None:
        if self.kind == "value":
            return self.text
        if self.kind == "or":
            return " | ".join(self.alternatives)
        if self.kind == "seq" and not self.children:  # only wildcards: the compiler tests the length, no more
            if self.length is None:
                return "[*_]"
            op, n = self.length
            return "[" + ", ".join(["_"] * n + (["*_"] if op == ">=" else [])) + "]"
        if self.kind == "seq":
            size = len(self.children)
            expected = ("==", size) if self.star is None else (">=", size - 1)
            if self.length != expected:
                raise ValueError("sequence length test of an unknown shape")
            return "[" + ", ".join(child.render() for child in self.children) + "]"
        if self.kind == "map":
            if self.length != (">=", len(self.keys)) and self.keys:
                raise ValueError("mapping length test of an unknown shape")
            return "{" + ", ".join(f"{k}: {c.render()}" for k, c in zip(self.keys, self.children)) + "}"
        if self.kind == "class":
            parts = [c.render() for c in self.children[:self.nargs]]
            parts += [f"{name}={c.render()}" for name, c in zip(self.attrs, self.children[self.nargs:])]
            return f"{self.cls}({', '.join(parts)})"
        return None


class _Marker:
    """A value the pattern's tests push: a test result, a length, keys, values or attributes."""

    def __init__(self, what: str, node: Node | None = None, extra: Any = None) -> None:
        self.what, self.node, self.extra = what, node, extra


class _Reader:
    """Runs pattern instructions over symbolic values for one executor."""

    def __init__(self, executor: Any) -> None:
        self.ex = executor
        self.instrs = executor.instrs
        self.fails: list[int] = []

    def refuse(self, k: int, why: str) -> Refusal:
        ins = self.instrs[k]
        return Refusal(ins.offset, ins.opname, f"match: {why}")

    def run(self, p: int, stack: list, base: int, fails: list[int]) -> int:
        """Read from ``p`` until ``stack`` is back to ``base`` items; returns the next index."""
        instrs = self.instrs
        while len(stack) > base:
            if p >= len(instrs):
                raise self.refuse(len(instrs) - 1, "pattern runs past the code")
            ins = instrs[p]
            op, arg = ins.opname, ins.arg
            top = stack[-1] if stack else None
            if op == "NOP":
                pass
            elif op == "COPY" and arg == 1 and isinstance(top, Node) and self._is_or(p):
                p = self.alternatives(p, top, fails)
                continue
            elif op == "COPY" and arg == 1:
                stack.append(top)
            elif op == "SWAP":
                stack[-1], stack[-arg] = stack[-arg], stack[-1]
            elif op in ("MATCH_SEQUENCE", "MATCH_MAPPING") and isinstance(top, Node):
                top.kind = "seq" if op == "MATCH_SEQUENCE" else "map"
                stack.append(_Marker("test", top))
            elif op == "GET_LEN" and isinstance(top, Node):
                stack.append(_Marker("len", top))
            elif op == "LOAD_CONST":
                stack.append(const_expr(ins.argval, ins))
                stack[-1].value = ins.argval
            elif op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_FAST", "LOAD_DEREF") and not (op == "LOAD_GLOBAL" and arg & 1):
                stack.append(Expr(ins.argval, atom=True))
            elif op == "LOAD_ATTR" and isinstance(top, Expr):
                stack[-1] = Expr(f"{top.text}.{ins.argval}", atom=True)
            elif op == "COMPARE_OP" and len(stack) >= 2 and isinstance(top, Expr):
                below = stack[-2]
                if isinstance(below, _Marker) and below.what == "len" and isinstance(getattr(top, "value", None), int):
                    below.node.length = (ins.argval, top.value)
                elif isinstance(below, Node) and ins.argval == "==" and below.kind is None:
                    below.kind, below.text = "value", top.text
                else:
                    raise self.refuse(p, "comparison of an unknown shape")
                del stack[-2:]
                stack.append(_Marker("test"))
            elif op == "IS_OP" and len(stack) >= 2 and isinstance(top, Expr) and top.text in ("None", "True", "False"):
                below = stack[-2]
                if arg == 0 and isinstance(below, Node) and below.kind is None:
                    below.kind, below.text = "value", top.text
                elif not (arg == 1 and top.text == "None" and isinstance(below, _Marker)):
                    raise self.refuse(p, "identity test of an unknown shape")
                del stack[-2:]
                stack.append(_Marker("test"))
            elif op in _JUMP_KINDS:
                if op == "POP_JUMP_FORWARD_IF_NOT_NONE" and isinstance(top, Node) and top.kind is None:
                    top.kind, top.text = "value", "None"  # ``case None``: the peephole pass's one jump
                elif not isinstance(top, _Marker) or (op == "POP_JUMP_FORWARD_IF_NONE") != (top.what in ("values", "attrs")):
                    raise self.refuse(p, "test of an unknown shape")
                stack.pop()
                fails.append(self.ex.target(ins))
            elif op == "MATCH_KEYS" and isinstance(top, Expr) and isinstance(getattr(top, "value", None), tuple):
                node = stack[-2]
                if not isinstance(node, Node) or node.kind != "map":
                    raise self.refuse(p, "keys of something that is not a mapping pattern")
                node.keys = [const_expr(k, ins).text for k in top.value]
                stack.append(_Marker("values", node))
            elif op == "MATCH_CLASS" and len(stack) >= 3 and isinstance(top, Expr) and isinstance(stack[-2], Expr):
                node = stack[-3]
                if not isinstance(node, Node) or node.kind is not None or not isinstance(getattr(top, "value", None), tuple):
                    raise self.refuse(p, "class pattern of an unknown shape")
                node.kind, node.cls, node.nargs, node.attrs = "class", stack[-2].text, arg, top.value
                del stack[-3:]
                stack.append(_Marker("attrs", node))
            elif op == "UNPACK_SEQUENCE" and (isinstance(top, _Marker) and top.what in ("values", "attrs")
                                              or isinstance(top, Node) and top.kind == "seq"):
                owner = top.node if isinstance(top, _Marker) else top
                children = [Node() for _ in range(arg)]
                owner.children = children
                stack.pop()
                stack.extend(reversed(children))
            elif op == "UNPACK_EX" and isinstance(top, Node) and top.kind == "seq":
                before, after = arg & 0xFF, arg >> 8
                children = [Node() for _ in range(before + 1 + after)]
                children[before].star_mark = True
                top.children, top.star = children, before
                stack.pop()
                stack.extend(reversed(children))
            elif op in _STORES and isinstance(top, Node):
                top.names.append(ins.argval)
                stack.pop()
            elif op == "POP_TOP" and top is not None:
                stack.pop()
            else:
                raise self.refuse(p, "no pattern rule for this instruction")
            p += 1
        return p

    def _is_or(self, p: int) -> bool:
        """Whether the ``COPY 1`` at ``p`` starts an or-pattern's first alternative: read it alone and
        see whether a jump to the or-pattern's end follows."""
        try:
            node = Node()
            end = self.run(p + 1, [node], 0, [])
        except (Refusal, IndexError):
            return False
        return end < len(self.instrs) and self.instrs[end].opname == "JUMP_FORWARD"

    def alternatives(self, p: int, node: Node, fails: list[int]) -> int:
        """Read ``a | b | ...`` from the ``COPY 1`` at ``p``; returns the index after the or-pattern."""
        texts: list[str] = []
        end = None
        while True:
            if self.instrs[p].opname != "COPY" or self.instrs[p].arg != 1:
                raise self.refuse(p, "or-pattern of an unknown shape")
            alt = Node()
            q = self.run(p + 1, [alt], 0, [])
            jump = self.instrs[q]
            if jump.opname != "JUMP_FORWARD" or (end is not None and self.ex.target(jump) != end):
                raise self.refuse(q, "or-pattern of an unknown shape")
            end = self.ex.target(jump)
            try:
                texts.append(alt.render())
            except ValueError as exc:
                raise self.refuse(p, str(exc)) from None
            if alt.names or any(c.names for c in alt.children):
                raise self.refuse(p, "captures inside an or-pattern")
            p = q + 1
            while self.instrs[p].opname == "POP_TOP":
                p += 1
            if self.instrs[p].opname == "JUMP_FORWARD" and p + 1 == end:
                fails.append(self.ex.target(self.instrs[p]))
                break
        node.kind, node.alternatives = "or", texts
        return end


def _constant(value: Any) -> Any:
    """A value the executor loaded, with the constant it holds where the pattern rules look for it."""
    const = getattr(value, "const", None)
    if isinstance(value, Expr) and const is not None:
        value.value = const[0]
    return value


def _after_pops(instrs: list, k: int) -> int:
    while k < len(instrs) and instrs[k].opname == "POP_TOP":
        k += 1
    return k


def match_statement(executor: Any, i: int, hi: int, stack: list, stmts: list, loaded: int = 0) -> int | None:
    """Read the match statement whose first case starts at ``i`` (a ``COPY 1`` of the subject on top
    of ``stack``, or the only case's first test); None when this is not one, nothing consumed."""
    consumed, declared = set(executor.consumed), set(executor.declared)
    try:
        return _match(executor, i, hi, stack, stmts, loaded)
    except (Refusal, ValueError, IndexError, KeyError, AttributeError, TypeError):
        executor.consumed, executor.declared = consumed, declared  # not a match statement after all
        return None


def _match(executor: Any, i: int, hi: int, stack: list, stmts: list, loaded: int = 0) -> int:
    instrs = executor.instrs
    reader = _Reader(executor)
    # ``loaded``: values the only case's pattern pushed above the subject before ``i`` (a class pattern's
    # class and attribute names, met at its ``MATCH_CLASS``)
    subject = stack[-1 - loaded]
    outer = stack[:-1 - loaded]
    extra = [_constant(v) for v in stack[len(stack) - loaded:]]
    cases: list = []
    end: int | None = None
    p = i
    while True:
        # a case's ``COPY 1`` of the subject, unless it is an or-pattern's own copy in the last case
        copied = instrs[p].opname == "COPY" and instrs[p].arg == 1
        try:
            pattern, guard, fails, nxt, body_start = _head(executor, reader, p, hi, outer, copied,
                                                           extra if p == i else [])
        except (Refusal, ValueError, IndexError):
            if not copied:
                raise
            copied = False
            pattern, guard, fails, nxt, body_start = _head(executor, reader, p, hi, outer, copied,
                                                           extra if p == i else [])
        if not fails:
            if copied:
                raise ValueError("an irrefutable case before the last")
            body_end = end if end is not None else hi
        else:
            body_end = min(fails)
        if body_end > hi:
            raise ValueError("case past the block")
        close = instrs[body_end - 1]
        loop_exit = executor.loops[-1].exit if executor.loops else None
        if (fails and close.opname == "JUMP_FORWARD" and body_end - 1 >= body_start
                and executor.target(close) != loop_exit):  # a jump out of the loop is the body's ``break``
            target = executor.target(close)
            if end is not None and target != end:
                raise ValueError("cases ending in different places")
            end = target
            body_end -= 1
        body, rest = executor.block(body_start, body_end, outer)
        if len(rest) != len(outer) and not _ends(body):
            raise ValueError("case body leaves values on the stack")
        cases.append((pattern, guard, body or [Line("pass")]))
        if not copied:
            break
        if nxt is None:
            raise ValueError("case without a way to the next one")
        p = nxt
    after = nxt if nxt is not None else body_end
    if end is not None and after < end:  # a trailing ``case _:`` whose body runs to the end
        body, rest = executor.block(after, end, outer)
        if len(rest) != len(outer) and not _ends(body):
            raise ValueError("default case leaves values on the stack")
        cases.append(("_", None, body or [Line("pass")]))
        after = end
    elif end is not None and after > end:
        raise ValueError("match ends before its last case")
    elif end is None and nxt is not None and after < hi and instrs[after].opname == "NOP":
        # every case returns and a ``NOP`` holds the line of a ``case _:``: its body is the rest of
        # the block (the code after a match whose cases all return runs only when none matched)
        body, rest = executor.block(after, hi, outer)
        if len(rest) != len(outer) and not _ends(body):
            raise ValueError("default case leaves values on the stack")
        cases.append(("_", None, body or [Line("pass")]))
        after = hi
    if len(cases) < 1 or after > hi:
        raise ValueError("not a match statement")
    del stack[len(stack) - 1 - loaded:]
    stmts.append(Match(executor.expr(subject, instrs[i]).text, cases))
    return after


def _head(executor: Any, reader: _Reader, p: int, hi: int, outer: list, copied: bool, extra: list) -> tuple:
    """A case's pattern and guard from ``p``: (pattern, guard, failure targets, the next case's start,
    where the body begins)."""
    instrs = executor.instrs
    node = Node()
    fails: list[int] = []
    sim = ([node, node] if copied else [node]) + extra
    q = reader.run(p + 1 if copied else p, sim, 1 if copied else 0, fails)
    pattern = node.render()
    nxt = _after_pops(instrs, min(fails)) if fails else None
    guard = None
    body_start = q
    test_end = q
    while test_end < hi and instrs[test_end].opname not in executor.table["cond_jumps"]:
        test_end += 1
    if test_end < hi and test_end > q:
        target = executor.target(instrs[test_end])
        after = test_end + 1 + copied
        # a last case's body ending in a jump to where its guard fails: 3.12+ (3.11 falls into it)
        closing = (nxt is None and not copied and test_end + 1 < target <= hi and instrs[target - 1].opname
                   == "JUMP_FORWARD" and executor.target(instrs[target - 1]) == target)
        if (target == nxt or (nxt is None and copied) or closing) and (not copied or instrs[test_end + 1].opname == "POP_TOP"):
            inner, rest = executor.speculate(q, test_end, outer)
            if not inner and len(rest) == len(outer) + 1 and isinstance(rest[-1], Expr):
                kind = executor.table["cond_jumps"][instrs[test_end].opname]
                value = rest[-1]
                guard = {"false": value.text, "true": f"not {value.p()}", "none": f"{value.p()} is not None",
                         "notnone": f"{value.p()} is None"}[kind]
                fails.append(target)
                nxt = _after_pops(instrs, min(fails))
                body_start = after
    if guard is None and copied:
        if instrs[q].opname != "POP_TOP":
            raise ValueError("case without its subject clean-up")
        body_start = q + 1
    return pattern, guard, fails, nxt, body_start


def render_match(node: Match, render_block: Any, indent: Any) -> list[str]:
    """Source lines of a match statement."""
    lines = [f"match {node.subject}:"]
    for pattern, guard, body in node.cases:
        lines.append(f"    case {pattern}{f' if {guard}' if guard else ''}:")
        lines += ["    " + line for line in indent(render_block(body))]
    return lines
