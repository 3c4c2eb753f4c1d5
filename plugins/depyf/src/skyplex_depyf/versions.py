"""The normalising front end: a CPython version's instruction stream rewritten into the canonical
(3.11) operations the decompiler's rules are written against, so a new version is an opcode table in
:mod:`.opcodes` plus the small rules here, not a fork of the rules.

Every rewrite keeps the stack effect of what it replaces, so a rewritten stream runs exactly as the
original would; what the decompiler makes of it is still proven by recompiling the source under the
same interpreter and comparing bytecode. A shape no rule here recognises is left as it is, and the
decompiler then refuses it naming that instruction: nothing is guessed.

The rules, by version:

- 3.12: ``RETURN_CONST`` is ``LOAD_CONST`` + ``RETURN_VALUE``; ``BINARY_SLICE``/``STORE_SLICE`` are
  ``BUILD_SLICE 2`` + the subscript; ``LOAD_ATTR`` with the method bit is ``LOAD_METHOD``; the
  direction-free ``POP_JUMP_IF_*`` get their direction from the target; ``COPY 1; POP_JUMP_IF_X;
  POP_TOP`` is ``JUMP_IF_X_OR_POP``; ``END_FOR`` and ``END_SEND`` disappear (the loop or ``SEND``
  exits past them); ``CALL_INTRINSIC_1`` of a former instruction is that instruction; the handlers
  every generator and ``await`` gained (``STOPITERATION_ERROR``, ``CLEANUP_THROW``) are dropped with
  their table entries; and an inlined comprehension (PEP 709) becomes a call of a comprehension code
  object again, its saved and restored loop variables dropped; the ``NOP`` 3.12 keeps where a loop's
  bottom test falls out is dropped; a small returning block the compiler copied into an ``except``
  clause is a jump to the code after the ``try`` again (:mod:`.copies`); and a re-raise copied into a
  ``finally`` handler's ``if`` arm falls into or jumps to the handler's own (:mod:`.tails`).
- 3.13 adds: ``TO_BOOL`` disappears (one nothing tests is ``not not x``, 3.11's two ``UNARY_NOT``); the two-name superinstructions are split; ``CALL_KW`` is
  ``KW_NAMES`` + ``CALL``; ``MAKE_FUNCTION`` + ``SET_FUNCTION_ATTRIBUTE`` is one ``MAKE_FUNCTION``
  with flags; ``CONVERT_VALUE``/``FORMAT_SIMPLE``/``FORMAT_WITH_SPEC`` are ``FORMAT_VALUE``; and
  ``PUSH_NULL`` after a callable is ``PUSH_NULL; SWAP 2`` (3.11 pushed the NULL first).
"""

from __future__ import annotations

import dis
import sys
import types
from typing import Any

from .closings import closed_loop_bodies, folded_tests
from .conditions import GENERAL
from .finally312 import finally_after_copies, kept_finally_returns
from .copies import share_exit_copies, share_return_copies
from .inlined import InlinedComprehensions
from .jumps312 import spaced_for_arm_jumps
from .layout import relayout, renumbered
from .loop_breaks import breaking_whiles, breaks_onto_exit_nops
from .match312 import match_layout
from .opcodes import table_for
from .reraise_arms import share_arm_reraises
from .streams import DROPPED, JUMP_OPCODES as _JUMP_OPCODES, as_op as _as, double_negation, tested
from .tails import (close_threaded_arms, drop_twin_jumps, drop_twin_reraises, plain_back_jumps, share_branch_ends,
                    share_clause_exits, share_reraises, share_with_continuations, share_with_exit_tails, thread_with_exits)

_SYNTHETIC: dict[int, tuple[types.CodeType, list]] = {}  # id -> (comprehension code, its instructions)
_SYNTHETIC_LIMIT = 4096
_LAST: tuple[Any, Any, bool] = (None, None, False)  # the last code read and its reading: the executor asks twice


def instructions(code: types.CodeType) -> list[dis.Instruction]:
    """``code``'s instructions as canonical (3.11) operations."""
    return canonical(code)[0]


def exception_entries(code: types.CodeType) -> list:
    """``code``'s exception table, its offsets those of :func:`instructions`."""
    return canonical(code)[1]


def canonical(code: types.CodeType) -> tuple[list, list]:
    """(instructions, exception-table entries) of ``code`` in the canonical operations."""
    global _LAST
    threaded = GENERAL.get()  # the decompiler's second reading: 3.12 threads jumps 3.11 did not
    last = _LAST
    if last[0] is code and last[2] == threaded:
        return last[1]
    synthetic = _SYNTHETIC.get(id(code))
    if synthetic is not None and synthetic[0] is code:
        result: tuple[list, list] = (list(synthetic[1]), [])
    else:
        result = _Reader(code, threaded).read()
    _LAST = (code, result, threaded)
    return result


def constant_instruction(value: Any) -> dis.Instruction:
    """A ``LOAD_CONST value`` instruction, built with whatever fields this interpreter's ``dis`` has."""
    known = {"opname": "LOAD_CONST", "opcode": dis.opmap["LOAD_CONST"], "arg": 0, "argval": value,
             "argrepr": repr(value), "offset": 0, "start_offset": 0, "starts_line": None, "line_number": None,
             "is_jump_target": False, "label": None, "positions": None, "cache_info": None}
    return dis.Instruction(**{name: known.get(name) for name in dis.Instruction._fields})


def split_superinstructions(instrs: Any) -> list[dis.Instruction]:
    """3.13's two-name instructions (``LOAD_FAST_LOAD_FAST``, ...) as their two parts, the second at
    the odd offset after the first: exactly what they do. The compiler fuses two neighbours unless a
    ``NOP`` stands between them, and the verifier ignores ``NOP``s, so it compares the parts.

    ``RETURN_CONST c`` (3.12+) is split the same way, into ``LOAD_CONST c; RETURN_VALUE``, which is
    its definition: 3.12 fuses ``return 5`` but not the arm of ``return 5 if b else z`` (one source
    3.11 compiled alike), so the verifier compares the parts, never accepting another difference.
    An unconditional jump whose target, past ``NOP``s, is ``RETURN_CONST c`` is read as that return,
    which is what it does: 3.12 copies ``return c`` into a jump to it unless a ``NOP`` holding a
    line stands before it (a folded ``if`` of a constant), a line the source cannot always spell.
    A jump to an ``EXTENDED_ARG`` goes to the instruction it widens (the verifier drops the prefixes):
    3.12+'s ``dis`` names the prefix as the target of a jump to a long jump."""
    pairs = table_for()["superinstructions"]
    out: list = []
    instrs = list(instrs)
    returns = _constant_returns(instrs)
    widened = _widened(instrs)
    for ins in instrs:
        if ins.opcode in _JUMP_OPCODES and ins.argval in widened:
            ins = ins._replace(argval=widened[ins.argval])
        if ins.opname in _UNCONDITIONAL and ins.argval in returns:
            ins = _as(ins, "RETURN_CONST", opcode=dis.opmap["RETURN_CONST"], arg=returns[ins.argval].arg,
                      argval=returns[ins.argval].argval, argrepr=returns[ins.argval].argrepr)
        if ins.opname == "RETURN_CONST":
            out += [_as(ins, "LOAD_CONST"), _as(ins, "RETURN_VALUE", offset=ins.offset + 1, arg=None,
                                                 argval=None, argrepr="")]
        elif ins.opname in pairs and isinstance(ins.argval, tuple) and len(ins.argval) == 2:
            first, second = pairs[ins.opname]
            out += [_as(ins, first, arg=ins.arg >> 4, argval=ins.argval[0], argrepr=ins.argval[0]),
                    _as(ins, second, arg=ins.arg & 15, argval=ins.argval[1], argrepr=ins.argval[1],
                        offset=ins.offset + 1)]
        else:
            out.append(ins)
    return out


_UNCONDITIONAL = ("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")


def _constant_returns(instrs: list) -> dict[int, dis.Instruction]:
    """``{offset: the RETURN_CONST reached from it}`` for each offset whose next instruction, past
    ``NOP``s and ``EXTENDED_ARG`` prefixes, is a ``RETURN_CONST``."""
    found: dict[int, dis.Instruction] = {}
    reached = None
    for ins in reversed(instrs):
        if ins.opname == "RETURN_CONST":
            reached = ins
        elif ins.opname not in ("NOP", "EXTENDED_ARG"):  # a prefix only widens the return's argument
            reached = None
        if reached is not None:
            found[ins.offset] = reached
    return found


def _widened(instrs: list) -> dict[int, int]:
    """``{offset of an EXTENDED_ARG: offset of the instruction it widens}``."""
    found: dict[int, int] = {}
    pending: list[int] = []
    for ins in instrs:
        if ins.opname == "EXTENDED_ARG":
            pending.append(ins.offset)
            continue
        found.update((offset, ins.offset) for offset in pending)
        pending = []
    return found


def module_calls(code: types.CodeType) -> set[str]:
    """Globals called as ``module.function(...)`` in the spelling the compiler keeps for a name bound
    by a module-level ``import`` (an attribute load, not a method load): 3.11 and 3.12 load the global
    with a NULL and then ``LOAD_ATTR``; 3.13 loads both plainly and pushes the NULL after them."""
    found: set[str] = set()
    if sys.version_info[:2] < (3, 11):  # 3.10 loads a module's function like any other method
        return found
    instrs = [ins for ins in dis.get_instructions(code) if ins.opname != "EXTENDED_ARG"]
    for ins, nxt, after in zip(instrs, instrs[1:], instrs[2:] + [None]):
        if ins.opname != "LOAD_GLOBAL" or nxt.opname != "LOAD_ATTR" or not ins.argval.isidentifier():
            continue
        if sys.version_info[:2] < (3, 13) and ins.arg & 1:
            found.add(ins.argval)
        elif (sys.version_info[:2] >= (3, 13) and not ins.arg & 1 and not nxt.arg & 1
              and after is not None and after.opname == "PUSH_NULL"):
            found.add(ins.argval)
    return found


def _entries(code: types.CodeType) -> list:
    try:
        return list(dis._parse_exception_table(code))  # type: ignore[attr-defined]
    except Exception:
        return []


class _Reader(InlinedComprehensions):
    """One code object's canonical reading."""

    def __init__(self, code: types.CodeType, threaded: bool = False) -> None:
        self.code = code
        self.threaded = threaded  # read a hop over a back-jump as 3.11's forward jump to the loop's end
        self.version = sys.version_info[:2]
        self.table = table_for(self.version)
        self.instrs = list(dis.get_instructions(code))
        self.entries = _entries(code)
        self.moved: dict[int, int] = {}  # offset of a dropped instruction -> the offset that stands for it
        self.synthetic: list[tuple[types.CodeType, list]] = []
        self.added: list = []  # table entries for folded comprehensions, from the handler that covered them

    def read(self) -> tuple[list, list]:
        if self.version == (3, 11):
            return self.instrs, self.entries
        if self.version == (3, 10):  # no exception table and other call spellings: rules of its own
            from .py310 import read as read_310

            return read_310(self.code)
        # EXTENDED_ARG only widens the next instruction's argument, which dis has already read: without
        # it, the rules' patterns see neighbours as neighbours (a long jump after CLEANUP_THROW)
        self.instrs = self.compact([_as(i, DROPPED) if i.opname == "EXTENDED_ARG" else i for i in self.instrs])
        self.retarget(self.instrs)
        self.instrs, self.entries = closed_loop_bodies(self.code, self.instrs, self.entries)  # needs the gaps' handlers
        self.instrs = folded_tests(self.code, self.instrs, self.entries)
        self.drop_cold_handlers()
        stream = plain_back_jumps(self.compact(self.rewrite(self.instrs)))  # 3.13's except exits
        stream = self.fold_comprehensions(stream)
        stream = self.compact([_as(i, DROPPED) if i.opname == "END_FOR" else i for i in stream])
        for code, body in self.synthetic:
            body[:] = self.compact([_as(i, DROPPED) if i.opname == "END_FOR" else i for i in body])
            self.retarget(body)
            _register(code, body)
        self.retarget(stream)
        stream = self.compact(share_branch_ends(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = self.compact(share_with_continuations(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = self.compact(share_with_exit_tails(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = self.compact(kept_finally_returns(stream, share_exit_copies(stream, self.final_entries(stream))))
        self.retarget(stream)
        stream = self.compact(share_return_copies(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = self.compact(share_clause_exits(stream, self.final_entries(stream)))  # 3.13's copies
        self.retarget(stream)
        stream = self.compact(drop_twin_reraises(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = self.compact(drop_twin_jumps(stream, self.final_entries(stream)))
        self.retarget(stream)
        stream = share_reraises(stream, self.final_entries(stream))
        stream = share_arm_reraises(stream, self.final_entries(stream))  # and past branches (3.12+)
        stream = breaks_onto_exit_nops(breaking_whiles(stream))  # loop exits 3.11 laid out otherwise
        stream, spaced = spaced_for_arm_jumps(stream, self.final_entries(stream))  # room for arm jumps
        stream, hops = match_layout(stream, *close_threaded_arms(stream))  # 3.11's layout of match statements
        entries = self.final_entries(stream) if spaced is None else spaced
        if hops:
            stream, entries = renumbered(stream, entries)
        return finally_after_copies(*thread_with_exits(*relayout(stream, entries)))

    # dropping -----------------------------------------------------------------------------------------
    def compact(self, stream: list) -> list:
        """``stream`` without dropped instructions; each dropped offset moves to the next kept one."""
        kept: list = []
        pending: list[int] = []
        for ins in stream:
            if ins.opname == DROPPED:
                pending.append(ins.offset)
                continue
            for offset in pending:
                self.moved[offset] = ins.offset
            pending = []
            kept.append(ins)
        end = (stream[-1].offset + 2) if stream else 0
        for offset in pending:
            self.moved[offset] = end
        return kept

    def resolve(self, offset: int) -> int:
        seen = 0
        while offset in self.moved and seen < 10000:
            offset = self.moved[offset]
            seen += 1
        return offset

    def retarget(self, stream: list) -> None:
        for k, ins in enumerate(stream):
            if ins.opcode in _JUMP_OPCODES and isinstance(ins.argval, int):
                stream[k] = ins._replace(argval=self.resolve(ins.argval))

    def drop_cold_handlers(self) -> None:
        """The handlers 3.12 added to every generator (turning a leaked ``StopIteration`` into a
        ``RuntimeError``) and around every ``SEND`` (``CLEANUP_THROW``): no source spells them, the
        compiler adds them again, so they and their table entries go."""
        at = {ins.offset: k for k, ins in enumerate(self.instrs)}
        drop: set[int] = set()
        for entry in self.entries:
            k = at.get(self.resolve(entry.target))
            if k is None or k + 1 >= len(self.instrs):
                continue
            n = k + 1  # the next instruction, past the EXTENDED_ARG prefixes of a long jump
            while n + 1 < len(self.instrs) and self.instrs[n].opname == "EXTENDED_ARG":
                n += 1
            first, second = self.instrs[k], self.instrs[n]
            if (first.opname == "CALL_INTRINSIC_1" and first.argrepr == "INTRINSIC_STOPITERATION_ERROR"
                    and second.opname == "RERAISE") or (
                    first.opname == "CLEANUP_THROW" and second.opname.startswith("JUMP_BACKWARD")):
                drop |= set(range(k, n + 1))
            elif first.opname == "CLEANUP_THROW" and second.opname == "END_SEND":  # inline, in a handler
                drop.add(k)
        targets = {self.instrs[k].offset for k in drop}
        gone = {self.instrs[k].offset for k in drop}
        holes = [e for e in self.entries if e.target in targets and self.instrs[at[e.target]].opname == "CLEANUP_THROW"]
        self.entries = [e for e in self.entries if e.target not in targets]
        for hole in holes:  # a yield inside a try or with: 3.11 protected it like its neighbours
            before = next((e for e in self.entries if e.end == hole.start), None)
            after = next((e for e in self.entries if e.start == hole.end and e.start not in gone), None)
            if before is not None and after is not None and before[2:] == after[2:]:
                self.entries.append(before._replace(start=hole.start, end=hole.end))
        self.entries.sort(key=lambda e: e.start)
        self.instrs = [_as(ins, DROPPED) if k in drop else ins for k, ins in enumerate(self.instrs)]

    # one instruction (or a few adjacent ones) at a time ----------------------------------------------------
    def rewrite(self, instrs: list) -> list:
        out: list = []
        t = self.table
        self.targets = {ins.argval for ins in instrs if ins.opcode in _JUMP_OPCODES}
        self.targets |= {e.target for e in self.entries}
        k = 0
        while k < len(instrs):
            ins = instrs[k]
            op = ins.opname
            nxt = instrs[k + 1] if k + 1 < len(instrs) else None
            step = 1
            if op in t["renames"]:
                out.append(_as(ins, t["renames"][op]))
            elif op == "LOAD_GLOBAL" and self.zero_argument_super(instrs, k):
                _, cls, first, attr = instrs[k:k + 4]
                name = "LOAD_METHOD" if attr.arg & 1 else "LOAD_ATTR"
                out += [_as(ins, "LOAD_GLOBAL", arg=ins.arg | 1),  # ``super()``, then the attribute
                        _as(cls, "PRECALL", arg=0, argval=0, argrepr=""),
                        _as(first, "CALL", arg=0, argval=0, argrepr=""),
                        _as(attr, name)]
                step = 4
            elif op == "LOAD_ATTR" and ins.arg is not None and ins.arg & 1:
                out.append(_as(ins, "LOAD_METHOD"))
            elif op == "COPY" and ins.arg == 1 and self.or_pop(instrs, k) is not None:
                jump_at = self.or_pop(instrs, k)
                jump = instrs[jump_at]
                word = t["directionless"][jump.opname]
                out.append(_as(ins, f"JUMP_IF_{word}_OR_POP", opcode=jump.opcode, arg=jump.arg,
                               argval=jump.argval, argrepr=jump.argrepr))
                out += [_as(instrs[q], DROPPED) for q in range(k + 1, jump_at + 2)]
                step = jump_at + 2 - k
            elif op in t["directionless"] and self.backward_over(instrs, k) and self.twin_back_jumps(instrs, k):
                inverse = {"FALSE": "TRUE", "TRUE": "FALSE", "NONE": "NOT_NONE", "NOT_NONE": "NONE"}[
                    t["directionless"][op]]  # both ways go to the loop's head: 3.11's ``if x: continue``
                out.append(_as(ins, f"POP_JUMP_FORWARD_IF_{inverse}"))
            elif op in t["directionless"] and self.backward_over(instrs, k):
                inverse = {"FALSE": "TRUE", "TRUE": "FALSE", "NONE": "NOT_NONE", "NOT_NONE": "NONE"}[
                    t["directionless"][op]]
                closing = self.loop_end(instrs, k + 2, nxt.argval) if self.threaded else None
                if closing is not None:  # 3.11 jumped forward to the loop's own back-jump
                    out += [_as(ins, f"POP_JUMP_FORWARD_IF_{inverse}", argval=closing), _as(nxt, DROPPED)]
                else:
                    out += [_as(ins, f"POP_JUMP_BACKWARD_IF_{inverse}", arg=nxt.arg, argval=nxt.argval,
                                argrepr=nxt.argrepr), _as(nxt, DROPPED)]
                step = 2
                if self.lone_nop(instrs, k + 2):  # the hop's landing, kept for a line 3.11 did not keep
                    out.append(_as(instrs[k + 2], DROPPED))
                    step = 3
            elif op in t["directionless"]:
                way = "FORWARD" if ins.argval > ins.offset else "BACKWARD"
                out.append(_as(ins, f"POP_JUMP_{way}_IF_{t['directionless'][op]}"))
            elif op == "TO_BOOL" and not tested(nxt):  # 3.13's ``not not x``
                out += double_negation(ins)
            elif op == "TO_BOOL" or op == "END_SEND":
                out.append(_as(ins, DROPPED))
            elif op == "END_FOR":  # kept as a marker until comprehensions are folded; 3.13 adds a POP_TOP
                out.append(ins)
                if self.version >= (3, 13) and nxt is not None and nxt.opname == "POP_TOP":
                    out.append(_as(nxt, DROPPED))
                    step = 2
            elif op == "RETURN_CONST":
                out += [_as(ins, "LOAD_CONST"), _as(ins, "RETURN_VALUE", offset=ins.offset + 1, arg=None,
                                                     argval=None, argrepr="")]
            elif op in ("BINARY_SLICE", "STORE_SLICE"):
                out += [_as(ins, "BUILD_SLICE", arg=2, argval=2, argrepr=""),
                        _as(ins, "BINARY_SUBSCR" if op == "BINARY_SLICE" else "STORE_SUBSCR", offset=ins.offset + 1)]
            elif op == "CALL_INTRINSIC_1" and ins.argrepr in t["intrinsics"]:
                out.append(_as(ins, t["intrinsics"][ins.argrepr], arg=None, argval=None, argrepr=""))
            elif op in t["superinstructions"] and isinstance(ins.argval, tuple) and len(ins.argval) == 2:
                out += split_superinstructions([ins])
            elif op == "PUSH_NULL" and self.version >= (3, 13):  # pushed after the callable: put it below
                out += [ins, _as(ins, "SWAP", arg=2, argval=2, argrepr="", offset=ins.offset + 1)]
            elif op == "MAKE_FUNCTION" and self.version >= (3, 13):
                flags = 0
                while k + step < len(instrs) and instrs[k + step].opname == "SET_FUNCTION_ATTRIBUTE":
                    flags |= instrs[k + step].arg
                    step += 1
                out.append(_as(ins, "MAKE_FUNCTION", arg=flags, argval=flags))
                out += [_as(instrs[q], DROPPED) for q in range(k + 1, k + step)]
            elif op == "LOAD_CONST" and nxt is not None and nxt.opname == "CALL_KW" and isinstance(ins.argval, tuple):
                out += [_as(ins, "KW_NAMES"), _as(nxt, "PRECALL"), _as(nxt, "CALL", offset=nxt.offset + 1)]
                step = 2
            elif op == "CALL":  # 3.11 announced each call with a PRECALL, and the rules match on it
                out += [_as(ins, "PRECALL"), _as(ins, "CALL", offset=ins.offset + 1)]
            elif op == "CONVERT_VALUE" and self.format_of(instrs, k) is not None:
                out.append(_as(ins, DROPPED))
                at = self.format_of(instrs, k)
                instrs = list(instrs)
                instrs[at] = instrs[at]._replace(arg=ins.arg)  # the conversion travels to its format
            elif op in ("FORMAT_SIMPLE", "FORMAT_WITH_SPEC"):
                conversion = ins.arg or 0  # set above when a CONVERT_VALUE went before
                flags = conversion | (4 if op == "FORMAT_WITH_SPEC" else 0)
                out.append(_as(ins, "FORMAT_VALUE", arg=flags, argval=flags))
            else:
                out.append(ins)
            k += step
        return out

    def or_pop(self, instrs: list, k: int) -> int | None:
        """Index of the conditional jump when ``COPY 1`` at ``k`` opens ``COPY 1; [TO_BOOL];
        POP_JUMP_IF_FALSE/TRUE; POP_TOP``, 3.12's spelling of ``JUMP_IF_FALSE_OR_POP``."""
        q = k + 1
        if q < len(instrs) and instrs[q].opname == "TO_BOOL":
            q += 1
        if (q + 1 < len(instrs) and instrs[q].opname in ("POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE")
                and instrs[q].argval > instrs[q].offset and instrs[q + 1].opname == "POP_TOP"
                and not any(instrs[p].offset in self.targets for p in range(k + 1, q + 2))):
            return q  # (a jump landing inside would skip the pop once it is folded away: left as it is)
        return None

    @staticmethod
    def zero_argument_super(instrs: list, k: int) -> bool:
        """Whether ``LOAD_GLOBAL super; LOAD_DEREF __class__; LOAD_FAST self; LOAD_SUPER_ATTR`` starts
        at ``k``: 3.12's ``super().name`` without the call 3.11 made."""
        if k + 3 >= len(instrs):
            return False
        glob, cls, first, attr = instrs[k:k + 4]
        return (glob.argval == "super" and not glob.arg & 1 and cls.opname == "LOAD_DEREF"
                and cls.argval == "__class__" and first.opname in ("LOAD_FAST", "LOAD_DEREF")
                and attr.opname == "LOAD_SUPER_ATTR" and not attr.arg & 2)

    def backward_over(self, instrs: list, k: int) -> bool:
        """Whether the conditional jump at ``k`` only hops over a ``JUMP_BACKWARD``: 3.12 has no backward
        conditional jumps and spells 3.11's ``POP_JUMP_BACKWARD_IF_X T`` as ``POP_JUMP_IF_NOT_X over;
        JUMP_BACKWARD T; over:``."""
        if k + 2 >= len(instrs):
            return False
        hop, after = instrs[k + 1], instrs[k + 2]
        return (hop.opname == "JUMP_BACKWARD" and instrs[k].argval == after.offset
                and hop.offset not in self.targets)

    @staticmethod
    def twin_back_jumps(instrs: list, k: int) -> bool:
        """Whether the conditional jump at ``k`` hops over a ``JUMP_BACKWARD`` onto another to the same
        head: ``if x: continue`` ending a loop, which 3.12 lays out with the ``continue`` second and
        the condition reversed. Either way leads to the head, so the condition is read with the
        opposite sense over the first back-jump, 3.11's layout; the recompile proves the reading."""
        if k + 2 >= len(instrs):
            return False
        hop, landing = instrs[k + 1], instrs[k + 2]
        return landing.opname == "JUMP_BACKWARD" and landing.argval == hop.argval

    def lone_nop(self, instrs: list, k: int) -> bool:
        """Whether ``instrs[k]`` is a ``NOP`` that only the conditional jump just before the back-jump
        lands on: where a loop's bottom test falls out. 3.12 keeps it for the line of an enclosing
        statement whose jump it folded away; it does nothing, and the verifier skips ``NOP``s too."""
        if k >= len(instrs) or instrs[k].opname != "NOP" or any(e.target == instrs[k].offset for e in self.entries):
            return False
        landing = instrs[k].offset
        return sum(1 for ins in instrs if ins.opcode in _JUMP_OPCODES and ins.argval == landing) == 1

    @staticmethod
    def loop_end(instrs: list, k: int, head: int) -> int | None:
        """Offset of the next ``JUMP_BACKWARD`` to ``head`` from ``k``: where a loop closes."""
        return next((ins.offset for ins in instrs[k:] if ins.opname == "JUMP_BACKWARD" and ins.argval == head), None)

    @staticmethod
    def format_of(instrs: list, k: int) -> int | None:
        """Index of the ``FORMAT_SIMPLE``/``FORMAT_WITH_SPEC`` that formats the value ``CONVERT_VALUE``
        at ``k`` converted: the one meeting that value on top (simple) or just below the spec."""
        depth = 1
        for q in range(k + 1, min(len(instrs), k + 200)):
            ins = instrs[q]
            if ins.opname == "FORMAT_SIMPLE" and depth == 1:
                return q
            if ins.opname == "FORMAT_WITH_SPEC" and depth == 2:
                return q
            if ins.opcode in _JUMP_OPCODES:
                return None  # a branch inside the spec: the depth along one path says nothing, leave it
            try:
                depth += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)
            except ValueError:
                return None
            if depth < 1:
                return None
        return None

    # the table ---------------------------------------------------------------------------------------------
    def final_entries(self, stream: list) -> list:
        """Entries with offsets moved like the instructions, empty ones gone, and neighbours that send
        to the same handler joined."""
        kept = {ins.offset for ins in stream}
        order = [ins.offset for ins in stream]
        position = {offset: n for n, offset in enumerate(order)}
        out = []
        for e in sorted(self.entries + self.added, key=lambda e: e.start):
            start, end, target = self.resolve(e.start), self.resolve(e.end), self.resolve(e.target)
            if target not in kept or start not in position:
                continue
            if end not in position and end <= order[-1]:
                continue
            first, past = position[start], position.get(end, len(order))
            if first >= past:
                continue
            out.append(e._replace(start=start, end=end, target=target))
        joined: list = []
        for e in out:
            prev = joined[-1] if joined else None
            if (prev is not None and (prev.target, prev.depth, prev.lasti) == (e.target, e.depth, e.lasti)
                    and prev.end == e.start):
                joined[-1] = prev._replace(end=e.end)
            else:
                joined.append(e)
        return joined


def _register(code: types.CodeType, body: list) -> None:
    if len(_SYNTHETIC) >= _SYNTHETIC_LIMIT:
        for key in list(_SYNTHETIC)[:_SYNTHETIC_LIMIT // 2]:
            del _SYNTHETIC[key]
    _SYNTHETIC[id(code)] = (code, body)
