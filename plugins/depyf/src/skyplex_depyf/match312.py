"""``match`` statements of CPython 3.12 and 3.13, read as 3.11's for :mod:`.patterns`.

A failing pattern test jumps into a run of ``POP_TOP`` that clears what the pattern had pushed, each
test entering the run where the values still on the stack are popped; a case whose body ends in
``return`` stands right before that run. :func:`.tails.close_threaded_arms` takes such a test and the
later tests of the same pattern, which jump further into the run, for an ``if`` arm whose inner tests
3.12 threaded past the ``else`` arm, and routes the later tests through a ``JUMP_FORWARD`` it puts
before the run. 3.11 has no such jump, and the pattern rules read none: :func:`keep_pattern_tests`
takes those jumps out again, the tests jumping straight into the run as the compiler laid them out.
Jumping to a jump is the same as jumping where it goes, and the removed jump follows an instruction
that leaves the function, so nothing falls into it: the code does the same either way."""

from __future__ import annotations

from typing import Any

from .streams import JUMP_OPCODES

_LEAVING = {"RETURN_VALUE", "RERAISE", "RAISE_VARARGS"}


def keep_pattern_tests(given: list, stream: list, hops: int) -> tuple[list, int]:
    """``stream``, which :func:`.tails.close_threaded_arms` made of ``given`` putting back ``hops``
    jumps, and the count of those jumps left, without those that stand before a pattern's run of pops
    and jump into or just past it (the run a failing pattern test enters): the tests routed through
    such a jump go straight to its target again."""
    if not hops:
        return stream, hops
    kept = {ins.offset for ins in given}  # a jump put back stands at an offset no given instruction has
    position = {ins.offset: n for n, ins in enumerate(stream)}
    undone: dict[int, int] = {}  # offset of a removed jump -> its target
    for n, hop in enumerate(stream[1:-1], 1):
        if hop.offset in kept or not _is_pattern_hop(stream, n, position):
            continue
        undone[hop.offset] = hop.argval
    if not undone:
        return stream, hops
    out: list = []
    for ins in stream:
        if ins.offset in undone:
            continue
        if ins.opcode in JUMP_OPCODES and ins.argval in undone:
            ins = ins._replace(argval=undone[ins.argval])
        out.append(ins)
    return out, hops - len(undone)


def _is_pattern_hop(stream: list, n: int, position: dict) -> bool:
    """Whether ``stream[n]`` is a jump :func:`.tails.close_threaded_arms` put before a pattern's pops:
    after an instruction that leaves, before a run of ``POP_TOP``, jumping into the run or to just past it,
    and reached only by forward conditional jumps."""
    hop, before = stream[n], stream[n - 1]
    if (hop.opname != "JUMP_FORWARD" or before.opname not in _LEAVING
            or not isinstance(hop.argval, int) or hop.argval not in position):
        return False
    run = n + 1
    while run < len(stream) and stream[run].opname == "POP_TOP":
        run += 1
    if run == n + 1 or not n + 1 < position[hop.argval] <= run:
        return False
    jumpers = [ins for ins in stream if ins.opcode in JUMP_OPCODES and ins.argval == hop.offset]
    return bool(jumpers) and all(_forward_test(ins, hop) for ins in jumpers)


def _forward_test(ins: Any, hop: Any) -> bool:
    return ins.opname.startswith("POP_JUMP_FORWARD_IF_") and ins.offset < hop.offset
