"""CPython 3.10's ``try`` and ``with`` blocks as 3.11's exception table, for :mod:`.py310`.

3.10 protects code with a block stack: ``SETUP_FINALLY``/``SETUP_WITH`` push a block naming the
handler, ``POP_BLOCK`` pops it, entering a handler pushes an "except handler" block that
``POP_EXCEPT`` pops, and a handler finds six values on the stack (the previous exception's three and
the new one's). 3.11 has no block instructions: a table maps each protected instruction to its
handler, a handler finds the exception (below it the last instruction's offset when ``lasti``) and
saves the previous one with ``PUSH_EXC_INFO``, and each ``try`` or ``with`` ends in a clean-up
(``COPY 3; POP_EXCEPT; RERAISE 1``) that protects its handlers.

The block stack before every instruction is found by following the jumps (the compiler makes it
the same on every path; where it is not, the function is refused), each instruction's 3.11 handler
is read from it, and the handlers' first instructions are rewritten:

- ``except T [as n]:`` ``DUP_TOP; T; JUMP_IF_NOT_EXC_MATCH; POP_TOP; STORE n|POP_TOP; POP_TOP`` is
  ``[PUSH_EXC_INFO]; T; CHECK_EXC_MATCH; POP_JUMP_FORWARD_IF_FALSE; STORE n|POP_TOP``; a bare
  ``except:`` pops three values where 3.11 pops one; a ``finally`` handler gains ``PUSH_EXC_INFO``.
- ``with``: ``SETUP_WITH`` is ``BEFORE_WITH``, the exit call ``LOAD_CONST None; DUP_TOP; DUP_TOP;
  CALL_FUNCTION 3`` is three constants and ``CALL 2``, and the handler is 3.11's.
- ``SETUP_FINALLY`` is the ``NOP`` 3.11 leaves for the ``try`` line (none for the block that clears
  an ``except ... as`` name), ``POP_BLOCK`` goes, and a value returned from a handler moves under
  one saved exception (``SWAP 2``) instead of three (``ROT_FOUR``).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from .streams import JUMP_OPCODES
from .symbolic import Refusal

#: an exception-table entry with the fields of 3.11's ``dis``
Entry = namedtuple("Entry", "start end target depth lasti")
_SETUPS = {"SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH"}
_ENDS = {"JUMP_ABSOLUTE", "JUMP_FORWARD", "RETURN_VALUE", "RAISE_VARARGS", "RERAISE"}
_EXTRA_310 = {"except": 3, "finally": 6, "name": 6, "with": 6, "async for": 6}  # values a handler's body sits on
_EXTRA_311 = {"except": 1, "finally": 2, "name": 2, "with": 2, "async for": 1}  # (before its own lasti)
#: an ``async with`` handler awaits ``__exit__``'s result between these (a ``SEND`` loop in 3.11)
_AWAIT = ["GET_AWAITABLE", "LOAD_CONST", "YIELD_FROM"]


class Blocks:
    """The block rules of :class:`skyplex_depyf.py310._Reader310` (its ``instrs`` and ``depth``)."""

    instrs: list
    depth: list

    def analyse_blocks(self) -> None:
        """The block stack before each instruction, each handler's kind and 3.11 depth, and the
        rewrites of the handlers' first instructions."""
        self.at = {ins.offset: k for k, ins in enumerate(self.instrs)}
        self.kind: dict[int, str] = {}  # handler offset -> except, finally, name (clears ``as n``), with
        self.level: dict[int, int] = {}  # handler offset -> 3.11 depth of the protected code
        self.setup_state: dict[int, tuple] = {}  # handler offset -> blocks outside its statement
        self.state: list[tuple | None] = [None] * len(self.instrs)
        self.block_ops: dict[int, Any] = {}
        self.cleanups_before: dict[int, list[int]] = {}
        self.with_exits: set[int] = set()  # the LOAD_CONST of each ``__exit__(None, None, None)``
        self.setup_index: dict[int, int] = {}  # handler offset -> index of its SETUP_*
        self.tails_before: dict[int, list[tuple[int, int, int]]] = {}  # index -> (handler, first, last)
        self.tail_jumps: dict[int, tuple[int, Any]] = {}  # first index of a copied tail -> (last, target)
        if not any(ins.opname in _SETUPS for ins in self.instrs):
            self.state = [()] * len(self.instrs)
            self.mark_with_exits()
            return
        self.follow_blocks()
        self.mark_with_exits()
        for handler, kind in self.kind.items():
            self.plan_handler(self.at[handler], kind)

    def ending_order(self, handlers: list[int]) -> list[int]:
        """Handlers whose statements end at the same place, in the order of their clean-ups: a statement
        nested in another's handler first (its clean-up is protected by the other's)."""
        return sorted(handlers, key=lambda h: -len(self.setup_state[h]))

    def refuse_blocks(self, ins: Any, why: str) -> Refusal:
        return Refusal(ins.offset, ins.opname, f"{why} (CPython 3.10 exception blocks)")

    def follow_blocks(self) -> None:
        self.state[0] = ()
        work = [0]
        while work:
            k = work.pop()
            here, ins = self.state[k], self.instrs[k]
            assert here is not None
            op = ins.opname
            follow: list[tuple[int, tuple]] = []
            if op in _SETUPS:
                handler = ins.argval
                if handler not in self.at:
                    raise self.refuse_blocks(ins, "handler outside the code")
                kind = self.handler_kind(self.at[handler], op)
                if self.kind.setdefault(handler, kind) != kind:
                    raise self.refuse_blocks(ins, "one handler reached from two kinds of block")
                gaps = sum(_EXTRA_310[self.kind[b[1]]] - _EXTRA_311[self.kind[b[1]]] - self.lasti(b[1])
                           for b in here if b[0] == "handler")
                # ``async with`` sets its block up after awaiting ``__aenter__``: its result is above the exit
                self.level[handler] = self.depth[k] - gaps - (op == "SETUP_ASYNC_WITH")
                self.setup_state[handler] = here
                self.setup_index[handler] = k
                follow += [(k + 1, here + (("setup", handler),)), (self.at[handler], here + (("handler", handler),))]
            elif op == "POP_BLOCK":
                if not here or here[-1][0] != "setup":
                    raise self.refuse_blocks(ins, "POP_BLOCK outside a block")
                follow.append((k + 1, here[:-1]))
            elif op in ("POP_EXCEPT", "END_ASYNC_FOR"):  # (an async for loop ends its handler too)
                if not here or here[-1][0] != "handler":
                    raise self.refuse_blocks(ins, f"{op} outside a handler")
                follow.append((k + 1, here[:-1]))
            else:
                if op not in _ENDS:
                    follow.append((k + 1, here))
                if ins.opcode in JUMP_OPCODES and ins.argval in self.at:
                    follow.append((self.at[ins.argval], here))
            for n, state in follow:
                if n >= len(self.instrs):
                    continue
                if self.state[n] is None:
                    self.state[n] = state
                    work.append(n)
                elif self.state[n] != state:
                    raise self.refuse_blocks(self.instrs[n], "reached inside two different blocks")

    def handler_kind(self, h: int, setup: str) -> str:
        names = [ins.opname for ins in self.instrs[h:h + 4]]
        if setup in ("SETUP_WITH", "SETUP_ASYNC_WITH"):
            if names[:1] != ["WITH_EXCEPT_START"]:
                raise self.refuse_blocks(self.instrs[h], "with handler of an unknown shape")
            return "with"
        if names[:1] == ["DUP_TOP"] or names[:3] == ["POP_TOP"] * 3:
            return "except"
        if names[:1] == ["END_ASYNC_FOR"]:  # an async for loop's end, its only instruction
            return "async for"
        if (len(names) == 4 and names[0] == "LOAD_CONST" and self.instrs[h].argval is None
                and names[1].startswith("STORE_") and names[2].startswith("DELETE_") and names[3] == "RERAISE"):
            return "name"
        return "finally"

    def layout(self) -> list[tuple]:
        """The order to read the instructions in: ("range", lo, hi) parts, ("else", lo, hi) for an
        ``else`` block moved, ("ends", k) for the statement ends due before index ``k``.

        3.10 puts a ``try`` statement's ``else`` block after the handlers, which jump past it; 3.11
        puts it right after the ``try`` body, jumping over the handlers to the statement's end."""
        parts: list[tuple] = [("range", 0, len(self.instrs))]
        self.else_exits: dict[int, int] = {}  # first index of a moved else block -> where the statement ends
        for handler, kind in sorted(self.kind.items()):
            if kind != "except":
                continue
            moved = self.else_block(handler)
            if moved is None:
                continue
            jump, e, end = moved
            for n, part in enumerate(parts):
                if part[0] == "range" and part[1] <= jump and end <= part[2]:
                    self.cleanups_before[("moved", e)] = self.cleanups_before.pop(e)  # after the handlers
                    parts[n:n + 1] = [("range", part[1], jump), ("else", e, end), ("range", jump + 1, e),
                                      ("ends", ("moved", e)), ("range", end, part[2])]
                    break
        return parts

    def else_block(self, handler: int) -> tuple[int, int, int] | None:
        """(index of the body's jump over the handlers, first and past-last index of the ``else``
        block), when the ``try`` with this handler has an ``else`` clause."""
        ins, h = self.instrs, self.at[handler]
        closing = [k for k in range(self.setup_index[handler] + 1, h) if ins[k].opname == "POP_BLOCK"
                   and self.state[k] and self.state[k][-1] == ("setup", handler) and ins[k + 1].opname == "JUMP_FORWARD"]
        if len(closing) != 1:
            return None  # (a return inside the body pops the block too, then returns)
        jump = closing[0] + 1
        e = self.at.get(ins[jump].argval)
        if e is None or e <= h or e not in self.cleanups_before or handler not in self.cleanups_before[e]:
            return None  # no clause between: the statement ends where the body jumps
        if e in self.tails_before:
            return None
        exits = {ins[k].argval for k in range(h, e) if ins[k].opname in ("JUMP_FORWARD", "JUMP_ABSOLUTE")
                 and self.state[k] == self.setup_state[handler]}
        copies = list(self.tail_jumps.items()) + list(getattr(self, "copies", {}).items())  # (exits 3.10 copied)
        exits |= {target for k, (_, target) in copies if h <= k < e and isinstance(target, int)}
        if len(exits) != 1:
            return None
        end = self.at.get(next(iter(exits)))
        if end is None or end <= e:
            return None
        cut = end
        for k in range(e, end):  # the handlers' exits may be threaded past the else block's own jump out
            if (ins[k].opname in ("JUMP_FORWARD", "JUMP_ABSOLUTE") and ins[k].argval == ins[end].offset
                    and not any(x.opcode in JUMP_OPCODES and ins[k].offset < x.argval < ins[end].offset
                                for x in ins[e:k + 1])):
                cut = k + 1
                break
        outside = self.setup_state[handler]
        if any((self.state[k] or ())[:len(outside)] != outside for k in range(e, cut)):
            return None  # (statements nested in the else block are moved with it)
        self.else_exits[e] = ins[end].offset
        return jump, e, cut

    def in_finally_handler(self, k: int) -> bool:
        state = self.state[k]
        return bool(state) and state[-1][0] == "handler" and self.kind[state[-1][1]] == "finally"

    def lasti(self, handler: int) -> int:
        """Whether 3.11's entry for this handler pushes the last instruction's offset (with, clean-ups)."""
        return int(self.kind[handler] in ("with", "name"))

    def handler_of(self, state: tuple | None) -> tuple[Any, int, bool] | None:
        """3.11's (target, depth, lasti) for code with this block stack, or None when unprotected."""
        for block, handler in reversed(state or ()):
            if block == "setup":
                return handler, self.level[handler], bool(self.lasti(handler))
            if self.kind[handler] == "async for":
                continue  # its END_ASYNC_FOR has no clean-up
            if self.kind[handler] != "name":  # a name's clean-up sits under its clause's protection
                return ("cleanup", handler), self.level[handler] + self.lasti(handler) + 1, True
        return None

    # the handlers' first instructions -------------------------------------------------------------
    def plan_handler(self, h: int, kind: str) -> None:
        ops = self.block_ops
        if kind == "async for":
            return  # END_ASYNC_FOR is 3.11's, and the loop ends with it
        if kind == "with":
            self.plan_with_handler(h)
        elif kind == "finally":
            ops[h] = ("push", None)
        elif kind == "except":
            clause = h
            while clause is not None:
                clause = self.plan_clause(clause, first=clause == h)
        last = max((k for k, s in enumerate(self.state) if s and ("handler", self.instrs[h].offset) in s), default=h)
        if kind == "with":
            return  # its clean-up goes inside its handler
        m = last + 1
        while m < len(self.instrs) and not (self.is_jump_target(m) or self.instrs[m - 1].opname in _ENDS):
            m += 1
        if kind != "name":
            self.cleanups_before.setdefault(m, []).append(self.instrs[h].offset)
            self.plan_tail(self.instrs[h].offset, m)

    def plan_tail(self, handler: int, m: int) -> None:
        """3.10 copies a short block ending in ``return`` that follows a ``try`` statement into each
        of the statement's exits (and drops the original when no jump reaches it any more); 3.11
        keeps it after the statement's handlers, and its exits jump there. The copies are the runs
        outside the statement, of one line after every line of the statement, each starting that
        line; one is put back after the handlers and the others jump to it."""
        lines = self.lines()
        s, outside, ins = self.setup_index[handler], self.setup_state[handler], self.instrs
        runs: list[tuple[int, int]] = []
        for r in range(s + 1, min(m, len(ins))):
            line = lines.get(ins[r].offset)
            if ins[r].opname != "RETURN_VALUE" or self.state[r] != outside or line is None:
                continue
            a = r
            while (a - 1 > s and lines.get(ins[a - 1].offset) == line and self.state[a - 1] == outside
                   and not self.is_jump_target(a)):
                a -= 1
            # a run another statement put back already (a ``try`` ending a ``finally`` body, in the body's
            # normal copy, ends with the ``try/finally``) goes back once
            if lines.get(ins[a - 1].offset) != line and a not in self.tail_jumps:
                runs.append((a, r))
        if not runs:
            return
        after = max(lines[ins[r].offset] for a, r in runs)  # a return inside the statement is no copy
        runs = [(a, r) for a, r in runs if lines[ins[r].offset] == after]
        inside = {q for a, r in runs for q in range(a, r + 1)}
        statement = [lines.get(ins[q].offset) or 0 for q in range(s, min(m, len(ins))) if q not in inside]
        shape = lambda a, r: [(x.opname, x.arg, x.argval, lines.get(x.offset)) for x in ins[a:r + 1]]  # noqa: E731
        first = shape(*runs[0])
        if any(shape(a, r) != first for a, r in runs) or max(statement, default=0) >= first[0][3]:
            return
        a0, r0 = runs[0]
        size = r0 - a0
        original = next((q for q in range(m, len(ins) - size) if shape(q, q + size) == first
                         and lines.get(ins[q - 1].offset) != first[0][3]), None)
        if original is not None:
            target: Any = ins[original].offset  # still there: after the handlers, or after an else block
        else:
            target = ("tail", handler)
            self.tails_before.setdefault(m, []).append((handler, a0, r0))
        for a, r in runs:
            self.tail_jumps[a] = (r, target)

    def plan_clause(self, c: int, first: bool) -> int | None:
        """Plan one ``except`` clause starting at ``c``; returns the next clause's index, if any."""
        ins, ops = self.instrs, self.block_ops
        if [x.opname for x in ins[c:c + 3]] == ["POP_TOP"] * 3:  # ``except:``
            ops[c] = ("bare", first)
            ops[c + 1] = ops[c + 2] = ("drop", None)
            return None
        if ins[c].opname != "DUP_TOP":
            raise self.refuse_blocks(ins[c], "except clause of an unknown shape")
        match = next((k for k in range(c + 1, len(ins)) if ins[k].opname == "JUMP_IF_NOT_EXC_MATCH"), None)
        if match is None or match + 3 >= len(ins) or ins[match + 1].opname != "POP_TOP" or ins[match + 3].opname != "POP_TOP":
            raise self.refuse_blocks(ins[c], "except clause of an unknown shape")
        ops[c] = ("push" if first else "drop", None)
        ops[match] = ("match", None)
        ops[match + 1] = ops[match + 3] = ("drop", None)
        nxt = self.at[ins[match].argval]
        return nxt if ins[nxt].opname in ("DUP_TOP", "POP_TOP") and ins[nxt].opname != "RERAISE" else None

    def plan_with_handler(self, h: int) -> None:
        """``WITH_EXCEPT_START`` (its result awaited, for ``async with``), the test of the result, the
        re-raise, and the exception's and ``__exit__``'s pops."""
        awaits = 3 if [x.opname for x in self.instrs[h + 1:h + 4]] == _AWAIT else 0
        names = [x.opname for x in self.instrs[h:h + 8 + awaits]]
        del names[1:1 + awaits]
        if names != ["WITH_EXCEPT_START", "POP_JUMP_IF_TRUE", "RERAISE", "POP_TOP", "POP_TOP", "POP_TOP",
                     "POP_EXCEPT", "POP_TOP"] or self.instrs[h + 1 + awaits].argval != self.instrs[h + 3 + awaits].offset:
            raise self.refuse_blocks(self.instrs[h], "with handler of an unknown shape")
        self.block_ops[h] = ("with_handler", awaits)

    def with_handler(self, k: int, out_type: Any, as_: Any, rewrite: Any) -> tuple[list, int]:
        """3.11's handler of a ``with`` statement for 3.10's at ``k``: the exception saved, the exit
        called (and awaited: ``rewrite`` reads the await's instructions), the test of its result, the
        re-raise under the statement's clean-up, then the pops."""
        ins, s = self.instrs[k], self.block_ops[k][1]
        bare = dict(arg=None, argval=None, argrepr="")
        h, after = ins.offset, self.state[k + 6 + s][:-1]
        unit = [out_type(as_(ins, "PUSH_EXC_INFO", **bare)), out_type(ins)]
        for q in range(k + 1, k + 1 + s):
            unit += rewrite(q)[0]
        test = out_type(as_(self.instrs[k + 1 + s], "POP_JUMP_FORWARD_IF_TRUE"), target=("exited", h))
        test.origins = [self.instrs[k + 1 + s].offset]  # where the await's SEND loop goes on
        unit += [test, out_type(as_(self.instrs[k + 2 + s], "RERAISE", arg=2, argval=2))]
        unit += self.cleanup(h)
        unit += [out_type(as_(self.instrs[k + 3 + s], "POP_TOP", **bare), key=("exited", h), state=self.state[k + 3 + s]),
                 out_type(as_(self.instrs[k + 6 + s], "POP_EXCEPT", **bare), state=after),
                 out_type(as_(self.instrs[k + 7 + s], "POP_TOP", **bare), state=after),
                 out_type(as_(self.instrs[k + 7 + s], "POP_TOP", **bare), state=after)]
        for item in unit:
            item.state = self.state[k] if item.state is None else item.state
        return unit, 8 + s

    def mark_with_exits(self) -> None:
        for k in range(3, len(self.instrs)):
            names = [x.opname for x in self.instrs[k - 3:k + 1]]
            if (names == ["LOAD_CONST", "DUP_TOP", "DUP_TOP", "CALL_FUNCTION"] and self.instrs[k - 3].argval is None
                    and self.instrs[k].arg == 3):
                self.with_exits.add(k - 3)

    def is_jump_target(self, k: int) -> bool:
        offset = self.instrs[k].offset
        return any(x.opcode in JUMP_OPCODES and x.argval == offset for x in self.instrs) or offset in self.kind
