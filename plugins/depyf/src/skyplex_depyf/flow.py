"""Control-flow shapes of CPython 3.11 for the executor: loop ``break``/``continue`` jumps, ``for``
loops, and conditional jumps (if/elif/else, conditional expressions, ``and``/``or`` conditions,
chained comparisons, ``while`` loops, ``assert``). Mixed into :class:`~.executor.Executor`."""

from __future__ import annotations

import dis
from typing import Any

from .closings import FOLDED_TEST
from .conditions import GENERAL, PREFERENCE, compound
from .symbolic import Compare, Expr, For, ForTarget, If, Item, Iter, Line, Loop, Return, While, busy
from .values import COMPREHENSIONS, _ends, _paren

#: what a jump straight to the enclosing loop's head, from the body of a ``while`` loop that ends
#: that loop's body, stands for (see :meth:`ControlFlow.while_ending_loop_body`)
THREADED_EXIT = "break"


class ControlFlow:
    """The jump rules; they use the executor's ``instrs``, ``table``, ``loops`` and ``block``."""

    instrs: list
    table: dict
    loops: list
    code: Any
    try_exits: dict

    # control flow ----------------------------------------------------------------------------------
    def jump(self, i: int, hi: int, ins: dis.Instruction, stack: list, stmts: list) -> int:
        dest = self.target(ins)
        loop = self.loops[-1] if self.loops else None
        if loop is not None and dest == getattr(loop, "threaded_exit", None):
            stmts.append(Line(THREADED_EXIT))
        elif loop is not None and dest == loop.exit:
            stmts.append(Line("break"))
        elif loop is not None and dest == loop.head:
            stmts.append(Line("continue"))
        else:
            raise self.refuse(ins, "jump that is not a loop's break or continue")
        return i + 1

    def for_loop(self, i: int, ins: dis.Instruction, stack: list, stmts: list) -> int:
        it = stack[-1]
        if isinstance(it, Expr) and it.text == ".0" and self.code.co_name in COMPREHENSIONS:
            it = stack[-1] = Iter(it)  # a comprehension's argument is already an iterator
        if not isinstance(it, Iter):
            raise self.refuse(ins, "FOR_ITER without GET_ITER")
        exit_ = self.target(ins)
        back = self.instrs[exit_ - 1]
        body_end = exit_ - 1
        never_loops = False
        if back.opname == "RERAISE":  # a trailing try whose exits jump straight back to the loop head
            body_end = exit_
        elif back.opname not in self.table["jumps"] or back.argval != ins.offset:
            # a body that always leaves (``for i in r: ... break``): no back-jump at all; a final
            # ``break`` falls into the exit, popping the iterator, and its jump is gone
            never_loops, body_end = True, exit_
        body, rest = self.loop_body(Loop(i, exit_, True), i + 1, body_end, stack + [Item()])
        if never_loops:
            if len(rest) == len(stack) - 1 and back.opname == "POP_TOP":
                body.append(Line("break"))
            elif not _ends(body):
                raise self.refuse(ins, "loop without a back-jump before its exit")
        if body_end == exit_ and not never_loops and self.try_exits.get(exit_) != i:
            raise self.refuse(ins, "loop without a back-jump before its exit")
        if not body or not isinstance(body[0], ForTarget):
            raise self.refuse(ins, "loop target is not a plain name or tuple of names")
        stmts.append(For(body[0].target, it.source.text, body[1:]))
        stack.pop()
        return exit_

    def resolve(self, dest: int, hi: int) -> int:
        """``hi`` when ``dest`` lies past the block but the block's own closing jump goes there too
        (the compiler threads a jump to a jump straight to the final target)."""
        if dest > hi and hi < len(self.instrs):
            closing = self.instrs[hi]
            if closing.opname in self.table["jumps"] and self.target(closing) == dest:
                return hi
        return dest

    def conditional(self, i: int, hi: int, ins: dis.Instruction, stack: list, stmts: list, quiet_start: int,
                    value: Expr | None = None, kind: str | None = None) -> int:
        if value is None and GENERAL.get() and stack:
            found = compound(self, i, hi, self.expr(stack[-1], ins), self.table["cond_jumps"][ins.opname], stack[:-1])
            before_skip = self.instrs[found[1] - 1] if found is not None else None
            if (before_skip is not None and before_skip.opname == "JUMP_BACKWARD"
                    and i < self.target(before_skip) < found[0]):
                found = None  # a later test is a while loop's own (``if a: while b:``), not part of this one
            if found is not None and found[1] < len(self.instrs) and found[0] - 1 > i:
                stack.pop()
                body, skip, test = found
                synthetic = ins._replace(opname="POP_JUMP_FORWARD_IF_FALSE", argval=self.instrs[skip].offset)
                return self.conditional(body - 1, hi, synthetic, stack, stmts, quiet_start, test, "false")
        value = value if value is not None else self.expr(stack.pop(), ins)
        kind = kind or self.table["cond_jumps"][ins.opname]
        dest = self.resolve(self.target(ins), hi)
        taken = {"true": value.text, "false": f"not {value.p()}", "none": f"{value.p()} is None",
                 "notnone": f"{value.p()} is not None"}[kind]
        found = self.mixed_boolean(i, hi, dest, value, kind, stack)
        if found is not None:
            return found
        if dest == i + 1 and ins.argrepr == FOLDED_TEST:  # a constant test 3.13 folded (closings.folded_tests)
            stmts.append(If(value.text, [Line("pass")], []))
            return i + 1
        if dest == i + 1:  # both outcomes go on: the rest of the test was a constant the compiler dropped
            always = {"true": f"{value.p()} or 1", "false": f"not {value.p()} or 1",
                      "none": f"{value.p()} is None or 1", "notnone": f"{value.p()} is not None or 1"}[kind]
            node = If(always, [Line("pass")], [])
            node.guard = always
            stmts.append(node)
            return i + 1
        loop = self.loops[-1] if self.loops else None
        if loop is not None and not loop.is_for and dest == getattr(loop, "threaded_exit", None):
            stmts.append(If(taken, [Line(THREADED_EXIT)], []))
            return i + 1
        if loop is not None and not loop.is_for and dest == loop.exit and dest > hi:
            stmts.append(If(taken, [Line("break")], []))
            return i + 1
        # ``A and B``: both tests jump to the same place when they fail
        same = next((k for k in range(i + 1, min(dest, hi)) if self.instrs[k].opname in self.table["cond_jumps"]
                     and self.target(self.instrs[k]) == self.target(ins)), None)
        loop_test = (dest - 1 > i and self.instrs[dest - 1].opname == "JUMP_BACKWARD"
                     and self.target(self.instrs[dest - 1]) == i + 1)  # B is a while test: ``if A: while B:``
        nested = GENERAL.get() and PREFERENCE.get() & 4  # ``if A: if B:`` rather than ``if A and B:``
        if same is not None and dest > i and not loop_test and not nested:
            inner, rest = self.speculate(i + 1, same, stack)
            if not inner and len(rest) == len(stack) + 1 and isinstance(rest[-1], Expr):
                b = rest[-1]
                b_kind = self.table["cond_jumps"][self.instrs[same].opname]
                b_through = {"false": b.text, "true": f"not {b.p()}", "none": f"{b.p()} is not None",
                             "notnone": f"{b.p()} is None"}[b_kind]
                through = {"false": value.text, "true": f"not {value.p()}", "none": f"{value.p()} is not None",
                           "notnone": f"{value.p()} is None"}[kind]
                combined = Expr(f"({through}) and ({b_through})")
                return self.conditional(same, hi, self.instrs[same], stack, stmts, quiet_start, combined, "false")
        # ``A or B``: A's jump lands just after B's own conditional jump, on the body
        second = self.instrs[dest - 1] if dest - 1 > i else None
        if (second is not None and second.opname in self.table["cond_jumps"] and self.target(second) > dest
                and dest <= hi):
            inner, rest = self.speculate(i + 1, dest - 1, stack)
            if not inner and len(rest) == len(stack) + 1 and isinstance(rest[-1], Expr):
                b = rest[-1]
                b_kind = self.table["cond_jumps"][second.opname]
                b_body = {"false": b.text, "true": f"not {b.p()}", "none": f"{b.p()} is not None",
                          "notnone": f"{b.p()} is None"}[b_kind]
                combined = Expr(f"({taken}) or ({b_body})")
                return self.conditional(dest - 1, hi, second, stack, stmts, quiet_start, combined, "false")
        if dest <= i:
            loop = self.loops[-1] if self.loops else None
            if loop is None or dest != loop.head:
                raise self.refuse(ins, "backward conditional jump that is not a continue")
            guard = {"false": value.text, "true": f"not {value.p()}", "none": f"{value.p()} is not None",
                     "notnone": f"{value.p()} is None"}[kind]
            found = self.while_ending_loop_body(i, dest, quiet_start, kind, guard, stack, stmts)
            if found is not None:
                return found
            node = If(f"not ({guard})", [Line("continue")], [])
            node.guard = guard
            stmts.append(node)
            return i + 1
        # chained comparison as a condition: ``if a < b < c:``, the copied ``b`` popped on the short path
        if (isinstance(value, Compare) and kind == "false" and self.instrs[dest].opname == "POP_TOP"
                and dest - 2 > i and self.instrs[dest - 1].opname == "JUMP_FORWARD"
                and self.instrs[dest - 2].opname in self.table["cond_jumps"] and stack
                and self.instrs[i - 1].opname == "COMPARE_OP" and self.instrs[i - 2].opname == "COPY"):
            return self.chained_condition(i, hi, dest, value, stack, stmts, quiet_start)
        # ``if (a if c else b):``: both branches test their value with the same jump to the same place
        if kind in ("true", "false") and dest - 2 > i and dest <= hi and self.instrs[dest - 1].opname == "JUMP_FORWARD":
            found = self.ternary_condition(i, hi, dest, value, kind, stack, stmts, quiet_start)
            if found is not None:
                return found
        # chained comparison: a < b < c
        if (isinstance(value, Compare) and dest < len(self.instrs) - 1 and self.instrs[dest].opname == "SWAP"
                and self.instrs[dest + 1].opname == "POP_TOP" and kind == "false"):
            end_jump = self.instrs[dest - 1]
            if end_jump.opname == "JUMP_FORWARD":
                end = self.target(end_jump)
                inner, rest = self.block(i + 1, dest - 1, stack)
                tail = rest[-1] if rest else None
                if inner or not isinstance(tail, Compare) or len(rest) != len(stack) or tail.left is not stack[-1]:
                    raise self.refuse(ins, "chained comparison of an unknown shape")
                stack.pop()
                pairs = value.pairs + tail.pairs
                text = value.left.p() + "".join(f" {s} {r.p()}" for s, r in pairs)
                stack.append(Compare(text, left=value.left, pairs=pairs))
                return end
        cond = {"false": value.text, "true": f"not {value.p()}", "none": f"{value.p()} is not None",
                "notnone": f"{value.p()} is None"}[kind]
        # while loop: the body ends in the same test jumping back to just after this jump
        back = self.instrs[dest - 1] if dest - 1 > i else None
        if (back is not None and back.opname in self.table["cond_jumps"] and back.argval == self.instrs[i + 1].offset
                and not busy(stack)):
            back_kind = self.table["cond_jumps"][back.opname]
            if {kind, back_kind} not in ({"false", "true"}, {"none", "notnone"}):
                raise self.refuse(back, "while loop whose two tests differ")
            # the compiler repeats the test at the bottom: its instructions but the last jump match the top's
            bottom = dest - 1 - (i - quiet_start)
            if bottom > i and self.same_test(quiet_start, i, bottom):
                body, rest = self.loop_body(Loop(quiet_start, dest, False), i + 1, bottom, stack)
                if len(rest) != len(stack) and not _ends(body):
                    raise self.refuse(back, "while loop body leaves values on the stack")
            else:
                body, rest = self.loop_body(Loop(quiet_start, dest, False), i + 1, dest - 1, stack)
                if len(rest) != len(stack) + 1 or self.expr(rest[-1], back).text != value.text:
                    raise self.refuse(back, "while loop whose two tests differ")
            stmts.append(While(cond, body))
            return dest
        found = self.while_ending_function(i, dest, quiet_start, kind, cond, stack, stmts)
        if found is not None:
            return found
        # while loop with no bottom copy of its test: the body goes back to the test only through
        # ``continue`` jumps, and a final ``break`` falls into the exit (its jump is gone)
        back_edge = next((k for k in range(i + 1, min(dest, hi)) if self.instrs[k].opname == "JUMP_BACKWARD"
                          and self.target(self.instrs[k]) == quiet_start), None)
        if (back_edge is not None and quiet_start <= i and not busy(stack)
                and not any(lp.head == quiet_start for lp in self.loops)):
            body, rest = self.loop_body(Loop(quiet_start, dest, False), i + 1, dest, stack)
            if not _ends(body):
                if len(rest) != len(stack):
                    raise self.refuse(self.instrs[back_edge], "while loop body leaves values on the stack")
                body.append(Line("break"))
            stmts.append(While(cond, body))
            return dest
        if dest > hi and hi > i + 1 and not busy(stack) and self.only_exit_to_copy(i, dest):
            # ``if`` ending the function inside another statement's arm: its false test jumps to the
            # compiler's own copy of the implicit ``return None``, and its body runs to the arm's end
            then, then_stack = self.block(i + 1, hi, stack)
            if len(then_stack) != len(stack) and not _ends(then):
                raise self.refuse(ins, "if leaving values on the stack")
            self.inlined.update({dest, dest + 1})
            self.implicit_return = True
            stmts.append(If(cond, then, []))
            return hi
        if dest > hi:
            raise self.refuse(ins, "conditional jump leaving its block")
        last = self.instrs[dest - 1]
        end = self.resolve(self.target(last), hi) if last.opname == "JUMP_FORWARD" else -1
        if (end > hi and dest < hi and hi < len(self.instrs) and not any(end == lp.exit for lp in self.loops)
                and self.instrs[hi - 1].opname in ("RERAISE", "JUMP_FORWARD", "RETURN_VALUE")):
            # an if/else ending its enclosing branch: the then-branch's exit was threaded past that
            # branch's own end (an else part of the enclosing statement), so the else part runs to ``hi``
            end = hi
        then_end = dest - 1
        if last.opname == "RERAISE" and dest - 1 > i:  # then-branch ending in a try with threaded exits
            then_end = dest
            speculative, _ = self.speculate(i + 1, dest, stack)
            if speculative != [None] and dest in self.try_exits:
                end = self.resolve(self.try_exits[dest], hi)
                if self.loops and end == self.loops[-1].head and dest < hi:
                    # the try's exits go back to the loop's head, past the code that follows it in
                    # the loop body: that code is the else part (a folded ``elif 1:``), up to ``hi``
                    end = hi
        if (last.opname == "JUMP_FORWARD" or then_end == dest) and dest - 1 > i and end > dest and end <= hi:
            then, then_stack = self.block(i + 1, then_end, stack)
            orelse, else_stack = self.block(dest, end, stack)
            if len(then_stack) == len(stack) + 1 and len(else_stack) == len(stack) + 1 and not then and not orelse:
                a, b = self.expr(then_stack[-1], ins), self.expr(else_stack[-1], ins)
                stack.append(Expr(f"{a.p()} if {_paren(cond)} else {b.p()}"))
                return end
            if (len(then_stack) != len(stack) and not _ends(then)) or (len(else_stack) != len(stack) and not _ends(orelse)):
                raise self.refuse(ins, "if/else leaving values on the stack")
            stmts.append(If(cond, then, orelse or []))
            return end
        then, then_stack = self.block(i + 1, dest, stack)
        if len(then) == 1 and isinstance(then[0], Return) and getattr(then[0], "assertion", None) is not None:
            # the test jumps past the raise when the assertion holds (``assert not a`` jumps on false)
            stmts.append(Line(f"assert {taken}{then[0].assertion}"))
            return dest
        if len(then_stack) != len(stack) and not _ends(then):
            raise self.refuse(ins, "if leaving values on the stack")
        stmts.append(If(cond, then, []))
        return dest

    def mixed_boolean(self, i: int, hi: int, dest: int, value: Expr, kind: str, stack: list) -> int | None:
        """``A and B or C`` (``A or B and C`` read the other way) as a value: A's test jumps straight to C
        (the peephole pass threaded it past B's ``JUMP_IF_TRUE_OR_POP``), B keeps its value when it
        decides; None (nothing consumed) when the shape is not exactly that."""
        keep = {"false": "JUMP_IF_TRUE_OR_POP", "true": "JUMP_IF_FALSE_OR_POP"}.get(kind)
        if keep is None or dest - 1 <= i or dest > hi or self.instrs[dest - 1].opname != keep:
            return None
        end = self.target(self.instrs[dest - 1])
        if end <= dest or end > hi:
            return None
        inner, middle = self.speculate(i + 1, dest - 1, stack)
        if inner or len(middle) != len(stack) + 1 or not isinstance(middle[-1], Expr):
            return None
        other, last = self.speculate(dest, end, stack)
        if other or len(last) != len(stack) + 1 or not isinstance(last[-1], Expr):
            return None
        first, second = ("and", "or") if kind == "false" else ("or", "and")
        stack.append(Expr(f"({value.text} {first} {middle[-1].p()}) {second} {last[-1].p()}"))
        return end

    def chained_condition(self, i: int, hi: int, dest: int, value: Compare, stack: list, stmts: list,
                          quiet_start: int) -> int:
        """``if [not] a < b < c:``: rebuild the chain, then read the statement as one conditional jump
        placed where the body begins (after the clean-up that pops the copied middle operand)."""
        last = dest - 2
        inner, rest = self.block(i + 1, last, stack)
        tail = rest[-1] if rest else None
        if inner or not isinstance(tail, Compare) or len(rest) != len(stack) or tail.left is not stack[-1]:
            raise self.refuse(self.instrs[i], "chained comparison of an unknown shape")
        stack.pop()
        pairs = value.pairs + tail.pairs
        chain = Compare(value.left.p() + "".join(f" {s} {r.p()}" for s, r in pairs), left=value.left, pairs=pairs)
        jump, other = self.instrs[last], self.target(self.instrs[last + 1])
        jumped = self.target(jump)
        jump_kind = self.table["cond_jumps"][jump.opname]
        if jump_kind not in ("true", "false"):
            raise self.refuse(jump, "chained comparison of an unknown shape")
        true_at, false_at = (jumped, other) if jump_kind == "true" else (other, jumped)
        cleanup = self.instrs[dest + 1]
        body = dest + 1
        if cleanup.opname == "JUMP_FORWARD":  # the clean-up jumps to where a false chain goes
            if self.target(cleanup) != false_at:
                raise self.refuse(cleanup, "chained comparison of an unknown shape")
            body = dest + 2
        elif false_at != body:
            raise self.refuse(cleanup, "chained comparison of an unknown shape")
        if body == true_at:
            skip, kind = false_at, "false"
        elif body == false_at:
            skip, kind = true_at, "true"
        else:
            raise self.refuse(jump, "chained comparison of an unknown shape")
        synthetic = jump._replace(opname="POP_JUMP_FORWARD_IF_FALSE", argval=self.instrs[skip].offset)
        return self.conditional(body - 1, hi, synthetic, stack, stmts, quiet_start, chain, kind)

    def ternary_condition(self, i: int, hi: int, dest: int, test: Expr, kind: str, stack: list, stmts: list,
                          quiet_start: int) -> int | None:
        """Read ``if (a if c else b):`` when its shape matches exactly; None (nothing consumed) otherwise."""
        first_jump, body = self.instrs[dest - 2], self.target(self.instrs[dest - 1])
        if body - 1 <= dest or body > hi:
            return None
        second_jump = self.instrs[body - 1]
        if (first_jump.opname not in self.table["cond_jumps"] or second_jump.opname != first_jump.opname
                or self.target(first_jump) != self.target(second_jump)):
            return None
        then, then_stack = self.speculate(i + 1, dest - 2, stack)
        orelse, else_stack = self.speculate(dest, body - 1, stack)
        if (then or orelse or len(then_stack) != len(stack) + 1 or len(else_stack) != len(stack) + 1
                or not isinstance(then_stack[-1], Expr) or not isinstance(else_stack[-1], Expr)):
            return None
        cond = test.text if kind == "false" else f"not {test.p()}"
        a, b = then_stack[-1], else_stack[-1]
        combined = Expr(f"{a.p()} if {_paren(cond)} else {b.p()}")
        return self.conditional(body - 1, hi, second_jump, stack, stmts, quiet_start, combined,
                                self.table["cond_jumps"][second_jump.opname])


    def same_test(self, top: int, end: int, bottom: int) -> bool:
        """Whether the instructions from ``bottom`` repeat the loop test ``[top, end)``: the same
        operations, a conditional jump counting as the same when it jumps on the same outcome to the
        same place (the top copy's jumps go forward into the body, the bottom copy's go back to it)."""
        def key(ins: dis.Instruction) -> tuple:
            kind = self.table["cond_jumps"].get(ins.opname)
            return (("jump if", kind) if kind is not None else ins.opname, ins.argval)

        return all(key(a) == key(b) for a, b in zip(self.instrs[top:end], self.instrs[bottom:bottom + end - top]))

    def only_exit_to_copy(self, i: int, *copies: int) -> bool:
        """Whether each of ``copies`` is a ``return None`` that no jump but instruction ``i``'s reaches
        (a copy the compiler made of the implicit return for that jump alone)."""
        if not all(self.returns_none_at(c) for c in copies):
            return False
        offsets = {self.instrs[c].offset for c in copies}
        return not any(k != i and ("JUMP" in ins.opname or ins.opname in ("FOR_ITER", "SEND")) and ins.argval in offsets
                       for k, ins in enumerate(self.instrs))

    def while_ending_loop_body(self, i: int, dest: int, quiet_start: int, kind: str, cond: str, stack: list,
                               stmts: list) -> int | None:
        """A ``while`` loop ending an enclosing loop's body, its top test's exit threaded straight to
        that loop's head (3.12+): the bottom copy of the test jumps back to the body and falls into
        the enclosing loop's back-jump. A ``break`` of the loop is threaded there too (3.11 jumps to the
        back-jump after the loop): the body reads a jump to that head as ``break``. None (nothing
        consumed) when the shape is not exactly that."""
        if busy(stack):
            return None
        start = self.instrs[i + 1].offset
        end = min(self.loops[-1].exit, len(self.instrs) - 1)  # within the enclosing loop
        back = next((k for k in range(i + 1, end) if self.instrs[k].opname in self.table["cond_jumps"]
                     and self.instrs[k].argval == start and self.instrs[k + 1].opname == "JUMP_BACKWARD"
                     and self.target(self.instrs[k + 1]) == dest), None)
        if back is None:
            return None
        if {kind, self.table["cond_jumps"][self.instrs[back].opname]} not in ({"false", "true"}, {"none", "notnone"}):
            return None
        bottom = back - (i - quiet_start)
        if bottom <= i or not self.same_test(quiet_start, i, bottom):
            return None
        loop = Loop(quiet_start, back + 1, False)
        loop.threaded_exit = dest  # type: ignore[attr-defined]  # a break goes straight to the head too
        body, rest = self.loop_body(loop, i + 1, bottom, stack)
        if len(rest) != len(stack) and not _ends(body):
            raise self.refuse(self.instrs[back], "while loop body leaves values on the stack")
        stmts.append(While(cond, body))
        return back + 1

    def returns_none_at(self, k: int) -> bool:
        """Whether instructions ``k, k + 1`` are ``LOAD_CONST None; RETURN_VALUE``."""
        return (k + 1 < len(self.instrs) and self.instrs[k].opname == "LOAD_CONST" and self.instrs[k].argval is None
                and self.instrs[k + 1].opname == "RETURN_VALUE")

    def while_ending_function(self, i: int, dest: int, quiet_start: int, kind: str, cond: str, stack: list,
                              stmts: list) -> int | None:
        """A ``while`` loop the function's implicit ``return None`` follows. The compiler copies that
        line-less exit for each jump to it, so the top test jumps to one copy and the bottom test
        (the test repeated, jumping back to the body) falls into another. Both copies are dropped and
        the function must end without a ``return`` of its own, so that recompiling copies it again;
        None (nothing consumed) when the shape is not exactly that."""
        if busy(stack) or not self.returns_none_at(dest):
            return None
        start = self.instrs[i + 1].offset
        back = next((k for k in range(dest - 3, i, -1) if self.instrs[k].opname in self.table["cond_jumps"]
                     and self.instrs[k].argval == start and self.returns_none_at(k + 1)), None)
        if back is None:
            return None
        if {kind, self.table["cond_jumps"][self.instrs[back].opname]} not in ({"false", "true"}, {"none", "notnone"}):
            return None
        bottom = back - (i - quiet_start)  # the bottom copy of the test: its instructions match the top's
        if bottom <= i or not self.same_test(quiet_start, i, bottom):
            return None
        if not self.only_exit_to_copy(i, dest, back + 1):
            return None  # another jump reaches a copy: it is not only this loop's exit
        body, rest = self.loop_body(Loop(quiet_start, back + 1, False), i + 1, bottom, stack)
        if len(rest) != len(stack) and not _ends(body):
            raise self.refuse(self.instrs[back], "while loop body leaves values on the stack")
        self.inlined.update({back + 1, back + 2, dest, dest + 1})
        self.implicit_return = True
        stmts.append(While(cond, body))
        return back + 1
