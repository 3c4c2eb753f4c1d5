"""``try`` statements from CPython 3.11 exception tables.

The layouts read here are the ones the compiler gives:

* ``try``/``except``: a protected body (its range in the table), an optional ``else`` after the range,
  a jump over the handlers, then one clause per ``except`` (type test, optional ``as`` name with its
  cleanup) and the re-raise epilogue.
* ``try``/``finally``: the ``finally`` body appears twice, once on the normal path right after the
  protected range and once in the handler (``PUSH_EXC_INFO`` ... ``RERAISE 0``); both copies must
  decompile to the same statements. With ``except`` clauses as well, the ``finally`` handler covers
  the jump and the clean-ups of the inner ``try`` rather than its body.

Anything else is refused; the recompile-and-compare check catches what this reading misses."""

from __future__ import annotations

import dis
from dataclasses import dataclass, field
from typing import Any

from .streams import JUMP_OPCODES
from .symbolic import Expr, Line, Refusal, Return, Waiting



@dataclass
class Try:
    body: list
    handlers: list  # (type text or None, name or None, statements)
    orelse: list = field(default_factory=list)
    final: list | None = None


def try_entry(executor: Any, i: int, stack: list) -> Any:
    """The exception-table entry of the outermost ``try`` whose body starts at instruction ``i``.

    An instruction is listed only under its innermost handler, so when a ``try`` body begins with
    another ``try``, the outer handler's entries start later: they cover the inner statement's
    clean-up (``COPY 3; POP_EXCEPT; RERAISE``). Climb from the innermost entry through those."""
    if not executor.exception_entries:  # (3.10's code objects have no table; its front end builds one)
        return None
    offset = executor.instrs[i].offset
    best = None
    for entry in executor.exception_entries:
        if entry.start == offset and entry.depth == len(stack) and entry not in executor.consumed:
            if _is_handler(executor, entry) and (best is None or entry.target > best.target):
                best = entry
    while best is not None:
        outer = _enclosing(executor, best, len(stack))
        if outer is None:
            break
        best = outer
    return best


def _is_handler(executor: Any, entry: Any) -> bool:
    """Whether ``entry`` leads to a ``try`` statement's handler (not a ``with`` statement's exit)."""
    handler = executor.index.get(entry.target)
    return (handler is not None and executor.instrs[handler].opname == "PUSH_EXC_INFO"
            and executor.instrs[handler + 1].opname != "WITH_EXCEPT_START")


def _enclosing(executor: Any, inner: Any, depth: int) -> Any:
    """The unclaimed handler entry at ``depth`` that protects ``inner``'s clean-up, if any."""
    cleanup = next((e.target for e in executor.exception_entries
                    if e.start == inner.target and e.depth == depth + 1 and e.lasti), None)
    if cleanup is None:
        return None
    found = None
    for e in executor.exception_entries:
        if (e.start <= cleanup < e.end and e.depth == depth and e.target > inner.target
                and e not in executor.consumed and _is_handler(executor, e)):
            if found is None or e.target < found.target:
                found = e
    return found


def _refusal(executor: Any, k: int, why: str) -> Refusal:
    ins = executor.instrs[min(k, len(executor.instrs) - 1)]
    return Refusal(ins.offset, ins.opname, f"try: {why}")


def try_block(executor: Any, i: int, entry: Any, stack: list, stmts: list) -> int:
    """Rebuild the try statement starting at ``i``; returns the index after it."""
    saved = set(executor.consumed)
    # a ``return`` inside the body splits its range: every entry to the same handler is this statement
    executor.consumed.update(e for e in executor.exception_entries
                             if e.target == entry.target and e.depth == entry.depth)
    handler = executor.index[entry.target]
    try:
        return _try_except(executor, i, entry, handler, stack, stmts)
    except Refusal as first:
        executor.consumed = saved | {e for e in executor.exception_entries
                                     if e.target == entry.target and e.depth == entry.depth}
        try:
            return _try_finally(executor, i, entry, handler, stack, stmts)
        except Refusal as second:
            raise (first if _looks_except(executor, handler) else second) from None


def _looks_except(executor: Any, handler: int) -> bool:
    """Whether the handler at ``handler`` starts an ``except`` clause (a bare one's ``POP_TOP``, or a
    type test before any statement), not a ``finally`` body (which may hold a try of its own)."""
    ins = executor.instrs
    if ins[handler + 1].opname == "POP_TOP":
        return True
    for x in ins[handler + 1:handler + 40]:
        if x.opname == "CHECK_EXC_MATCH":
            return True
        if x.opname in ("NOP", "PUSH_EXC_INFO", "RERAISE", "RETURN_VALUE") or x.opname.startswith(("STORE", "JUMP",
                                                                                                    "POP_JUMP")):
            return False
    return False


def _protected_end(executor: Any, entry: Any) -> int:
    """Index just past the last instruction protected by ``entry``'s handler at its depth."""
    ends = [e.end for e in executor.exception_entries
            if e.target == entry.target and e.depth == entry.depth and e.start >= entry.start]
    end = max(ends)
    return executor.index.get(end, len(executor.instrs))


def _body_and_else(executor: Any, i: int, entry: Any, body_end: int, stack: list) -> tuple[list, list]:
    """The protected body and the ``else`` clause (statements after the range, before the jump)."""
    protected = _protected_end(executor, entry)
    ins = executor.instrs
    # a ``return`` ends the protected range early too, and a ``break`` or ``continue`` leaves it before
    # the body ends (its exit code stands outside the range, the body's own jumps pass over it): the
    # ``else`` clause starts at the range's end or where such a jump lands; when no split reads, the whole
    splits = [protected] + sorted({executor.target(x) for x in ins[i:protected] if x.opcode in JUMP_OPCODES
                                   and protected < executor.target(x) < body_end})
    for split in splits if i < protected < body_end else []:
        consumed, declared = set(executor.consumed), set(executor.declared)
        try:
            body, rest = executor.block(i, split, stack)
        except Refusal:
            body, rest = [None], []
        if body == [None] or len(rest) != len(stack):
            # an abandoned split releases the statements it claimed (a try nested at the start)
            executor.consumed, executor.declared = consumed, declared
        if body != [None] and len(rest) == len(stack):
            orelse, rest = executor.block(split, body_end, stack)
            if len(rest) != len(stack):
                raise _refusal(executor, split, "else clause leaves values on the stack")
            if not body:
                body = [Line("pass")]
            return body, orelse
    body, rest = executor.block(i, body_end, stack)
    if len(rest) != len(stack):
        raise _refusal(executor, i, "body leaves values on the stack")
    return body, []


class HandlerExc:
    """The exception ``PUSH_EXC_INFO`` leaves on the stack while an ``except`` clause runs."""


def _try_except(executor: Any, i: int, entry: Any, handler: int, stack: list, stmts: list) -> int:
    ins = executor.instrs
    body_end, end = handler, None
    if ins[handler - 1].opname in ("JUMP_FORWARD", "JUMP_BACKWARD"):
        body_end, end = handler - 1, executor.target(ins[handler - 1])
    cleanup = next((executor.index.get(e.target) for e in executor.exception_entries
                    if e.start == ins[handler].offset and e.depth == len(stack) + 1 and e.lasti), None)
    if cleanup is None:
        raise _refusal(executor, handler, "handler without its clean-up entry")
    clauses: list = []
    k = handler + 1
    while True:
        if ins[k].opname == "POP_TOP":  # bare ``except:``, always the last clause
            type_text, name, start, region_end, next_clause = None, None, k + 1, cleanup, None
        else:
            match = next((m for m in range(k, len(ins)) if ins[m].opname == "CHECK_EXC_MATCH"), None)
            if match is None:
                raise _refusal(executor, k, "except clause without a type test")
            inner, types_stack = executor.block(k, match, [])
            if inner or len(types_stack) != 1 or not isinstance(types_stack[0], Expr):
                raise _refusal(executor, k, "except type is not one expression")
            type_text = types_stack[0].text
            jump_at = match + 1
            while ins[jump_at].opname == "EXTENDED_ARG":  # a long jump over the clause
                jump_at += 1
            jump = ins[jump_at]
            if jump.opname != "POP_JUMP_FORWARD_IF_FALSE":
                raise _refusal(executor, jump_at, "unexpected shape after the type test")
            next_clause = region_end = executor.target(jump)
            bind = ins[jump_at + 1]
            if bind.opname == "POP_TOP":
                name = None
            elif bind.opname == "STORE_FAST":
                name = bind.argval
            else:
                raise _refusal(executor, jump_at + 1, "except target is not a local name")
            start = jump_at + 2
        if name is not None:  # the name's clean-up when the clause itself raises
            if ([x.opname for x in ins[region_end - 4:region_end]] != ["LOAD_CONST", "STORE_FAST", "DELETE_FAST",
                                                                        "RERAISE"]
                    or ins[region_end - 3].argval != name):
                raise _refusal(executor, region_end - 4, "missing clean-up of the except name")
            region_end -= 4
        last = ins[region_end - 1]
        if last.opname in ("JUMP_FORWARD", "JUMP_BACKWARD") and (end is None or executor.target(last) == end):
            end = executor.target(last)  # the clause's normal exit: past the try
            region_end -= 1
        handler_body, hstack = executor.block(start, region_end, stack + [HandlerExc()])
        if len(hstack) != len(stack) and not _leaves(handler_body):
            raise _refusal(executor, start, "handler body leaves values on the stack")
        clauses.append((type_text, name, handler_body or [Line("pass")]))
        if next_clause is None:
            epilogue = cleanup
            break
        k = next_clause
        if ins[k].opname == "RERAISE" and ins[k].arg == 0:
            epilogue = k + 1
            break
    if [x.opname for x in ins[epilogue:epilogue + 3]] != ["COPY", "POP_EXCEPT", "RERAISE"] or epilogue != cleanup:
        raise _refusal(executor, epilogue, "unexpected epilogue after the handlers")
    body, orelse = _body_and_else(executor, i, entry, body_end, stack)
    stmts.append(Try(body, clauses, orelse))
    after = epilogue + 3
    if end is not None and end != after:
        # the compiler threads the exits of a trailing ``try`` straight to where its block goes next
        executor.try_exits[after] = end
    elif end == after:
        stmts.extend(_kept_jump(executor, end))
    return after


def _kept_jump(executor: Any, exit_: int) -> list:
    """``[pass]`` when the try's exit lands on an unconditional jump the compiler did not thread: only
    a statement that compiles to a NOP (``pass``) standing there keeps the two jumps apart."""
    ins = executor.instrs
    if exit_ < len(ins) and ins[exit_].opname == "JUMP_FORWARD":
        return [Line("pass")]
    return []


def _leaves(stmts: list) -> bool:
    last = stmts[-1] if stmts else None
    return isinstance(last, Return) or (isinstance(last, Line) and last.text in ("break", "continue"))


def pop_except(executor: Any, i: int, stack: list) -> int:
    """``POP_EXCEPT`` leaving an ``except`` clause (its end, or a return/break/continue in it): drop the
    clause's exception and the compiler's clean-up of an ``as`` name; returns the next index."""
    ins = executor.instrs
    if not stack or not isinstance(stack[-1], HandlerExc):
        raise Refusal(ins[i].offset, ins[i].opname, "POP_EXCEPT outside an except clause")
    stack.pop()
    k = i + 1
    if ([x.opname for x in ins[k:k + 3]] == ["LOAD_CONST", "STORE_FAST", "DELETE_FAST"] and ins[k].argval is None
            and ins[k + 1].argval == ins[k + 2].argval):
        k += 3
    return k


def _copy_size(executor: Any, normal: int, handler: int, cleanup: int, waiting: bool = False) -> tuple[int, int, int]:
    """(instructions in the normal path's copy of the finally body starting at ``normal``, end of the
    handler's copy, how many returns/breaks/continues leave that copy): the copies differ in NOPs and
    in how the handler's copy drops its exception before leaving."""
    ins = executor.instrs
    final_end = cleanup - 1  # the handler's copy ends in ``RERAISE 0``...
    if ins[cleanup - 1].opname == "RETURN_VALUE":
        final_end = cleanup  # ...unless the finally body always returns: then the return is its end
    elif _ends_in_nested_try(executor, handler, cleanup):
        final_end = cleanup  # ...or a try ends it: the compiler copied that RERAISE 0 into its exits
    elif ins[cleanup - 1].opname != "RERAISE" or ins[cleanup - 1].arg != 0:
        raise _refusal(executor, handler, "finally handler of an unknown shape")
    if [x.opname for x in ins[cleanup:cleanup + 3]] != ["COPY", "POP_EXCEPT", "RERAISE"]:
        raise _refusal(executor, cleanup, "finally without its re-raise epilogue")
    # a ``return`` in the handler's copy first drops the exception (SWAP, POP_TOP, SWAP, POP_EXCEPT):
    # four instructions the normal path's copy does not have
    leaving = ["SWAP", "POP_TOP", "SWAP", "POP_EXCEPT", "RETURN_VALUE"]
    # (inside a loop the return drops the loop's iterator after that, as the normal copy does too)
    leaving_loop = ["SWAP", "POP_TOP", "SWAP", "POP_EXCEPT", "SWAP", "POP_TOP", "RETURN_VALUE"]
    returns_in_final = sum(1 for k in range(handler + 1, final_end)
                           if [x.opname for x in ins[k:k + 5]] == leaving
                           or [x.opname for x in ins[k:k + 7]] == leaving_loop)
    # ``return <constant>``, ``break`` and ``continue`` drop it first (POP_TOP, POP_EXCEPT): two more;
    # an ``except`` clause of a try nested there pops its exception the same way after its type test
    # (a ``with`` nested there pops its exception, then its exit's result, the same way: not a leaving)
    with_cleanup = ["POP_TOP", "POP_EXCEPT", "POP_TOP", "POP_TOP"]
    const_returns = sum(1 for k in range(handler + 1, final_end)
                        if [x.opname for x in ins[k:k + 2]] == ["POP_TOP", "POP_EXCEPT"]
                        and ins[k - 2].opname != "CHECK_EXC_MATCH"
                        and [x.opname for x in ins[k:k + 4]] != with_cleanup)
    # with the try's own return value set aside, the normal path's ``return`` drops it too (SWAP, POP_TOP)
    extra = (2 if waiting else 4) * returns_in_final + 2 * const_returns
    returns_in_final += const_returns
    # the copies are the same instructions but for NOPs (line markers placed on either copy)
    real = sum(1 for x in ins[handler + 1:final_end] if x.opname != "NOP") - extra
    size = 0
    while real > 0 and normal + size < handler:
        real -= ins[normal + size].opname != "NOP"
        size += 1
    return size, final_end, returns_in_final


def _ends_in_nested_try(executor: Any, handler: int, cleanup: int) -> bool:
    """Whether the handler's copy of a ``finally`` body (from ``handler`` to the statement's own
    clean-up at ``cleanup``) ends in a nested ``try``'s clean-up (``COPY 3; POP_EXCEPT; RERAISE 1``):
    the copy's closing ``RERAISE 0`` is then gone, copied by the compiler into each exit of that
    ``try`` in place of the jump the normal path's copy has there."""
    ins = executor.instrs
    tail = ins[cleanup - 3:cleanup] if cleanup - 3 > handler else []
    return ([x.opname for x in tail] == ["COPY", "POP_EXCEPT", "RERAISE"] and tail[0].arg == 3 and tail[2].arg == 1
            and any(x.opname == "PUSH_EXC_INFO" for x in ins[handler + 1:cleanup - 3]))


def _shape(executor: Any, indices: list[int]) -> list[tuple]:
    """Instructions at ``indices`` as (name, referent), jump targets relative to the first one; a jump
    past the last one leaves the copy, wherever it lands (the compiler may duplicate the ``return``
    that follows a copy, and send the copy's exits to either)."""
    ins = executor.instrs
    base = ins[indices[0]].offset if indices else 0
    end = ins[indices[-1]].offset if indices else 0
    return [(ins[k].opname, ("out" if ins[k].argval > end else ins[k].argval - base)
             if ins[k].opcode in JUMP_OPCODES else repr(ins[k].argval)) for k in indices]


def _mark_inlined_finals(executor: Any, i: int, entry: Any, handler: int, protected: int) -> None:
    """Mark the copies of the ``finally`` body the compiler placed before each ``return``, ``break`` or
    ``continue`` of the try body (outside its protected ranges): the executor skips them, and the
    recompiled source, which leaves the try the same way, must make them again."""
    ins = executor.instrs
    cleanup = next((executor.index[e.target] for e in executor.exception_entries
                    if e.start == ins[handler].offset and e.depth == entry.depth + 1 and e.lasti), None)
    if cleanup is None:
        return
    try:  # the reference is the normal path's copy: the one inlined copies are made like
        size = _copy_size(executor, protected, handler, cleanup)[0]
    except Refusal:
        return
    final = [k for k in range(protected, protected + size) if ins[k].opname != "NOP"]
    # a POP_EXCEPT in the copy is the copy leaving an enclosing handler, which these rules do not
    # read, unless the copy holds a ``try`` of its own whose clean-up it is
    if not final or (any(ins[k].opname == "POP_EXCEPT" for k in final)
                     and not any(ins[k].opname == "PUSH_EXC_INFO" for k in final)):
        return
    wanted = _shape(executor, final)
    covered = {k for e in executor.exception_entries if e.target == entry.target
               for k in range(executor.index.get(e.start, 0), executor.index.get(e.end, len(ins)))}
    for r in range(i, protected):  # the normal path's own copy starts at ``protected``
        if ins[r].opname not in ("RETURN_VALUE", "JUMP_FORWARD", "JUMP_BACKWARD") or r in covered:
            continue
        k = r - 1
        if ins[k].opname in ("LOAD_CONST", "POP_TOP"):  # a constant loaded, or an iterator dropped, after it
            k -= 1
        picked: list[int] = []
        while k >= i and len(picked) < len(final):
            if ins[k].opname != "NOP":
                picked.insert(0, k)
            k -= 1
        if (len(picked) == len(final) and not covered.intersection(picked)
                and not executor.inlined.intersection(picked) and _shape(executor, picked) == wanted):
            executor.inlined.update(picked)
            # a jump out of the copy may land on the compiler's duplicate of the ``return`` after it
            twin = r + 1 < len(ins) and ins[r].opname == "RETURN_VALUE" and ins[r + 1].opname == "RETURN_VALUE"
            if twin and any(ins[k].opcode in JUMP_OPCODES and ins[k].argval == ins[r + 1].offset for k in picked):
                executor.inlined.add(r + 1)


def _try_finally(executor: Any, i: int, entry: Any, handler: int, stack: list, stmts: list) -> int:
    protected = _protected_end(executor, entry)
    ins = executor.instrs
    # a body ending in ``if c: return v``: the return (behind its copy of the finally body) stands
    # outside the protected range, and the test jumps past it to the normal path's copy
    past = [executor.target(x) for x in ins[i:protected] if x.opcode in JUMP_OPCODES
            and protected < executor.target(x) < handler]
    if past and ins[max(past) - 1].opname in ("RETURN_VALUE", "JUMP_FORWARD", "JUMP_BACKWARD"):
        protected = max(past)
    _mark_inlined_finals(executor, i, entry, handler, protected)
    body, rest = executor.block(i, protected, stack)
    returns = None
    if len(rest) == len(stack) + 1 and isinstance(rest[-1], Expr):
        # ``return value`` inside the try: the value waits while finally runs; a constant the source
        # returns is loaded after the finally body, so one loaded before it was not a plain constant
        # in the source (``return 5 if 1 else a``) and must stay unfoldable
        from .executor import opaque

        returns = opaque(rest[-1])
    elif len(rest) != len(stack):
        raise _refusal(executor, i, "body leaves values on the stack")
    node = Try(body or [Line("pass")], [])
    if len(body) == 1 and isinstance(body[0], Try) and body[0].final is None and returns is None:
        node = body[0]  # ``try/except/finally`` is one statement: one NOP, not two
    end, tail = _finally_tail(executor, protected, handler, stack, node, returns)
    stmts.append(node)
    stmts.extend(tail)
    return end


def _finally_tail(executor: Any, normal: int, handler: int, stack: list, node: Try,
                  returns: Expr | None = None) -> tuple[int, list]:
    """Read the ``finally`` whose handler is at ``handler`` and whose normal-path copy starts at
    ``normal``; sets ``node.final``; returns (index after the statement, statements that follow it
    on the normal path before the handler, such as a return the compiler placed there)."""
    ins = executor.instrs
    cleanup = next((executor.index[e.target] for e in executor.exception_entries
                    if e.start == ins[handler].offset and e.depth == len(stack) + 1 and e.lasti), None)
    if cleanup is None:
        raise _refusal(executor, handler, "finally handler of an unknown shape")
    size, final_end, returns_in_final = _copy_size(executor, normal, handler, cleanup, returns is not None)
    inner_stack = stack + ([Waiting(returns.text, returns.atom)] if returns is not None else [])
    copy, rest = executor.block(normal, normal + size, inner_stack)
    if len(rest) != len(inner_stack) and not (returns is not None and _leaves(copy)):
        raise _refusal(executor, normal, "the two copies of the finally body differ")
    nested_end = final_end == cleanup and _ends_in_nested_try(executor, handler, cleanup)
    if returns_in_final or nested_end:
        # the handler's copy is the same statements under the exception (with a nested try's exits
        # turned into copies of its RERAISE 0); the recompile-and-compare check proves it, since
        # this source compiles both copies again
        final = copy
    else:
        # the handler's copy runs with the previous and the current exception pushed: a ``try``
        # nested in the ``finally`` body is listed at that depth in the exception table
        under = stack + [HandlerExc(), HandlerExc()]
        saved = (set(executor.consumed), set(executor.declared), dict(executor.try_exits), set(executor.inlined),
                 executor.implicit_return)
        try:
            final, rest = executor.block(handler + 1, final_end, under)
            if len(rest) != len(under):
                raise _refusal(executor, handler, "finally body leaves values on the stack")
            if copy != final:
                raise _refusal(executor, normal, "the two copies of the finally body differ")
        except Refusal:
            # the compiler copies the handler's closing RERAISE 0 into exits of the body (an if arm's
            # jump, a with's exit), shapes the rules do not read there; the body read from the
            # normal path is what the recompile check then proves, as it compiles both copies again
            (executor.consumed, executor.declared, executor.try_exits, executor.inlined,
             executor.implicit_return) = saved
            final = copy
    node.final = final or [Line("pass")]
    k, after = normal + size, cleanup + 3
    if returns is not None and k == handler and final_end == cleanup and _leaves(node.final):
        node.body.append(Return(returns))  # the finally body returns in its place: the value is dropped
        return after, []
    if returns is not None:
        if ins[k].opname != "RETURN_VALUE" or k + 1 != handler:
            raise _refusal(executor, k, "return inside try of an unknown shape")
        if node.body == [Line("pass")]:
            node.body = []
        node.body.append(Return(returns))
        return after, []
    if ins[k].opname == "JUMP_FORWARD" and k + 1 == handler:
        exit_ = executor.target(ins[k])
        if exit_ > after:  # a trailing ``try``: its exit is threaded to where the enclosing block goes
            executor.try_exits[after] = exit_
            return after, []
        return exit_, _kept_jump(executor, exit_)
    if ins[k].opname == "JUMP_BACKWARD" and k + 1 == handler:
        # the last statement of a loop body: the compiler threads its exit straight to the loop head
        executor.try_exits[after] = executor.target(ins[k])
        return after, []
    if k < handler:
        tail, rest = executor.block(k, handler, stack)
        if not tail or not isinstance(tail[-1], Return):
            raise _refusal(executor, k, "code between the finally copy and its handler")
        if after >= len(ins) and tail == [Return(Expr("None", atom=True))]:
            return after, []  # the function's implicit ``return None``, placed before the handler
        return after, tail
    if k == handler and final_end == cleanup and _leaves(node.final):
        return after, []  # the finally body always returns: nothing follows it on the normal path
    ends_in_try = [x.opname for x in ins[k - 3:k]] == ["COPY", "POP_EXCEPT", "RERAISE"] and k - 3 > normal
    if k == handler and (nested_end or ends_in_try):
        # the nested try's exits leave the statement: past it, or threaded to where the enclosing
        # block goes (a loop's head, an outer statement's end); the recompile check proves where
        exits = {executor.target(ins[j]) for j in range(normal, k) if ins[j].opname in ("JUMP_FORWARD", "JUMP_BACKWARD")
                 and not normal <= executor.target(ins[j]) < k}
        if len(exits) != 1:
            raise _refusal(executor, k, "normal path runs into the finally handler")
        exit_ = exits.pop()
        if exit_ != after:
            executor.try_exits[after] = exit_
        return after, []
    raise _refusal(executor, k, "normal path runs into the finally handler")


def render_try(node: Try, render_block: Any, indent: Any) -> list[str]:
    """Source lines of a Try node."""
    lines = ["try:"] + indent(render_block(node.body))
    for type_text, name, body in node.handlers:
        head = "except" + (f" {type_text}" if type_text else "") + (f" as {name}" if name else "") + ":"
        lines += [head] + indent(render_block(body))
    if node.orelse:
        lines += ["else:"] + indent(render_block(node.orelse))
    if node.final is not None:
        lines += ["finally:"] + indent(render_block(node.final))
    return lines


def entries(code: Any) -> list:
    """The exception table of ``code`` (empty when it has none)."""
    try:
        return list(dis._parse_exception_table(code))  # type: ignore[attr-defined]
    except Exception:
        return []


__all__ = ["Try", "try_entry", "try_block", "render_try", "entries", "Line", "Return"]
