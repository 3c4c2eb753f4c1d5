"""What the front end's rules share: the marker of a dropped instruction and the renaming of one."""

from __future__ import annotations

import dis
from typing import Any

DROPPED = "<dropped>"  # an instruction the canonical stream does without; jumps to it go to the next one
JUMP_OPCODES = set(dis.hasjrel) | set(dis.hasjabs)


def is_jump(ins: Any) -> bool:
    """A jump instruction whose target is known (an offset)."""
    return ins.opcode in JUMP_OPCODES and isinstance(ins.argval, int)


def source_key(ins: Any) -> tuple | None:
    """What two copies of one source instruction share (name, argument, source position); None for an
    instruction without a full position."""
    positions = getattr(ins, "positions", None)
    if positions is None or positions.lineno is None or positions.col_offset is None:
        return None
    return (ins.opname, repr(ins.argval), tuple(positions))


def as_op(ins: dis.Instruction, opname: str, **changes: Any) -> dis.Instruction:
    """``ins`` renamed; a new name that is no jump never keeps a jump's opcode (the rules tell jumps by
    opcode), and the name's own opcode is used where this interpreter has one."""
    opcode = changes.pop("opcode", None)
    if opcode is None:
        opcode = dis.opmap.get(opname, ins.opcode)
        if opcode in JUMP_OPCODES and ins.opcode not in JUMP_OPCODES:
            opcode = ins.opcode
    return ins._replace(opname=opname, opcode=opcode, **changes)


def tested(ins: dis.Instruction | None) -> bool:
    """Whether ``ins``, right after 3.13's ``TO_BOOL``, uses the truth value as a test or negates it
    (a conditional jump, ``UNARY_NOT``): the ``TO_BOOL`` then only spells out what 3.11's instruction
    did by itself. A ``TO_BOOL`` followed by anything else is ``not not x``."""
    return ins is not None and (ins.opname == "UNARY_NOT" or ins.opname.startswith("POP_JUMP_"))


def double_negation(ins: dis.Instruction) -> list:
    """A ``TO_BOOL`` that is not :func:`tested` as 3.11 spelt ``not not x``: ``UNARY_NOT`` twice (the
    second at the free odd offset after the first), the same truth value."""
    return [as_op(ins, "UNARY_NOT"), as_op(ins, "UNARY_NOT", offset=ins.offset + 1)]


def forward_jump(ins: dis.Instruction, target: int, **changes: Any) -> dis.Instruction:
    """``ins`` made a ``JUMP_FORWARD`` to the instruction at offset ``target`` (the rewrites' way to put
    back a jump the newer compilers replaced by a copy or let fall through)."""
    return as_op(ins, "JUMP_FORWARD", opcode=dis.opmap["JUMP_FORWARD"], arg=0, argval=target, argrepr="", **changes)


def placed_before(out: list, hops: dict[int, dis.Instruction]) -> tuple[list, int]:
    """``out`` with ``hops[n]`` put right before its ``n``-th instruction, and how many were put."""
    if not hops:
        return out, 0
    placed: list = []
    for n, ins in enumerate(out):
        if n in hops:
            placed.append(hops[n])
        placed.append(ins)
    return placed, len(hops)
