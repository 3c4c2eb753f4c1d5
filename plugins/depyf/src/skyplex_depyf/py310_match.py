"""CPython 3.10's reading of a class or mapping pattern's parts, as 3.11's, for :mod:`.py310`.

After ``MATCH_CLASS`` or ``MATCH_KEYS`` succeeds, 3.10 keeps the tuple of attributes or values and
reads each part it tests by index (``DUP_TOP; LOAD_CONST i; BINARY_SUBSCR``), skipping wildcards;
every failing test jumps to one clean-up that pops the tuple, and the tuple is popped once the parts
match. 3.11 unpacks the tuple (``UNPACK_SEQUENCE n``), tests the parts in order, pops a wildcard's
value, and a failing test jumps into a run of ``POP_TOP`` at the point that pops the parts left
unread; when every part is a wildcard, 3.10 pops the tuple at once and 3.11 unpacks it and pops
each value. Only parts that are a literal, a singleton or a capture are rewritten, no nested pattern:
3.10 moves a captured value below the pattern's and stores it last; 3.11 stores a capture after
every test as it unpacks, and moves one a test follows below the values still unread (deeper than
3.10, which kept them in one tuple), storing it after the pattern's pops; anything else is left as
it is, refused by the pattern rules. Where the last case is read before an empty ``else``
(:meth:`.py310_copies.Copies.empty_else_arms`), the earlier cases leave the statement past that
``else`` too."""

from __future__ import annotations

from typing import Any

from .streams import JUMP_OPCODES

#: the tests of a part that is a literal (``==``) or a singleton (``is``)
_LEAF_TESTS = {"COMPARE_OP", "IS_OP"}
_ENDS = {"JUMP_ABSOLUTE", "JUMP_FORWARD", "RETURN_VALUE", "RAISE_VARARGS", "RERAISE"}


class Parts:
    """The part rules of :class:`skyplex_depyf.py310._Reader310` (its ``instrs``, ``at``)."""

    instrs: list
    at: dict
    copies: dict
    empty_else: dict

    def plan_parts(self) -> None:
        """Find each class or mapping pattern whose parts 3.10 read by index, and where its failing
        tests need pops 3.10 did not emit."""
        self.cases_leave_past_else()
        self.unpacks: dict[int, tuple[int, int, dict[int, tuple], int]] = {}  # first index -> (last, n, parts, F)
        self.extra_pops: dict[int, int] = {}  # index of a clean-up -> POP_TOPs 3.11 runs before it
        self.dropped_pops: set[int] = set()  # 3.10's pops of a tuple of values 3.11 unpacked
        targets = {ins.argval for ins in self.instrs if ins.opcode in JUMP_OPCODES}
        for k, ins in enumerate(self.instrs):
            if ins.opname not in ("MATCH_CLASS", "MATCH_KEYS") or k < 1 or k + 2 >= len(self.instrs):
                continue
            test, names = self.instrs[k + 1], self.instrs[k - 1]
            if test.opname != "POP_JUMP_IF_FALSE" or test.offset in targets or not isinstance(names.argval, tuple):
                continue
            n = len(names.argval) + (ins.arg if ins.opname == "MATCH_CLASS" else 0)
            found = self.read_parts(k + 2, n, test.argval, targets)
            fail = self.at.get(test.argval)
            if found is None or fail is None or self.instrs[fail].opname != "POP_TOP":
                continue
            last, parts = found
            tests = [i for i, part in parts.items() if i >= 0 and len(part) != 1 and part[0] != "deferred"]
            extra = max(0, n - 2 - min(tests, default=n))  # the most pops a failing test needs before F
            captures = [i for i, part in parts.items() if i >= 0 and part[0] == "deferred"]
            if captures:
                needs = [n - 2 - i + sum(c < i for c in captures) for i in tests]
                if max(needs) > len(captures):
                    continue  # more pops than 3.10's for the moved values: not rewritten
                extra = 0
                # 3.10 also popped the tuple of values there, which 3.11 does not have
                self.dropped_pops.update(range(fail - len(captures), fail - max(needs)))
            if extra and (self.instrs[fail - 1].opname not in _ENDS or self.extra_pops.get(fail, extra) != extra):
                continue  # the extra pops could be fallen into, or another pattern wants other pops
            if extra:
                self.extra_pops[fail] = extra
            self.unpacks[k + 2] = (last, n, parts, fail)

    def cases_leave_past_else(self) -> None:
        """When the last arm is read before an empty ``else`` (it ends in a copy of the block right
        after the statement), the earlier arms that end in a copy of that block leave the statement
        too: past that ``else``, as the last arm does, not into it."""
        for b, arm in self.empty_else.items():
            block = self.instrs[b].offset
            for a, (end, target) in list(self.copies.items()):
                if a != arm and a < b and target == block:
                    self.copies[a] = (end, ("past else", b))

    def read_parts(self, p: int, n: int, fail: int, targets: set) -> tuple[int, dict[int, tuple]] | None:
        """(index of the tuple's ``POP_TOP``, {part index: (constant instruction, test instruction)})
        of the parts read from ``p`` (none when all are wildcards); None when they are not all
        literals, singletons or captures after the tests."""
        parts: dict[int, tuple] = {}
        captured: list[int] = []
        rotations: dict[int, Any] = {}  # captured index -> 3.10's rotation of its value below the pattern's
        ins = self.instrs
        while p + 5 < len(ins) and ins[p].opname == "DUP_TOP":
            run = ins[p:p + 6]
            if ([x.opname for x in run[1:3]] == ["LOAD_CONST", "BINARY_SUBSCR"] and run[3].opname.startswith("ROT_")
                    and not any(x.offset in targets for x in run[:4])):
                index = run[1].argval  # a capture: 3.10 moves the value below the pattern's, stored at the end
                if not isinstance(index, int) or not 0 <= index < n or any(index <= i for i in [*parts, *captured]):
                    return None
                captured.append(index)
                rotations[index] = run[3]
                p += 4
                continue
            if captured and self.read_alternatives(p, fail, targets) is not None:
                return None  # an or-pattern after a capture: not rewritten
            alternatives = self.read_alternatives(p, fail, targets)
            if alternatives is not None:
                index = run[1].argval
                if not isinstance(index, int) or not 0 <= index < n or any(index <= i for i in parts):
                    return None
                parts[index] = alternatives
                p = alternatives[2] + 1
                continue
            # a test after captures fails to one pop more for each value they moved below the pattern's
            below = self.at.get(fail, 0) - len(captured)
            if below < 0 or any(x.opname != "POP_TOP" for x in ins[below:self.at.get(fail, 0)]):
                return None
            if ([x.opname for x in run[1:3]] != ["LOAD_CONST", "BINARY_SUBSCR"] or run[3].opname != "LOAD_CONST"
                    or run[4].opname not in _LEAF_TESTS or run[5].opname != "POP_JUMP_IF_FALSE"
                    or run[5].argval != ins[below].offset or any(x.offset in targets for x in run)):
                return None
            index = run[1].argval
            if not isinstance(index, int) or not 0 <= index < n or any(index <= i for i in [*parts, *captured]):
                return None
            if run[4].opname == "IS_OP" and (run[4].arg != 0 or run[3].argval not in (None, True, False)):
                return None
            if run[4].opname == "COMPARE_OP" and run[4].argval != "==":
                return None
            parts[index] = (run[3], run[4])
            p += 6
        if not n or p >= len(ins) or ins[p].opname != "POP_TOP" or ins[p].offset in targets:
            return None
        if not captured:
            return p, parts
        # the tuple's pop, the pattern's own pops, then the captures stored in the pattern's order;
        # 3.11 stores them as it unpacks, before those pops
        q = p + 1
        while q < len(ins) and ins[q].opname == "POP_TOP" and ins[q].offset not in targets:
            q += 1
        pops = ins[p + 1:q]
        stores = ins[q:q + len(captured)]
        if len(stores) != len(captured) or any(not x.opname.startswith("STORE_") or x.opname == "STORE_ATTR"
                                               or x.offset in targets for x in stores):
            return None
        if any(i > index for i in parts for index in captured):  # a test after a capture
            return self.deferred_stores(captured, rotations, stores, pops, parts, n, q)
        for index, store in zip(captured, stores):
            parts[index] = (store,)
        parts[-1] = tuple(pops)  # the pops 3.11 runs after the stores
        return q + len(captured) - 1, parts

    def deferred_stores(self, captured: list[int], rotations: dict[int, Any], stores: list, pops: list,
                        parts: dict[int, tuple], n: int, q: int) -> tuple[int, dict[int, tuple]] | None:
        """The parts when a test follows a capture: 3.11 too moves each captured value below the
        pattern's values as it unpacks (``SWAP``s down past the values still unread, which 3.10 kept
        in one tuple) and stores them once every test passed, after the pattern's pops. Only when
        every capture is followed by a test; None otherwise."""
        depths = {"ROT_TWO": 2, "ROT_THREE": 3, "ROT_FOUR": 4}
        last_test = max(i for i in parts if i >= 0)
        if any(index > last_test for index in captured):
            return None  # captures after the last test: 3.11 stores some of them as it unpacks
        for index in captured:
            rot = rotations[index]
            depth = rot.arg if rot.opname == "ROT_N" else depths.get(rot.opname)
            if depth is None:
                return None
            parts[index] = ("deferred", rot, depth + n - index - 2)  # 3.11's values left unread, not one tuple
        parts[-1] = tuple(pops)  # the pattern's pops, then the stores
        parts[-2] = tuple(stores)
        return q + len(captured) - 1, parts

    def read_alternatives(self, p: int, fail: int, targets: set) -> tuple | None:
        """("or", first, last index, index of the failure's jump) of an or-pattern of literals and
        singletons read from the tuple at ``p``, laid out as in 3.11 but for where it fails to."""
        ins = self.instrs
        if [x.opname for x in ins[p:p + 3]] != ["DUP_TOP", "LOAD_CONST", "BINARY_SUBSCR"] or any(
                x.offset in targets for x in ins[p:p + 4]):
            return None
        q, success, inner = p + 3, set(), set()
        while q + 5 < len(ins) and ins[q].opname == "DUP_TOP":
            alt = ins[q:q + 5]
            if ([x.opname for x in alt] != ["DUP_TOP", "LOAD_CONST", alt[2].opname, "POP_JUMP_IF_FALSE", "JUMP_FORWARD"]
                    or alt[2].opname not in _LEAF_TESTS or alt[3].argval != ins[q + 5].offset
                    or (alt[2].opname == "COMPARE_OP" and alt[2].argval != "==")
                    or (alt[2].opname == "IS_OP" and (alt[2].arg != 0 or alt[1].argval not in (None, True, False)))):
                return None
            success.add(alt[4].argval)
            inner.add(ins[q + 5].offset)
            q += 5
        if (q + 2 >= len(ins) or len(inner) < 2 or [x.opname for x in ins[q:q + 3]] != ["POP_TOP", "JUMP_FORWARD", "POP_TOP"]
                or ins[q + 1].argval != fail or success != {ins[q + 2].offset}):
            return None
        allowed = inner | success
        if any(x.offset in targets and x.offset not in allowed for x in ins[p + 4:q + 3]):
            return None  # a jump from outside lands inside
        return "or", p + 3, q + 2, q + 1

    def parts_rewrite(self, k: int, out_type: Any, as_: Any) -> tuple[list, int] | None:
        """3.11's unpacking and tests for the parts 3.10 read by index from ``k``, if it is such a run."""
        if k in self.dropped_pops:
            return [], 1
        if k not in self.unpacks:
            return None
        last, n, parts, fail = self.unpacks[k]
        first = self.instrs[k]
        bare = dict(arg=None, argval=None, argrepr="")
        made = [out_type(as_(first, "UNPACK_SEQUENCE", arg=n, argval=n, argrepr=""))]
        for i in range(n):
            if i not in parts:
                made.append(out_type(as_(first, "POP_TOP", **bare)))  # a wildcard's value
                continue
            if len(parts[i]) == 1:  # a capture
                made.append(out_type(parts[i][0]))
                continue
            if parts[i][0] == "deferred":  # a capture a test follows: moved below the pattern's values
                _, rot, depth = parts[i]
                made += [out_type(as_(rot, "SWAP", arg=d, argval=d, argrepr="")) for d in range(depth, 1, -1)]
                continue
            shift = i + 2 - n  # where in the pops 3.10 emitted this failure lands
            extra = self.extra_pops.get(fail, 0)
            target: Any = (("pops", self.instrs[fail].offset, extra + shift) if shift < 0
                           else self.instrs[fail + shift].offset)
            moved = sum(part[0] == "deferred" for j, part in parts.items() if 0 <= j < i)
            if moved:  # one more pop for each value moved below the pattern's: 3.10's own, before F
                target = self.instrs[fail + shift - moved].offset
            if len(parts[i]) == 4:  # an or-pattern: read as elsewhere, failing into the pops
                _, r, end, jump = parts[i]
                while r <= end:
                    if r == jump:
                        made.append(out_type(as_(self.instrs[r], "JUMP_FORWARD"), target=target))
                        step = 1
                    else:
                        part, step = self.rewrite(r)
                        if part:
                            part[0].origins = [x.offset for x in self.instrs[r:r + step]]
                        made += part
                    r += step
                continue
            const, test = parts[i]
            if test.opname == "IS_OP" and const.argval is None:  # 3.11's peephole pass: one jump
                made.append(out_type(as_(test, "POP_JUMP_FORWARD_IF_NOT_NONE"), target=target))
                continue
            made += [out_type(const), out_type(test), out_type(as_(test, "POP_JUMP_FORWARD_IF_FALSE"), target=target)]
        made += [out_type(pop) for pop in parts.get(-1, ())]
        made += [out_type(store) for store in parts.get(-2, ())]  # captures a test followed
        return made, last - k + 1

    def pops_before(self, k: int, out_type: Any, as_: Any) -> list:
        """The pops 3.11 runs before the clean-up at ``k`` for the parts a failed test left unread."""
        ins = self.instrs[k]
        return [out_type(as_(ins, "POP_TOP", arg=None, argval=None, argrepr=""), key=("pops", ins.offset, m))
                for m in range(self.extra_pops.get(k, 0))]
