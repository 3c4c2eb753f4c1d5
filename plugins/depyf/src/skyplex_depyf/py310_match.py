"""CPython 3.10's match statements read as 3.11's, for :mod:`.py310`: the tuples of a class or
mapping pattern's parts unpacked as 3.11 unpacks them, at any depth of nesting.

After ``MATCH_CLASS`` or ``MATCH_KEYS`` succeeds, 3.10 keeps the tuple of attributes or values on the
stack and reads each part it tests by index (``DUP_TOP; LOAD_CONST i; BINARY_SUBSCR``), in order,
skipping wildcards; the part's own pattern (a literal, a capture, or another class, mapping,
sequence or or-pattern) then consumes that value, and the tuple is popped once every part matched.
3.11 unpacks the tuple (``UNPACK_SEQUENCE n``) so that each part is on top when its turn comes, and
pops a wildcard's value. The rewrite here: ``UNPACK_SEQUENCE n`` where 3.10 first touches the tuple,
a read of part ``i`` becomes the pops of the wildcards before it, and the tuple's pop the pops of the
values left after the last part read.

Where the tuple stood as one value, 3.11 has the values still unread (none, one, or many): a capture
rotated below it (``ROT_N``, ``ROT_THREE``...) crosses that many values instead of one. Each
rotation inside such a tuple's life is rewritten with the depth that crosses every value it crossed
in 3.10, each tuple counted as the values it still holds. The stack is followed along the success
path only, by the depths of :meth:`.py310._Reader310.depths`; a tuple touched in any other way (a
``**rest``, a jump into its reads) is left as it is, refused by the pattern rules. Failing tests
keep their 3.10 targets, the run of pops before the next case. Every case is proven by the
recompile-and-compare check, so a rewrite that went wrong can only refuse.

Where the last case is read before an empty ``else``
(:meth:`.py310_copies.Copies.empty_else_arms`), the earlier cases leave the statement past that
``else`` too."""

from __future__ import annotations

from typing import Any

from .streams import JUMP_OPCODES

#: the rotations of 3.10 and how deep each moves the top value
_ROTATIONS = {"ROT_TWO": 2, "ROT_THREE": 3, "ROT_FOUR": 4}
_ENDS = {"RETURN_VALUE", "RAISE_VARARGS", "RERAISE", "JUMP_ABSOLUTE"}


def rotation_depth(ins: Any) -> int | None:
    """How deep the 3.10 rotation ``ins`` moves the top value; None when it is no rotation."""
    if ins.opname == "ROT_N":
        return ins.arg
    return _ROTATIONS.get(ins.opname)


class Parts:
    """The match rules of :class:`skyplex_depyf.py310._Reader310` (its ``instrs``, ``depth``)."""

    instrs: list
    depth: list
    copies: dict
    empty_else: dict

    def plan_parts(self) -> None:
        """Find each tuple of parts read by index, follow it to its pop, and plan the unpack, the
        reads, the pop and the rotations crossing it."""
        self.cases_leave_past_else()
        self.tuple_ops: dict[int, tuple] = {}
        targets = {ins.argval for ins in self.instrs if ins.opcode in JUMP_OPCODES}
        lives = []  # per tuple: (size, {index: (its position, parts consumed)})
        for k, ins in enumerate(self.instrs):
            if ins.opname not in ("MATCH_CLASS", "MATCH_KEYS") or k < 1 or k + 2 >= len(self.instrs):
                continue
            names, test = self.instrs[k - 1], self.instrs[k + 1]
            if (test.opname != "POP_JUMP_IF_FALSE" or test.offset in targets
                    or not isinstance(names.argval, tuple)):
                continue
            n = len(names.argval) + (ins.arg if ins.opname == "MATCH_CLASS" else 0)
            life = self.follow_tuple(k + 2, n, targets)
            if life is not None:
                lives.append((n, life[0]))
                self.tuple_ops.update(life[1])
        for q, ins in enumerate(self.instrs):
            depth = rotation_depth(ins)
            live = [(n, states[q]) for n, states in lives if q in states]
            if depth is None or not live or self.depth[q] is None:
                continue
            top = self.depth[q]
            crossed = range(top - depth, top - 1)  # the positions the top value moves below
            weights = {pos: n - used for n, (pos, used) in live}
            moved = 1 + sum(weights.get(pos, 1) for pos in crossed)
            if moved != depth:
                self.tuple_ops[q] = ("rotate", moved)

    def cases_leave_past_else(self) -> None:
        """When the last arm is read before an empty ``else`` (it ends in a copy of the block right
        after the statement), the earlier arms that end in a copy of that block leave the statement
        too: past that ``else``, as the last arm does, not into it."""
        for b, arm in self.empty_else.items():
            block = self.instrs[b].offset
            for a, (end, target) in list(self.copies.items()):
                if a != arm and a < b and target == block:
                    self.copies[a] = (end, ("past else", b))

    def follow_tuple(self, p: int, n: int, targets: set) -> tuple[dict, dict] | None:
        """({index: (the tuple's position, parts consumed)} over the tuple's life from ``p``,
        {index: planned op}); None when it is not read in the shape above."""
        ins, depth = self.instrs, self.depth
        if depth[p] is None:
            return None
        pos, used = depth[p] - 1, 0
        states: dict[int, tuple[int, int]] = {}
        ops: dict[int, tuple] = {}
        q = p
        while q < len(ins):
            here = depth[q]
            if here is None or here - 1 < pos or ins[q].opname in _ENDS:
                return None
            states[q] = (pos, used)
            unpack = n if q == p else None
            if here - 1 == pos:  # the tuple on top: read a part or pop it, nothing else
                run = ins[q:q + 3]
                if ([x.opname for x in run] == ["DUP_TOP", "LOAD_CONST", "BINARY_SUBSCR"]
                        and not any(x.offset in targets for x in run)):
                    index = run[1].argval
                    if not isinstance(index, int) or isinstance(index, bool) or not used <= index < n:
                        return None
                    ops[q] = ("read", unpack, index - used)
                    states[q + 1] = states[q + 2] = (pos, index + 1)
                    used = index + 1
                    q += 3
                    continue
                if ins[q].opname == "POP_TOP" and ins[q].offset not in targets:
                    ops[q] = ("pop", unpack, n - used)
                    return states, ops
                if ins[q].opname != "JUMP_FORWARD" or q == p:  # (an or-pattern part's failure leaves)
                    return None
            turn = rotation_depth(ins[q])
            if turn is not None and here - turn <= pos <= here - 2:
                pos += 1  # a value rotated below the tuple
            q += 1
        return None

    def parts_rewrite(self, k: int, out_type: Any, as_: Any) -> tuple[list, int] | None:
        """3.11's instructions for the 3.10 tuple read, pop or rotation at ``k``, if planned."""
        op = self.tuple_ops.get(k)
        if op is None:
            return None
        first = self.instrs[k]
        bare = dict(arg=None, argval=None, argrepr="")
        if op[0] == "rotate":
            return [out_type(as_(first, "SWAP", arg=d, argval=d, argrepr="")) for d in range(op[1], 1, -1)], 1
        kind, unpack, pops = op
        made = []
        if unpack is not None and unpack:
            made.append(out_type(as_(first, "UNPACK_SEQUENCE", arg=unpack, argval=unpack, argrepr="")))
        made += [out_type(as_(first, "POP_TOP", **bare)) for _ in range(pops)]
        if unpack == 0 and kind == "pop":
            made.append(out_type(as_(first, "POP_TOP", **bare)))  # no parts: the empty tuple itself
        return made, 3 if kind == "read" else 1
