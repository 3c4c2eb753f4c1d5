"""CPython 3.10's instruction stream rewritten into the canonical (3.11) operations the decompiler's
rules are written against, so 3.10 is a table in :mod:`.opcodes` plus the rules here, not a fork.

What 3.10 spells differently, and its 3.11 spelling:

- calls: ``CALL_FUNCTION n`` / ``CALL_FUNCTION_KW n`` / ``CALL_FUNCTION_EX`` had no NULL below the
  callable; 3.11 pushes one first (``PUSH_NULL``, or the low bit of a ``LOAD_GLOBAL`` that is the
  whole callable), names the keywords with ``KW_NAMES`` instead of loading a tuple, and announces
  each call with ``PRECALL``. The callable's first instruction is found from the stack depths; a
  comprehension is called as 3.11 does, with its iterator in the NULL's place (``CALL 0``).
  ``CALL_METHOD n`` is ``PRECALL n; CALL n`` (``LOAD_METHOD`` already pushes the pair).
- ``BINARY_ADD``, ``INPLACE_ADD``, ... are ``BINARY_OP`` with the operator's number and symbol.
- ``DUP_TOP``/``DUP_TOP_TWO`` are ``COPY``; ``ROT_TWO``/``ROT_THREE``/``ROT_FOUR``/``ROT_N`` are
  ``SWAP``s; a chained comparison's ``DUP_TOP; ROT_THREE`` is 3.11's ``SWAP 2; COPY 2``.
- jumps: ``JUMP_ABSOLUTE`` and the absolute ``POP_JUMP_IF_*`` take their direction from the target.
- ``MAKE_FUNCTION`` popped a qualified name 3.11 reads from the code object: its load is dropped.
- generators: ``GEN_START`` is ``RETURN_GENERATOR; POP_TOP``, a ``yield`` is followed by ``RESUME``,
  and ``YIELD_FROM`` is 3.11's ``SEND`` loop.
- a ``NOP`` left by a statement the compiler folded away (``if 7:``) is ``if True: pass`` on the first
  reading: such a statement ends a block, which keeps 3.10 from copying the block after it.
- an ``if`` arm (or a ``case``) that ends in a copy of the block right after the statement, which a
  test jumps to, ended in a jump 3.10 replaced by the copy, as only an ``else`` arm makes it: the
  block is read with an empty ``else`` before it (``else: if True: pass``), which 3.10 lays out alike.
- match statements: ``MATCH_CLASS``/``MATCH_KEYS`` pushed a success flag that ``POP_JUMP_IF_FALSE``
  tests; 3.11 tests the attributes or values for None (``COPY 1; POP_JUMP_FORWARD_IF_NONE``). A
  ``case None`` test ``DUP_TOP; LOAD_CONST None; IS_OP 0; POP_JUMP_IF_FALSE`` is 3.11's
  ``COPY 1; POP_JUMP_FORWARD_IF_NOT_NONE``. The block after the statement, which 3.10 leaves where a
  failed pattern falls into it, goes after the cases (:meth:`.py310_copies.Copies.match_exit`).
  The tuple of a class or mapping pattern's parts that 3.10 reads by index is unpacked as in 3.11
  (:mod:`.py310_match`).

Every rewrite keeps what the code does; the source is proven by recompiling it under 3.10 and
comparing the bytecode, so a rewrite that went wrong can only make a function refused. 3.10 has no
exception table: its ``try``, ``with`` and ``async with`` blocks and the ``SETUP_FINALLY`` of an
``async for`` loop (whose handler is its ``END_ASYNC_FOR``) are read into one by
:mod:`.py310_blocks`; ``SETUP_ASYNC_WITH`` comes after ``__aenter__`` is awaited and is dropped.
"""

from __future__ import annotations

import dis
import types
from typing import Any

from .opcodes import table_for
from .py310_blocks import Blocks, Entry
from .py310_copies import Copies
from .py310_match import Parts
from .streams import JUMP_OPCODES

_ENDS_BLOCK = {"JUMP_ABSOLUTE", "JUMP_FORWARD", "RETURN_VALUE", "RAISE_VARARGS", "RERAISE"}
#: instructions that push a value without popping any: the first instruction of every expression
_FRESH = {"LOAD_FAST", "LOAD_CONST", "LOAD_GLOBAL", "LOAD_DEREF", "LOAD_CLOSURE", "LOAD_NAME",
          "LOAD_CLASSDEREF", "LOAD_ASSERTION_ERROR", "LOAD_BUILD_CLASS"}
_COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"}


def read(code: types.CodeType) -> tuple[list[dis.Instruction], list]:
    """(instructions, exception-table entries) of a 3.10 ``code`` in the canonical operations."""
    return _Reader310(code).read()


def owning_classes(code: types.CodeType) -> list[str]:
    """The classes a method sits in, read from the qualified name 3.10 loads for a function nested
    in it (``Calendar.monthdates.<locals>.<listcomp>``: ``["Calendar"]``); empty for a function of a
    module, or when a name is not plain."""
    instrs = list(dis.get_instructions(code))
    for name, make in zip(instrs, instrs[1:]):
        if make.opname == "MAKE_FUNCTION" and name.opname == "LOAD_CONST" and isinstance(name.argval, str):
            head, sep, _ = name.argval.rpartition(".<locals>.")
            parts = head.split(".")
            if not sep or parts[-1] != code.co_name or not all(p.isidentifier() for p in parts[:-1]):
                return []
            return parts[:-1]
    return []


def _canonical_jump(name: str) -> str:
    """The canonical family of a 3.10 jump; its direction is added once offsets are final."""
    return {"JUMP_ABSOLUTE": "JUMP_FORWARD", "POP_JUMP_IF_FALSE": "POP_JUMP_FORWARD_IF_FALSE",
            "POP_JUMP_IF_TRUE": "POP_JUMP_FORWARD_IF_TRUE"}.get(name, name)


class _Out:
    """One instruction of the canonical stream before its offset is known: ``origins`` are the 3.10
    offsets it stands for (jumps there land on it), ``key`` names an instruction made here for the
    jumps made here, ``target`` is the 3.10 offset or key it jumps to."""

    __slots__ = ("ins", "origins", "key", "target", "state")

    def __init__(self, ins: dis.Instruction, key: Any = None, target: Any = None, state: Any = None) -> None:
        self.ins, self.origins, self.key, self.target, self.state = ins, [], key, target, state


class _Reader310(Blocks, Copies, Parts):
    def __init__(self, code: types.CodeType) -> None:
        self.code = code
        self.table = table_for((3, 10))
        raw = list(dis.get_instructions(code))
        # EXTENDED_ARG only widens the next argument, which dis has already read; a jump to one lands
        # on the instruction it widens
        real: dict[int, int] = {}
        for ins in reversed(raw):
            real[ins.offset] = real.get(ins.offset + 2, ins.offset) if ins.opname == "EXTENDED_ARG" else ins.offset
        self.instrs = [ins._replace(argval=real.get(ins.argval, ins.argval)) if ins.opcode in JUMP_OPCODES else ins
                       for ins in raw if ins.opname != "EXTENDED_ARG"]
        self.depth = self.depths()
        self.analyse_blocks()

    # the stack depth before each instruction --------------------------------------------------------
    def depths(self) -> list[int | None]:
        """Depth before each instruction along any path reaching it (the compiler keeps it the same
        on every path); None where no path reaches."""
        at = {ins.offset: k for k, ins in enumerate(self.instrs)}
        depth: list[int | None] = [None] * len(self.instrs)
        if not self.instrs:
            return depth
        depth[0] = 1 if self.instrs[0].opname == "GEN_START" else 0  # the value sent to start it
        work = [0]
        while work:
            k = work.pop()
            ins = self.instrs[k]
            arg = ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None
            here = depth[k]
            assert here is not None
            follow: list[tuple[int, int]] = []
            if ins.opname not in _ENDS_BLOCK and k + 1 < len(self.instrs):
                follow.append((k + 1, here + dis.stack_effect(ins.opcode, arg, jump=False)))
            if ins.opcode in JUMP_OPCODES and ins.argval in at:
                follow.append((at[ins.argval], here + dis.stack_effect(ins.opcode, arg, jump=True)))
            for n, d in follow:
                if depth[n] is None:
                    depth[n] = d
                    work.append(n)
        return depth

    def callable_start(self, c: int, below: int) -> int | None:
        """Index of the first instruction of the callable of the call at ``c``, which has ``below``
        values above the callable; None when the depths do not show it plainly."""
        d = self.depth[c]
        if d is None:
            return None
        want = d - below - 1
        end = self.instrs[c].offset
        for q in range(c - 1, -1, -1):
            dq = self.depth[q]
            if dq is None or dq < want:
                return None
            if dq != want:
                continue
            start = self.instrs[q].offset
            if not any(ins.opcode in JUMP_OPCODES and start < ins.argval <= end for ins in self.instrs[:q]):
                return q  # no jump from before it lands inside: the whole callable starts here
        return None

    # the plan: which instructions gain a NULL, lose a load, or are read differently -------------------
    def plan(self) -> None:
        self.null_before: set[int] = set()  # PUSH_NULL goes before these
        self.null_bit: set[int] = set()  # LOAD_GLOBALs that push the NULL themselves
        self.kw_names: set[int] = set()  # keyword-name tuples loaded for CALL_FUNCTION_KW
        self.dropped: set[int] = set()  # qualified names loaded for MAKE_FUNCTION
        self.self_calls: set[int] = set()  # comprehension calls: no NULL, the iterator stands for self
        self.copies = self.exit_copies()  # start index -> (end index, offset of the block copied)
        self.empty_else = self.empty_else_arms()  # index of a block copied just before it -> its copy's start
        self.plan_parts()
        for c, ins in enumerate(self.instrs):
            op = ins.opname
            if op == "MAKE_FUNCTION" and c >= 2:
                name, code = self.instrs[c - 1], self.instrs[c - 2]
                if (name.opname == "LOAD_CONST" and isinstance(name.argval, str) and code.opname == "LOAD_CONST"
                        and isinstance(code.argval, types.CodeType)):
                    self.dropped.add(c - 1)
                continue
            if op == "CALL_FUNCTION_KW":
                names = self.instrs[c - 1] if c else None
                if names is None or names.opname != "LOAD_CONST" or not isinstance(names.argval, tuple):
                    continue
                self.kw_names.add(c - 1)
                below = ins.arg + 1
            elif op == "CALL_FUNCTION" and c - 3 in self.with_exits:
                continue  # a with statement's ``__exit__``, read by the block rules
            elif op == "CALL_FUNCTION":
                below = ins.arg
            elif op == "CALL_FUNCTION_EX":
                below = 1 + (ins.arg & 1)
            else:
                continue
            q = self.callable_start(c, below)
            if q is None:
                continue  # left as it is: refused naming the call
            if op == "CALL_FUNCTION" and ins.arg == 1 and self.comprehension_call(q, c):
                self.self_calls.add(c)
            elif self.instrs[q].opname == "LOAD_GLOBAL" and (
                    q + 1 == c - (op == "CALL_FUNCTION_KW") or self.instrs[q + 1].opname in _FRESH):
                self.null_bit.add(q)
            else:
                self.null_before.add(q)

    def comprehension_call(self, q: int, c: int) -> bool:
        """Whether the call at ``c`` (one argument, the callable from ``q``) calls a comprehension's
        code object on an iterator, which 3.11 spells as a call of the function with itself as self."""
        if self.instrs[c - 1].opname != "GET_ITER":
            return False
        for m in range(q + 2, c - 1):
            code, make, after = self.instrs[m - 2], self.instrs[m], self.instrs[m + 1]
            if (make.opname == "MAKE_FUNCTION" and code.opname == "LOAD_CONST"
                    and isinstance(code.argval, types.CodeType) and code.argval.co_name in _COMPREHENSIONS
                    and self.depth[m + 1] == self.depth[q] + 1 and after.opname in _FRESH):
                return True
        return False

    # rewriting ---------------------------------------------------------------------------------------
    def read(self) -> tuple[list[dis.Instruction], list]:
        self.plan()
        out: list[_Out] = []
        pending: list[int] = []  # offsets of dropped instructions: jumps there land on the next one kept
        parts = self.layout()
        moved = self.match_exit()
        if moved is not None and parts == [("range", 0, len(self.instrs))]:
            a, r = moved  # read after the cases; a jump to it where it stood
            parts = [("range", 0, a), ("hop", a), ("range", r + 1, len(self.instrs)), ("range", a, r + 1)]
        for part in parts:
            if part[0] == "ends":
                out += self.statement_ends(part[1])
                continue
            if part[0] == "hop":
                ins = self.instrs[part[1]]
                out.append(_Out(_as(ins, "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0),
                                target=ins.offset, state=self.state[part[1]]))
                continue
            k, hi = part[1], part[2]
            first = len(out)
            while k < hi:
                out += self.statement_ends(k)
                made, step = self.rewrite(k)
                claimed = {offset for item in made for offset in item.origins}  # (jumps inside the run)
                pending += [ins.offset for ins in self.instrs[k:k + step] if ins.offset not in claimed]
                for item in made:
                    item.state = self.state[k] if item.state is None else item.state
                if made:
                    made[0].origins = pending + made[0].origins
                    pending = []
                    out += made
                k += step
            if part[0] == "else":  # the statements nested in it end with it
                out += self.statement_ends(hi)
                self.else_exit(out[first:], out, part[1], part[2])
        out += self.statement_ends(len(self.instrs))
        return self.renumber(self.without_hops(out), pending)

    def else_exit(self, block: list[_Out], out: list[_Out], e: int, end: int) -> None:
        """A moved ``else`` block leaves by one jump to where the statement ends, as in 3.11: its
        fall-through, and its own jumps there (3.10 threads them past that jump)."""
        exit_offset = self.else_exits[e]
        inner = [item for item in block if item.target == exit_offset]
        last = block[-1] if block else None
        if last is not None and last.target == exit_offset and last.ins.opname == "JUMP_FORWARD":
            last.key = last.key or ("else exit", e)  # it ends in that jump already: the others go to it
            for item in inner[:-1]:
                item.target = last.key
            return
        if self.instrs[end - 1].opname in _ENDS_BLOCK and not inner:
            return
        key = ("else exit", e)
        for item in inner:
            item.target = key
        out.append(_Out(_as(self.instrs[e], "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0),
                        key=key, target=exit_offset, state=self.state[e]))

    def statement_ends(self, k: int) -> list[_Out]:
        """The clean-ups, and the blocks 3.10 only kept as copies, of the statements ending before ``k``."""
        out: list[_Out] = []
        for handler in self.ending_order(self.cleanups_before.pop(k, [])):
            out += self.cleanup(handler)
        for handler, first, last in self.tails_before.pop(k, []):
            out += self.tail(handler, first, last)
        return out

    def tail(self, handler: int, first: int, last: int) -> list[_Out]:
        """The block after a ``try`` statement that 3.10 only kept as copies, put back once."""
        made: list[_Out] = []
        k = first
        while k <= last:
            part, step = self.rewrite(k, as_copy=True)
            made += part
            k += step
        for item in made:
            item.state = self.setup_state[handler]
        if made:
            made[0].key = ("tail", handler)
        return made

    def cleanup(self, handler: int) -> list[_Out]:
        """3.11's clean-up of a handler: restore the saved exception and re-raise."""
        ins, outside = self.instrs[self.at[handler]], self.setup_state[handler]
        return [_Out(_as(ins, "COPY", arg=3, argval=3, argrepr=""), key=("cleanup", handler), state=outside),
                _Out(_as(ins, "POP_EXCEPT", arg=None, argval=None, argrepr=""), state=outside),
                _Out(_as(ins, "RERAISE", arg=1, argval=1, argrepr=""), state=outside)]

    def block_rewrite(self, k: int) -> tuple[list[_Out], int] | None:
        """The rewrite of a block instruction or a handler's first instructions, if ``k`` is one."""
        ins, op = self.instrs[k], self.instrs[k].opname
        bare = dict(arg=None, argval=None, argrepr="")
        plan, _ = self.block_ops.get(k, (None, None))
        if k in self.with_exits:
            none = [_Out(_as(self.instrs[k + n], "LOAD_CONST")) for n in range(3)]
            return none + [_Out(_as(self.instrs[k + 3], "PRECALL", arg=2, argval=2, argrepr="")),
                           _Out(_as(self.instrs[k + 3], "CALL", arg=2, argval=2, argrepr=""))], 4
        if plan == "drop":
            return [], 1
        if plan == "push" and op == "DUP_TOP":
            return [_Out(_as(ins, "PUSH_EXC_INFO", **bare))], 1
        if plan == "bare":
            first = self.block_ops[k][1]
            return [_Out(_as(ins, "PUSH_EXC_INFO", **bare))] * first + [_Out(_as(ins, "POP_TOP", **bare))], 1
        if plan == "match":
            return [_Out(_as(ins, "CHECK_EXC_MATCH", **bare)),
                    _Out(_as(ins, "POP_JUMP_FORWARD_IF_FALSE"), target=ins.argval)], 1
        if plan == "with_handler":
            return self.with_handler(k, _Out, _as, self.rewrite_one)
        if op == "SETUP_FINALLY":
            chained = k and self.instrs[k - 1].opname == "SETUP_FINALLY"  # try/except/finally: one NOP
            if self.kind[ins.argval] in ("name", "async for") or chained:
                return [], 1
            return [_Out(_as(ins, "NOP", **bare))], 1
        if op == "SETUP_WITH":
            return [_Out(_as(ins, "BEFORE_WITH", **bare))], 1
        if op == "SETUP_ASYNC_WITH":  # (after BEFORE_ASYNC_WITH and the await of ``__aenter__``)
            return [], 1
        if op == "POP_BLOCK":
            return [], 1
        if op == "POP_EXCEPT":
            return [_Out(ins, state=self.state[k][:-1])], 1
        if (op == "POP_TOP" and [x.opname for x in self.instrs[k + 1:k + 4]] == ["POP_TOP", "POP_TOP", "POP_EXCEPT"]
                and self.in_finally_handler(k)):  # leaving a finally handler: 3.10 pops three values, 3.11 one
            return [_Out(ins)], 3
        if (op == "ROT_FOUR" and [x.opname for x in self.instrs[k + 1:k + 4]] == ["POP_TOP"] * 3
                and self.in_finally_handler(k)):  # a value returned from a finally handler, under one exception
            return [_Out(_as(ins, "SWAP", arg=2, argval=2, argrepr="")), _Out(_as(ins, "POP_TOP", **bare))], 4
        if op == "ROT_FOUR" and k + 1 < len(self.instrs) and self.instrs[k + 1].opname == "POP_EXCEPT":
            return [_Out(_as(ins, "SWAP", arg=2, argval=2, argrepr=""))], 1  # a value returned from a handler
        return None

    def rewrite(self, k: int, as_copy: bool = False) -> tuple[list[_Out], int]:
        """The canonical instructions standing for the 3.10 instruction(s) at ``k``, and how many."""
        if k in self.empty_else and not as_copy:  # ``else: pass`` before the block the arm jumps past
            ins = self.instrs[k]
            rest, step = self.rewrite_one(k)
            bare = dict(arg=None, argval=None, argrepr="")
            past = ("past else", k)
            return [_Out(_as(ins, "LOAD_CONST", arg=0, argval=True, argrepr="True")),
                    _Out(_as(ins, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"]), target=past),
                    _Out(_as(ins, "NOP", **bare)), _Out(_as(ins, "NOP", **bare), key=past)] + rest, step
        return self.rewrite_one(k, as_copy)

    def rewrite_one(self, k: int, as_copy: bool = False) -> tuple[list[_Out], int]:
        """:meth:`rewrite` of the instruction(s) at ``k`` themselves."""
        ins = self.instrs[k]
        op = ins.opname
        nxt = self.instrs[k + 1] if k + 1 < len(self.instrs) else None
        t = self.table
        made: list[_Out] = []
        if k in self.tail_jumps and not as_copy:  # a copy of the block after a try statement
            last, target = self.tail_jumps[k]
            return [_Out(_as(ins, "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0), target=target)], last - k + 1
        block = self.block_rewrite(k) or self.parts_rewrite(k, _Out, _as)
        if block is not None:
            # a finally handler starting with a block instruction (a try ending the finally body) still
            # saves the exception first
            if self.block_ops.get(k, ("",))[0] == "push" and ins.opname != "DUP_TOP":
                block = ([_Out(_as(ins, "PUSH_EXC_INFO", arg=None, argval=None, argrepr=""))] + block[0], block[1])
            return block
        if self.block_ops.get(k, ("",))[0] == "push":  # a finally handler saves the exception first
            made.append(_Out(_as(ins, "PUSH_EXC_INFO", arg=None, argval=None, argrepr="")))
        if k in self.null_before:
            made.append(_Out(_as(ins, "PUSH_NULL", arg=None, argval=None, argrepr="")))
        if k in self.dropped:
            return made, 1
        if k in self.copies and not as_copy:  # the jump 3.10 replaced by a copy of the block it jumps to
            end, target = self.copies[k]
            if self.empty_else.get(end + 1) == k:
                target = ("past else", end + 1)
            made.append(_Out(_as(ins, "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0), target=target))
            return made, end - k + 1
        if op == "LOAD_GLOBAL":
            bit = 1 if k in self.null_bit else 0
            made.append(_Out(_as(ins, "LOAD_GLOBAL", arg=(ins.arg << 1) | bit,
                                 argrepr=("NULL + " if bit else "") + ins.argrepr)))
        elif k in self.kw_names:
            made.append(_Out(_as(ins, "KW_NAMES")))
        elif op in ("CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_METHOD"):
            argc = 0 if k in self.self_calls else ins.arg
            made += [_Out(_as(ins, "PRECALL", arg=argc, argval=argc, argrepr="")),
                     _Out(_as(ins, "CALL", arg=argc, argval=argc, argrepr=""))]
        elif op in t["binary_ops"]:
            number, symbol = t["binary_ops"][op]
            made.append(_Out(_as(ins, "BINARY_OP", arg=number, argval=number, argrepr=symbol)))
        elif op == "DUP_TOP" and nxt is not None and nxt.opname == "ROT_THREE" and not self.is_target(nxt):
            made += [_Out(_as(ins, "SWAP", arg=2, argval=2, argrepr="")),  # a chained comparison's copy
                     _Out(_as(nxt, "COPY", arg=2, argval=2, argrepr=""))]
            return made, 2
        elif op in ("MATCH_CLASS", "MATCH_KEYS") and self.match_test(k + 1):
            # 3.10 pushes a success flag above the attributes or values (None on failure); 3.11 does not
            # and tests them for None instead
            jump = self.instrs[k + 1]
            made += [_Out(ins), _Out(_as(jump, "COPY", arg=1, argval=1, argrepr="")),
                     _Out(_as(jump, "POP_JUMP_FORWARD_IF_NONE"), target=jump.argval)]
            return made, 2
        elif (op == "DUP_TOP" and self.match_test(k + 3) and [(x.opname, x.argval) for x in self.instrs[k + 1:k + 3]]
              == [("LOAD_CONST", None), ("IS_OP", 0)] and not any(self.is_target(x) for x in self.instrs[k + 1:k + 3])):
            # ``case None`` before the last case: 3.11's peephole pass makes the test one jump
            jump = self.instrs[k + 3]
            made += [_Out(_as(ins, "COPY", arg=1, argval=1, argrepr="")),
                     _Out(_as(jump, "POP_JUMP_FORWARD_IF_NOT_NONE"), target=jump.argval)]
            return made, 4
        elif op in t["copies"]:
            made += [_Out(_as(ins, "COPY", arg=n, argval=n, argrepr="")) for n in t["copies"][op]]
        elif op in t["rotations"] or op == "ROT_N":
            depths = t["rotations"].get(op) or tuple(range(ins.arg, 1, -1))
            made += [_Out(_as(ins, "SWAP", arg=n, argval=n, argrepr="")) for n in depths]
        elif op in ("JUMP_ABSOLUTE", "JUMP_FORWARD", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE",
                    "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "FOR_ITER"):
            made.append(_Out(_as(ins, _canonical_jump(op)), target=ins.argval))
        elif op == "GEN_START":
            made += [_Out(_as(ins, "RETURN_GENERATOR", arg=None, argval=None, argrepr="")),
                     _Out(_as(ins, "POP_TOP", arg=None, argval=None, argrepr=""))]
        elif op == "YIELD_VALUE":
            made += [_Out(ins), _Out(_as(ins, "RESUME", arg=1, argval=1, argrepr=""))]
        elif op == "YIELD_FROM":  # 3.11's loop: SEND to past it, yield, resume, back to the SEND
            send = ("send", ins.offset)
            after = nxt.offset if nxt is not None else ("end",)
            made += [_Out(_as(ins, "SEND", opcode=dis.opmap["JUMP_FORWARD"]), key=send, target=after),
                     _Out(_as(ins, "YIELD_VALUE", arg=None, argval=None, argrepr="")),
                     _Out(_as(ins, "RESUME", arg=2, argval=2, argrepr="")),
                     _Out(_as(ins, "JUMP_BACKWARD_NO_INTERRUPT", opcode=dis.opmap["JUMP_ABSOLUTE"]), target=send)]
        elif op == "NOP" and self.folded_statement(k):
            past = ("past folded", ins.offset)
            made += [_Out(_as(ins, "LOAD_CONST", arg=0, argval=True, argrepr="True")),
                     _Out(_as(ins, "POP_JUMP_FORWARD_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"]),
                          target=past),
                     _Out(ins), _Out(_as(ins, "NOP"), key=past)]
        elif op == "GET_AWAITABLE":  # 3.11 tells the await of ``__aenter__`` (1) and of ``__aexit__`` (2)
            before = self.instrs[k - 1].opname if k else ""
            which = 1 if before == "BEFORE_ASYNC_WITH" else 2 if before == "WITH_EXCEPT_START" or k - 4 in self.with_exits else 0
            made.append(_Out(_as(ins, "GET_AWAITABLE", arg=which, argval=which, argrepr="")))
        else:
            made.append(_Out(ins))
        return made, 1

    def match_test(self, k: int) -> bool:
        """Whether ``k`` is a ``POP_JUMP_IF_FALSE`` no jump lands on (a pattern's test)."""
        return k < len(self.instrs) and self.instrs[k].opname == "POP_JUMP_IF_FALSE" and not self.is_target(self.instrs[k])

    def is_target(self, ins: dis.Instruction) -> bool:
        return any(x.opcode in JUMP_OPCODES and x.argval == ins.offset for x in self.instrs)

    def renumber(self, out: list[_Out], trailing: list[int]) -> tuple[list[dis.Instruction], list]:
        """Offsets 0, 2, 4, ...; each jump pointed at what stands for its target, and named by its
        direction."""
        where: dict[Any, int] = {}
        for n, item in enumerate(out):
            for offset in item.origins:
                where.setdefault(offset, 2 * n)
            if item.key is not None:
                where[item.key] = 2 * n
        end = 2 * len(out)
        for offset in trailing:
            where.setdefault(offset, end)
        where[("end",)] = end
        stream: list[dis.Instruction] = []
        for n, item in enumerate(out):
            ins = item.ins._replace(offset=2 * n)
            if item.target is not None:
                target = where.get(item.target, end)
                ins = ins._replace(argval=target, argrepr=f"to {target}", opname=_directed(ins.opname, target > 2 * n))
            stream.append(ins)
        entries: list = []
        for n, item in enumerate(out):
            handler = self.handler_of(item.state)
            if handler is None:
                continue
            target, depth, lasti = handler
            entry = Entry(2 * n, 2 * n + 2, where.get(target, end), depth, lasti)
            if entries and entries[-1].end == entry.start and entries[-1][2:] == entry[2:]:
                entries[-1] = entries[-1]._replace(end=entry.end)
            else:
                entries.append(entry)
        return stream, entries


def _directed(name: str, forward: bool) -> str:
    way = "FORWARD" if forward else "BACKWARD"
    if name in ("JUMP_FORWARD", "JUMP_BACKWARD"):
        return f"JUMP_{way}"
    if name.startswith("POP_JUMP_FORWARD_IF_"):
        return f"POP_JUMP_{way}_IF_" + name.split("_IF_", 1)[1]
    return name


def _as(ins: dis.Instruction, opname: str, **changes: Any) -> dis.Instruction:
    """``ins`` as the canonical ``opname``. 3.10 has no opcode for most canonical names: a jump keeps
    its own (the rules tell jumps by opcode), anything else gets ``NOP``'s, which is no jump."""
    opcode = changes.pop("opcode", None)
    if opcode is None:
        opcode = ins.opcode if ins.opcode in JUMP_OPCODES and opname in _JUMP_NAMES else dis.opmap.get(opname)
        if opcode is None or (opcode in JUMP_OPCODES and opname not in _JUMP_NAMES):
            opcode = dis.opmap["NOP"]
    return ins._replace(opname=opname, opcode=opcode, **changes)


_JUMP_NAMES = {"JUMP_FORWARD", "JUMP_BACKWARD", "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_TRUE",
               "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "FOR_ITER", "SEND", "JUMP_BACKWARD_NO_INTERRUPT",
               "POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_FORWARD_IF_NOT_NONE"}
