"""Jumps 3.12+ lays out where 3.11 had others, put back for the rules written against 3.11.

:func:`spaced_for_arm_jumps`: :func:`.tails.close_threaded_arms` puts 3.11's closing jump of an ``if``
arm back at the free odd offset after the arm's last instruction. An arm ending in ``return c``
(``RETURN_CONST``, read as ``LOAD_CONST c; RETURN_VALUE`` at offsets ``n`` and ``n + 1``) leaves no
such offset before the ``else`` arm at ``n + 2``, and the threaded test was left as it was (then
refused as a jump leaving its block). Where that happens the stream is renumbered to offsets 0, 2,
4, ... first (order, jumps and handlers kept), which leaves an odd offset after every instruction.

:func:`closed_jump_arms` does what :func:`.tails.close_threaded_arms` does for an arm ending in
``return`` for an arm ending in ``break`` or ``continue``; :func:`breaks_to_loop_ends` sends a
``break`` 3.12 threaded past an ``else`` arm back to its loop's end. Both run in
:func:`spaced_for_arm_jumps`, before :func:`.tails.close_threaded_arms`."""

from __future__ import annotations

import dis
from typing import Any

from .layout import renumbered
from .streams import as_op

_LEAVING = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}
_LOOP_EXITS = {"JUMP_FORWARD", "JUMP_BACKWARD"}  # a break or a continue ending an arm
_BACK = {"JUMP_BACKWARD", "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_NONE",
         "POP_JUMP_BACKWARD_IF_NOT_NONE"}  # what closes a loop


def spaced_for_arm_jumps(stream: list, entries: list) -> tuple[list, list | None]:
    """(stream, entries) renumbered when an ``if`` arm's closing jump has no free offset to go to, or
    when :func:`closed_jump_arms` put closing jumps back; else (stream, None): nothing changed, the
    caller keeps its own table."""
    stream = breaks_to_loop_ends(stream)
    closed, added = closed_jump_arms(stream)
    if not added and not _crowded(stream):
        return stream, None
    return renumbered(closed, entries)


def breaks_to_loop_ends(stream: list) -> list:
    """A ``break`` out of a ``for`` loop that ends an ``if`` arm before an ``else`` arm: 3.12 threads it
    through the arm's closing ``JUMP_FORWARD`` right after the loop, past the ``else`` arm; 3.11 (and
    the rules) jump to the loop's end, where that closing jump stands. Each forward jump in the
    innermost loop around it to where the jump after the loop goes is sent to that jump again:
    jumping to a jump is the same as jumping where it goes. Offsets are kept. (A ``while`` loop's
    end is not read here: its bottom test and a ``continue`` both jump back, to different heads.)"""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    ends: dict[int, int] = {}  # index of a for loop's FOR_ITER -> index of the instruction after the loop
    for n, ins in enumerate(stream):
        if ins.opname == "FOR_ITER" and ins.argval in position:
            ends[n] = position[ins.argval]
    loops = [(head, end) for head, end in ends.items() if end < len(stream)]
    arms = {ins.argval for ins in stream if ins.opname.startswith("POP_JUMP_FORWARD_IF_")}
    out = list(stream)
    for head, end in loops:
        after = stream[end]
        if after.opname != "JUMP_FORWARD" or not head < end or end + 1 >= len(stream):
            continue
        if stream[end + 1].offset not in arms or stream[end + 1].offset <= stream[head].offset:
            continue  # the jump after the loop closes no if arm before an else arm
        for k in range(head + 1, end):
            ins = stream[k]
            if ins.opname != "JUMP_FORWARD" or ins.argval != after.argval:
                continue
            innermost = min(((h, e) for h, e in loops if h <= k < e), key=lambda loop: loop[1] - loop[0])
            if innermost == (head, end):
                out[k] = ins._replace(argval=after.offset)
    return out


def closed_jump_arms(stream: list) -> tuple[list, int]:
    """An ``if`` arm ending in ``if c: break`` (or ``continue``) before an ``else`` arm: 3.12 threads
    the inner test's failure past the ``else`` arm, where the arm's end would have jumped; 3.11
    jumped to the arm's own closing ``JUMP_FORWARD``. That jump is put back after the ``break`` (at
    the free odd offset after it; the caller renumbers) and the arm's tests leaving past the ``else``
    go to it: jumping to a jump is the same as jumping where it goes, and nothing falls into it.
    Returns the stream and how many jumps were put back."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    taken = set(position)
    hops: dict[int, Any] = {}  # index of the else arm's first instruction -> the closing jump before it
    out = list(stream)
    for i, test in enumerate(stream):
        if not test.opname.startswith("POP_JUMP_FORWARD_IF_") or test.argval not in position:
            continue
        e = position[test.argval]  # the else arm's first instruction
        if e <= i + 2 or e in hops or stream[e - 1].opname not in _LOOP_EXITS:
            continue
        inner = [k for k in range(i + 1, e - 1) if out[k].opname.startswith("POP_JUMP_FORWARD_IF_")
                 and isinstance(out[k].argval, int) and out[k].argval > test.argval]
        targets = {out[k].argval for k in inner}
        if len(targets) != 1:
            continue
        target = next(iter(targets))
        free = stream[e - 1].offset + 1
        if (target not in position or free in taken or free >= test.argval
                or not _leaves_loop(stream, position, stream[e - 1], i, target)):
            continue
        taken.add(free)
        hops[e] = as_op(stream[e - 1], "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0,
                        argval=target, argrepr="", offset=free)
        for k in inner:
            out[k] = out[k]._replace(argval=free)
    if not hops:
        return stream, 0
    placed: list = []
    for n, ins in enumerate(out):
        if n in hops:
            placed.append(hops[n])
        placed.append(ins)
    return placed, len(hops)


def _crowded(stream: list) -> bool:
    """Whether a forward conditional jump lands right after an instruction that leaves the function
    and sits at the offset just before its target: no odd offset is free between them."""
    position = {ins.offset: n for n, ins in enumerate(stream)}
    for ins in stream:
        if not ins.opname.startswith("POP_JUMP_FORWARD_IF_") or not isinstance(ins.argval, int):
            continue
        e = position.get(ins.argval)
        if e is None or e == 0:
            continue
        last: Any = stream[e - 1]
        if last.opname in _LEAVING and last.offset + 1 == ins.argval:
            return True
    return False


def _leaves_loop(stream: list, position: dict, jump: Any, i: int, target: int) -> bool:
    """Whether ``jump``, ending the arm the test at ``i`` skips, is a ``break`` (forward past
    ``target``, where the arm's threaded tests go, to the end of a loop that starts before the test:
    a ``for`` loop's exit or the instruction after a bottom test or back-jump to before the test) or a
    ``continue`` (back before the test); not a case body's jump past a ``match`` statement's other
    cases, nor a jump inside a condition (``if (x if c else y):`` jumps forward to its body)."""
    test = stream[i]
    if jump.opname != "JUMP_FORWARD":
        return jump.argval < test.offset
    end = position.get(jump.argval)
    if jump.argval <= target or end is None:
        return False
    if any(ins.opname == "FOR_ITER" and ins.argval == jump.argval for ins in stream[:i]):
        return True
    back = stream[end - 1]
    return back.opname in _BACK and isinstance(back.argval, int) and back.argval <= test.offset
