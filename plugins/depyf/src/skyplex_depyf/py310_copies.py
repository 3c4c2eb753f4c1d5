"""The copies CPython 3.10's optimizer makes that 3.11's does not, undone for :mod:`.py310`: a short
block ending in ``return``, ``raise`` or a re-raise copied in place of a jump to it, and the jumps to
the very next instruction that dropping 3.10's ``POP_BLOCK``s leaves; and where 3.10 did not copy
(a folded ``if 7:`` ends a block) or copied where only an ``else`` arm makes it, the statements that
3.10 lays out the same."""

from __future__ import annotations

import types
from typing import Any

from .streams import JUMP_OPCODES

_MAX_COPY = 4  # the most instructions 3.10 copies from a small block ending in ``return``


class Copies:
    """The copy rules of :class:`skyplex_depyf.py310._Reader310` (its ``code``, ``instrs``, ``state``)."""

    code: types.CodeType
    instrs: list
    state: list
    copies: dict
    block_ops: dict

    def exit_copies(self) -> dict[int, tuple[int, int]]:
        """Blocks 3.10 copied in place of a jump to a small block ending in ``return``, ``raise`` or a
        re-raise (3.11 keeps the jump): a run ending there whose instructions, names, line numbers and
        blocks equal those of a later run, entered only at its start, either both starting a line (or
        reached by a jump) or, for a re-raise, at least two instructions long. The same line numbers
        tell a copy from a second ``return`` the source spelled out (it has a line of its own)."""
        lines = self.lines()
        targets = {ins.argval for ins in self.instrs if ins.opcode in JUMP_OPCODES}
        same = lambda x, y: (x.opname, x.arg, x.argval, lines.get(x.offset)) == (  # noqa: E731
            y.opname, y.arg, y.argval, lines.get(y.offset))
        found: dict[int, tuple[int, int]] = {}
        returns = [k for k, ins in enumerate(self.instrs) if ins.opname in ("RETURN_VALUE", "RERAISE", "RAISE_VARARGS")]
        for r in returns:
            for later in (x for x in returns if x > r):
                n = 0  # instructions matched backwards from the two returns
                while (n < _MAX_COPY and r - n >= 0 and later - n > r and same(self.instrs[r - n], self.instrs[later - n])
                       and lines.get(self.instrs[r - n].offset) is not None):
                    n += 1
                    if self.instrs[later - n + 1].offset in targets:
                        break
                copy = self.copy_run(r, later, self.copy_lengths(n), lines, targets)
                if copy is not None:
                    found[copy[0]] = (r, self.instrs[copy[1]].offset)
                    break
        # a copy of a copy jumps where that copy jumps: 3.11 threads a jump to a jump
        start_of = {self.instrs[a].offset: a for a in found}
        for a, (r, target) in found.items():
            seen = {a}
            while target in start_of and start_of[target] not in seen:
                seen.add(start_of[target])
                target = found[start_of[target]][1]
            found[a] = (r, target)
        return found

    def copy_lengths(self, n: int) -> range:
        """The lengths a copy may have when ``n`` instructions before two returns are alike, longest
        first: the code before both may be alike too (3.11 lays out both branches of a conditional
        expression before an ``if`` body alike, and 3.10 copies the body into the first)."""
        return range(n, 0, -1)

    def copy_run(self, r: int, later: int, lengths: range, lines: dict, targets: set) -> tuple[int, int] | None:
        """(first index of the copy ending at ``r``, of the run ending at ``later`` it copies), for the
        first of ``lengths`` that gives a copy; None when none does."""
        ins = self.instrs
        starts = lambda k: (k == 0 or ins[k].offset in targets  # noqa: E731
                            or lines.get(ins[k - 1].offset) != lines.get(ins[k].offset))
        reraise = ins[r].opname == "RERAISE"  # (a return may be a finally body's own copy)
        handlers = self.with_handler_units()
        for m in (m for m in lengths if m >= 1):
            a, b = r - m + 1, later - m + 1
            if any(b in unit for unit in handlers):
                continue
            if ((reraise and m >= 2 or starts(a) and starts(b)) and self.state[a:r + 1] == self.state[b:later + 1]
                    and not any(ins[q].offset in targets for q in range(a + 1, r + 1))
                    and not (a and self.copied_around(ins[a - 1], ins[b - 1], lines))):
                return a, b
        return None

    def with_handler_units(self) -> list[range]:
        """The instructions after the first of each with statement's handler, which is read whole (its
        pops are 3.11's, and what follows them is no copy): no jump lands inside one."""
        return [range(h + 1, h + 8 + op[1]) for h, op in self.block_ops.items() if op[0] == "with_handler"]

    def copied_around(self, x: Any, y: Any, lines: dict) -> bool:
        """Whether the same jump, by the same distance on the same line, comes before two equal runs
        (``x`` before the first, ``y`` before the other): they are parts of two copies of one block (a
        ``finally`` body, which 3.11 copies too), the ``return`` inside each its own, not a jump 3.10
        replaced by a copy of its target."""
        return (x.opcode in JUMP_OPCODES and x.opname == y.opname
                and (x.argval - x.offset, lines.get(x.offset)) == (y.argval - y.offset, lines.get(y.offset)))

    def empty_else_arms(self) -> dict[int, int]:
        """Blocks 3.10 copied to the end of an ``if`` arm right before the block itself, which a test
        jumps to: the arm ended in a jump (an empty ``else``, or a ``case`` of a ``match``), as a plain
        ``if`` falling into the block does not. Read as ``else: pass``, which 3.10 lays out the same."""
        tests = {ins.argval for ins in self.instrs if ins.opname in ("POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE")}
        found: dict[int, int] = {}
        for a, (r, target) in self.copies.items():
            b = r + 1
            if b < len(self.instrs) and self.instrs[b].offset == target and target in tests:
                found[b] = a
        return found

    def folded_statement(self, k: int) -> bool:
        """Whether the ``NOP`` at ``k`` stands for a statement 3.10 folded away (``if 7:``, ``elif 1:``)
        and is read as ``if True: pass``. Such a statement ends a basic block in 3.10, so the block after
        it is not small enough to be copied into the jumps to it; a reading without it lets 3.10 copy
        that block and the recompile check refuses. Read so on the decompiler's first reading only: its
        second (general conditions) reads the ``NOP`` as nothing, which some layouts need. Not the
        ``NOP`` of ``while True:``, which stands before a loop's body."""
        from .conditions import GENERAL

        if k == 0 or k + 1 >= len(self.instrs) or GENERAL.get() or self.lines().get(self.instrs[k].offset) is None:
            return False
        head = self.instrs[k + 1].offset  # ``while True:`` leaves a NOP before the body its back-jump enters
        return not any(x.opcode in JUMP_OPCODES and x.argval == head for x in self.instrs[k + 1:])

    def match_exit(self) -> tuple[int, int] | None:
        """(first, last index) of the block after a ``match`` statement that 3.10 left where a failed
        pattern falls into it, before the bodies of the cases (3.11 puts it after them, where the
        failed pattern jumps): a short run of one line ending in ``return``, entered at its start,
        whose line is later than every line after it (the copies of it jump to it where it goes)."""
        if any(ins.opname in ("SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH") for ins in self.instrs):
            return None
        lines = self.lines()
        targets = {ins.argval for ins in self.instrs if ins.opcode in JUMP_OPCODES}
        for r, ins in enumerate(self.instrs):
            line = lines.get(ins.offset)
            if ins.opname != "RETURN_VALUE" or line is None or r + 1 == len(self.instrs):
                continue
            a = r
            while a > 0 and lines.get(self.instrs[a - 1].offset) == line and self.instrs[a].offset not in targets:
                a -= 1
            if (a == 0 or r - a >= _MAX_COPY or lines.get(self.instrs[a - 1].offset) == line or a in self.copies
                    or any(self.instrs[q].offset in targets for q in range(a + 1, r + 1))
                    or self.instrs[a - 1].opname in ("JUMP_ABSOLUTE", "JUMP_FORWARD", "RETURN_VALUE")):
                continue
            later = [lines.get(x.offset) for x in self.instrs[r + 1:]]
            if all(n is not None and n < line for n in later):
                return a, r
        return None

    def lines(self) -> dict[int, int | None]:
        """The line of each instruction's offset (None where the compiler gave it none)."""
        out: dict[int, int | None] = {}
        for start, end, line in self.code.co_lines():
            for offset in range(start, end, 2):
                out[offset] = line
        return out

    def without_hops(self, out: list[Any]) -> list[Any]:
        """``out`` without the ``JUMP_FORWARD``s to the very next instruction that dropping 3.10's
        ``POP_BLOCK``s leaves (3.11 has none); what stood for such a jump stands for the next one."""
        at: dict[Any, int] = {}
        for n, item in enumerate(out):
            for origin in item.origins:
                at.setdefault(origin, n)
            if item.key is not None:
                at[item.key] = n
        kept: list[Any] = []
        carried: list[int] = []
        keys: list[Any] = []
        for n, item in enumerate(out):
            if (item.ins.opname == "JUMP_FORWARD" and n + 1 < len(out) and item.target is not None
                    and at.get(item.target) == n + 1):
                carried += item.origins
                keys += [item.key] if item.key is not None else []
                continue
            if carried or keys:
                item.origins = carried + item.origins
                if keys and not item.origins and item.key is None:
                    item.key = ("landing", n)
                for key in keys:  # a jump made here to the removed jump lands on the next instruction
                    for other in out:
                        if other.target == key:
                            other.target = item.origins[0] if item.origins else item.key
                carried, keys = [], []
            kept.append(item)
        return kept
