"""The closing back-jump of a ``for`` loop whose body ends in ``if c: <arm>``, the arm leaving the loop
(``break``, ``return``, ``raise``), put back where 3.11 had it.

3.11 lays such a body out as ``POP_JUMP_FORWARD_IF_NOT_C close; <arm>; close: JUMP_BACKWARD head``.
3.12+ thread the test to the loop's head and, having no backward conditional jumps, spell it
``POP_JUMP_IF_C over; JUMP_BACKWARD head; over: <arm>``, with no back-jump after the arm. The same
instructions are what 3.12+ make of ``if not c: continue`` followed by the arm, with one difference:
the back-jump the compiler made while spelling the threaded test belongs to no exception-table entry
(3.13 leaves the test out as well), while a ``continue`` written in the source is covered like its
neighbours. Where the code around is covered (a generator's body, a ``try`` body), that gap tells
the two apart: such a test is sent forward to a closing back-jump put back at the loop's end.

Only loops the bytecode closes nowhere else are read so: a back-jump to the same head after the test
that is not itself such a hop closes the body (a comprehension's filter, ``if c: continue`` in the
middle), and the test is left as it is. Every reading is still proven by the recompile check.
"""

from __future__ import annotations

import dis
import sys
from typing import Any

from .streams import as_op, is_jump

_INVERSE = {"POP_JUMP_IF_TRUE": "POP_JUMP_IF_FALSE", "POP_JUMP_IF_FALSE": "POP_JUMP_IF_TRUE",
            "POP_JUMP_IF_NONE": "POP_JUMP_IF_NOT_NONE", "POP_JUMP_IF_NOT_NONE": "POP_JUMP_IF_NONE"}
_LEAVES = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "RETURN_VALUE", "RETURN_CONST",
           "RAISE_VARARGS", "RERAISE"}  # an arm that ends in one of these never falls out of the body
UNCOVERED = True  # the gap in the table is what marks a threaded test (mutation: False reads covered hops)
FOLDED_TEST = "(folded test)"  # the argrepr marking the test folded_tests puts back
EARLY = False  # mutation: the tests sent to the arm's last instruction, one before the closing back-jump
FOLD_ANYWHERE = False  # mutation: a folded test put back before every unconditional jump


_COMPREHENSIONS = {"<genexpr>", "<listcomp>", "<setcomp>", "<dictcomp>"}  # a body of one expression, no statements


def closed_loop_bodies(code: Any, instrs: list, entries: list) -> tuple[list, list]:
    """``instrs`` (3.12+ raw instructions, EXTENDED_ARG gone) with each threaded test ending a ``for``
    loop's body sent to a closing ``JUMP_BACKWARD`` put back before the loop's ``END_FOR`` (at the free
    odd offset before it), the hop over the back-jump gone; the table entries the gap split joined."""
    if code.co_name in _COMPREHENSIONS:
        return instrs, entries
    position = {ins.offset: n for n, ins in enumerate(instrs)}
    targets = {ins.argval for ins in instrs if is_jump(ins)} | {e.target for e in entries}
    table = list(entries)

    def covering(offset: int) -> Any:
        return next((e for e in table if e.start <= offset < e.end), None)

    def handler(offset: int) -> tuple | None:
        e = covering(offset)
        return None if e is None else (e.target, e.depth, e.lasti)

    loops: dict[int, list[int]] = {}  # index of a FOR_ITER -> indices of the threaded tests to its head
    for k in range(1, len(instrs) - 2):
        test, hop, landing = instrs[k:k + 3]
        if (test.opname not in _INVERSE or test.argval != landing.offset or hop.opname != "JUMP_BACKWARD"
                or hop.offset in targets):
            continue
        head = position.get(hop.argval)
        if head is None or instrs[head].opname != "FOR_ITER" or instrs[head].argval not in position:
            continue
        covered = handler(landing.offset)
        if UNCOVERED and (handler(hop.offset) is not None or covered is None
                          or handler(instrs[k - 1].offset) != covered):
            continue
        if not UNCOVERED and handler(hop.offset) is None:
            continue  # (mutation: the covered hops, a continue written in the source, read as threaded)
        loops.setdefault(head, []).append(k)
    changed: dict[int, Any] = {}  # index -> the instruction in its place (None: gone)
    for head, tests in loops.items():
        end = position[instrs[head].argval]  # the loop's END_FOR (3.13: and its POP_TOP), the back-jump's place
        tests = [k for k in tests if head < k and k + 2 < end]
        closers = [n for n in range(head + 1, end) if instrs[n].opname == "JUMP_BACKWARD"
                   and instrs[n].argval == instrs[head].offset and n - 1 not in tests]
        if closers and closers[-1] == end - 1:  # the body's last statement falls into its closing back-jump
            late = [k for k in tests if k > (closers[-2] if len(closers) > 1 else head) and k + 2 < end - 1
                    and _opname_at(instrs, position, handler(instrs[k - 1].offset)) != "SWAP"]  # (a comprehension)
            if late and _joined(table, instrs, late, covering):
                for k in late:
                    _send(changed, instrs, k, instrs[end - 1 - EARLY].offset)
            continue
        tests = [k for k in tests if not closers or k > closers[-1]]
        past = end + 1 + (instrs[end + 1].opname == "POP_TOP" and sys.version_info >= (3, 13))
        if (not tests or instrs[end].opname != "END_FOR" or instrs[end - 1].opname not in _LEAVES
                or past >= len(instrs) or any(instrs[n].offset in targets for n in range(end + 1, past))
                or sum(1 for ins in instrs if is_jump(ins) and ins.argval == instrs[end].offset) != 1
                or any(e.start in bounds or e.end in bounds
                       for e in table for bounds in [{instrs[n].offset for n in range(end + 1, past)}])
                or not _joined(table, instrs, tests, covering)):
            continue
        for k in tests:
            _send(changed, instrs, k, instrs[end].offset if not EARLY else instrs[end - 1].offset)
        changed[head] = instrs[head]._replace(argval=instrs[past].offset, argrepr=f"to {instrs[past].offset}")
        # no line: what the compiler makes of a folded statement before the loop's end carries the test's
        changed[end] = as_op(instrs[tests[-1] + 1], "JUMP_BACKWARD", offset=instrs[end].offset, positions=None)
        for n in range(end + 1, past):
            changed[n] = None
    if not changed:
        return instrs, entries
    out = [changed.get(n, ins) for n, ins in enumerate(instrs)]
    return [ins for ins in out if ins is not None], table


def folded_tests(code: Any, instrs: list, entries: list) -> list:
    """3.13: a test of a constant that is never true (``if 0: pass``, ``5 or y``) folds into a jump
    that belongs to no exception-table entry, where the code around is covered; the jump then takes the
    place of the next one (an ``if`` arm's closing jump, a loop's back-jump). (A jump leaving a ``try``
    body is outside its entry too, but so is where it goes.) Such a jump, going where the code around
    it is covered as it is, is read
    with ``LOAD_CONST 0; POP_JUMP_IF_FALSE`` to it before it (at its offset and the free odd one
    before it, the jump moving to the odd one after), which the rules write as ``if 0: pass``."""
    if sys.version_info[:2] < (3, 13) or code.co_name in _COMPREHENSIONS:
        return instrs
    position = {ins.offset: n for n, ins in enumerate(instrs)}

    def handler(offset: int) -> tuple | None:
        e = next((e for e in entries if e.start <= offset < e.end), None)
        return None if e is None else (e.target, e.depth, e.lasti)

    targets = {ins.argval for ins in instrs if is_jump(ins)}
    out: list = []
    moved: set[int] = set()
    changed = False
    for n, ins in enumerate(instrs):
        if (0 < n < len(instrs) - 1 and ins.opname in ("JUMP_FORWARD", "JUMP_BACKWARD")
                and (FOLD_ANYWHERE or handler(ins.offset) is None and handler(instrs[n - 1].offset) is not None
                     and handler(instrs[n - 1].offset) == handler(instrs[n + 1].offset) == handler(ins.argval)
                     and _opname_at(instrs, position, handler(instrs[n - 1].offset)) != "SWAP")  # (a comprehension)
                and not (ins.opname == "JUMP_BACKWARD" and instrs[n - 1].opname in _INVERSE
                         and instrs[n - 1].argval == instrs[n + 1].offset)  # a threaded test's hop
                and ins.offset - 1 not in position and ins.offset + 1 not in position):
            before = instrs[n - 1]
            if before.opname == "LOAD_CONST" and before.argval and ins.offset not in targets:
                # the value of ``5 or y`` (an arm of ``a if c else b``): 3.11's ``JUMP_IF_TRUE_OR_POP``
                out += [as_op(ins, "JUMP_IF_TRUE_OR_POP", opcode=dis.opmap["POP_JUMP_IF_TRUE"], arg=0,
                              argval=ins.offset + 1, argrepr=FOLDED_TEST, offset=ins.offset - 1),
                        as_op(before, "LOAD_CONST", arg=0, argval=0, argrepr="0", offset=ins.offset),
                        ins._replace(offset=ins.offset + 1)]
                changed = True
                continue
            out += [as_op(ins, "LOAD_CONST", opcode=dis.opmap["LOAD_CONST"], arg=0, argval=0, argrepr="0",
                          offset=ins.offset - 1),
                    as_op(ins, "POP_JUMP_IF_FALSE", opcode=dis.opmap["POP_JUMP_IF_FALSE"], arg=0,
                          argval=ins.offset + 1, argrepr=FOLDED_TEST),
                    ins._replace(offset=ins.offset + 1)]
            moved.add(ins.offset)
            continue
        out.append(ins)
    if not moved and not changed:
        return instrs
    return [ins._replace(argval=ins.argval - 1) if is_jump(ins) and ins.argval in moved else ins for ins in out]


def _opname_at(instrs: list, position: dict, handler: tuple | None) -> str | None:
    """The name of a handler's first instruction (an inlined comprehension's restores with ``SWAP``)."""
    n = position.get(handler[0]) if handler is not None else None
    return None if n is None else instrs[n].opname


def _joined(table: list, instrs: list, tests: list[int], covering: Any) -> bool:
    """Join, in ``table``, the two entries each threaded test's gap split (the one covering the
    instruction before the test, the one covering where it hops to); False, the table left as it was,
    where one does not end at the gap or the other start there."""
    saved = list(table)
    for k in tests:
        before, after = covering(instrs[k - 1].offset), covering(instrs[k + 2].offset)
        if before is None or after is None or before is after:
            continue
        if before.end > instrs[k + 2].offset or after.start <= instrs[k - 1].offset:
            table[:] = saved
            return False
        table[table.index(before)] = before._replace(end=after.end)
        table.remove(after)
    return True


def _send(changed: dict, instrs: list, k: int, close: int) -> None:
    """The threaded test at ``k`` sent forward to ``close`` on the opposite outcome; its hop gone."""
    name = _INVERSE[instrs[k].opname]
    changed[k] = as_op(instrs[k], name, opcode=dis.opmap[name], argval=close, argrepr=f"to {close}")
    changed[k + 1] = None
