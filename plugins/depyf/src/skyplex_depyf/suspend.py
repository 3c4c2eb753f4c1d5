"""Statements and expressions built around a suspension or a context manager, as CPython 3.11 lays
them out: ``await`` and ``yield from`` (a ``SEND`` loop), ``with`` and ``async with`` (``__exit__``
called on the normal path, ``WITH_EXCEPT_START`` in the handler), and ``async for`` (``GET_ANEXT``
protected by ``END_ASYNC_FOR``). Each shape is matched instruction by instruction; anything else is
refused, and the recompile-and-compare check stands behind every match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .symbolic import Expr, For, ForTarget, Item, Iter, Line, Loop, Refusal, Return

#: the loop a value is awaited (or delegated to) in: GET_AWAITABLE/GET_YIELD_FROM_ITER then these five
SEND_LOOP = ["LOAD_CONST", "SEND", "YIELD_VALUE", "RESUME", "JUMP_BACKWARD_NO_INTERRUPT"]
EXIT_CALL = ["LOAD_CONST", "LOAD_CONST", "LOAD_CONST", "PRECALL", "CALL"]
OPS = {"GET_AWAITABLE", "GET_YIELD_FROM_ITER", "BEFORE_WITH", "BEFORE_ASYNC_WITH", "GET_AITER", "ASYNC_GEN_WRAP"}
STORES = ("STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF")


@dataclass
class With:
    items: str  # ``ctx`` or ``ctx as name``
    body: list
    is_async: bool = False


class WithExit:
    """The bound ``__exit__`` the compiler keeps on the stack under a ``with`` body."""


class EarlyExit:
    """The result of ``__exit__(None, None, None)`` called inside a ``with`` body: the body is left
    there by a ``return``, ``break`` or ``continue``."""


def exit_call(executor: Any, ins: Any, args: list, kw: tuple) -> EarlyExit:
    """``CALL 2`` of a with statement's ``__exit__`` with three ``None``: only a statement leaving the
    body early compiles to it (the normal exit is read by the with rule itself)."""
    if kw or len(args) != 3 or not all(isinstance(a, Expr) and a.text == "None" for a in args):
        raise executor.refuse(ins, "call of a with statement's exit of an unknown shape")
    return EarlyExit()


def leave_with(executor: Any, i: int, stack: list) -> None:
    """Check that the early exit popped at ``i`` is followed by what leaves: a return (of the value set
    aside under the exit, or of a constant) or a loop's jump (after popping the iterator of a ``for``
    loop that ``break`` leaves)."""
    ins = executor.instrs
    following = _names(executor, i + 1, i + 3)
    if following[:1] == ["POP_TOP"] and stack and isinstance(stack[-1], Iter):
        following = following[1:]
    if following[:1] == ["RETURN_VALUE"] and stack:
        stack[-1] = _kept_aside(stack[-1])
        return
    cleanup = ["LOAD_CONST", "STORE_FAST", "DELETE_FAST"]  # an ``as`` name's clean-up, when there is one
    returning = _names(executor, i + 3, i + 4) == ["RETURN_VALUE"] or _names(executor, i + 3, i + 7) == cleanup + [
        "RETURN_VALUE"]
    if following == ["SWAP", "POP_EXCEPT"] and returning and len(stack) >= 2 and ins[i + 1].arg == 2:
        # a return inside an except clause: the value goes under the clause's exception, which is dropped
        stack[-1] = _kept_aside(stack[-1])
        return
    if following == ["LOAD_CONST", "RETURN_VALUE"] or following[:1] in (["JUMP_FORWARD"], ["JUMP_BACKWARD"]):
        return
    raise executor.refuse(ins[i], "with statement left early of an unknown shape")


def _kept_aside(value: Any) -> Any:
    """A returned constant loaded before ``__exit__`` runs: the source's value was not a plain constant
    (``return 5 if 1 else a``), since a constant is loaded after the exit; keep it unfoldable."""
    from .executor import opaque

    return opaque(value) if isinstance(value, Expr) else value


def _names(executor: Any, lo: int, hi: int) -> list[str]:
    return [x.opname for x in executor.instrs[lo:hi]]


def _send_loop_at(executor: Any, k: int) -> bool:
    """Whether a SEND loop (``LOAD_CONST None`` ... back-jump to the SEND) starts at ``k``."""
    ins = executor.instrs
    if _names(executor, k, k + 5) != SEND_LOOP or ins[k].argval is not None:
        return False
    return executor.target(ins[k + 1]) == k + 5 and executor.target(ins[k + 4]) == k + 1


def step(executor: Any, i: int, hi: int, stack: list, stmts: list) -> int:
    """Apply the instruction at ``i`` (one of ``OPS``); returns the next index."""
    ins = executor.instrs[i]
    op = ins.opname
    if op in ("GET_AWAITABLE", "GET_YIELD_FROM_ITER"):
        if (op == "GET_AWAITABLE" and ins.arg != 0) or not _send_loop_at(executor, i + 1):
            raise executor.refuse(ins, "suspension of an unknown shape")
        value = executor.expr(stack.pop(), ins)
        word = "await" if op == "GET_AWAITABLE" else "yield from"
        stack.append(Expr(f"({word} {value.text})", atom=True))
        return i + 6
    if op == "ASYNC_GEN_WRAP":
        if executor.instrs[i + 1].opname != "YIELD_VALUE":
            raise executor.refuse(ins, "ASYNC_GEN_WRAP not before a yield")
        return i + 1
    if op in ("BEFORE_WITH", "BEFORE_ASYNC_WITH"):
        return _with(executor, i, stack, stmts, op == "BEFORE_ASYNC_WITH")
    return _async_for(executor, i, stack, stmts)


def _with(executor: Any, i: int, stack: list, stmts: list, is_async: bool) -> int:
    ins = executor.instrs
    where = ins[i]
    context = executor.expr(stack.pop(), where)
    k = i + 1
    if is_async:
        if _names(executor, k, k + 1) != ["GET_AWAITABLE"] or ins[k].arg != 1 or not _send_loop_at(executor, k + 1):
            raise executor.refuse(where, "async with: entering of an unknown shape")
        k += 6
    bind = ins[k]
    if bind.opname in STORES:
        items = f"{context.text} as {bind.argval}"
        if bind.opname == "STORE_GLOBAL":
            executor.declared.add(f"global {bind.argval}")
    elif bind.opname == "POP_TOP":
        items = context.text
    else:
        raise executor.refuse(bind, "with target is not a plain name")
    depth = len(stack) + 1
    entry = next((e for e in executor.exception_entries if e.start == bind.offset and e.depth == depth), None)
    if entry is None:
        raise executor.refuse(where, "with body without its exception-table entry")
    handler = executor.index[entry.target]
    executor.consumed.add(entry)
    ends = [e.end for e in executor.exception_entries if e.target == entry.target and e.depth == depth]
    protected = executor.index.get(max(ends), len(ins))
    while protected < len(ins) and ins[protected].opname == "NOP":  # the line marker of a nested block's end
        protected += 1
    exit_call = EXIT_CALL + (["GET_AWAITABLE"] + SEND_LOOP if is_async else []) + ["POP_TOP"]
    consumed, declared = set(executor.consumed), set(executor.declared)
    try:
        body, rest = executor.block(k + 1, protected, stack + [WithExit()])
    except Refusal:
        # a body ending in a statement that leaves early (``if c: return``): the protected range
        # stops there, and the normal path's exit call comes later, the last one before the handler
        later = [p for p in range(protected + 1, handler)
                 if _names(executor, p, p + len(exit_call)) == exit_call and ins[p].argval is None]
        if not later:
            raise
        executor.consumed, executor.declared = consumed, declared
        protected = later[-1]
        body, rest = executor.block(k + 1, protected, stack + [WithExit()])
    returns = None
    if len(rest) == depth + 1 and isinstance(rest[-1], Expr) and ins[protected].opname == "SWAP":
        returns = _kept_aside(rest[-1])  # ``return value`` in the body: __exit__ runs with it set aside
        protected += 1
    elif len(rest) != depth:
        raise executor.refuse(where, "with body leaves values on the stack")
    if _names(executor, protected, protected + len(exit_call)) != exit_call:
        raise executor.refuse(ins[protected], "with: exit call of an unknown shape")
    handler_shape = (["PUSH_EXC_INFO", "WITH_EXCEPT_START"] + (["GET_AWAITABLE"] + SEND_LOOP if is_async else [])
                     + ["POP_JUMP_FORWARD_IF_TRUE", "RERAISE", "COPY", "POP_EXCEPT", "RERAISE", "POP_TOP",
                        "POP_EXCEPT", "POP_TOP", "POP_TOP"])
    if _names(executor, handler, handler + len(handler_shape)) != handler_shape:
        raise executor.refuse(ins[handler], "with: exit handler of an unknown shape")
    after = handler + len(handler_shape)
    k = protected + len(exit_call)
    if returns is not None:
        leaving = _names(executor, k, handler)  # inside an except clause the return drops its exception
        if leaving not in (["RETURN_VALUE"], ["SWAP", "POP_EXCEPT", "RETURN_VALUE"],
                           ["SWAP", "POP_EXCEPT", "LOAD_CONST", "STORE_FAST", "DELETE_FAST", "RETURN_VALUE"]):
            raise executor.refuse(ins[k], "with: return of an unknown shape")
        stmts.append(With(items, body + [Return(returns)], is_async))
        return after
    if (k == handler - 1 and ins[k].opname == "JUMP_BACKWARD" and executor.loops
            and executor.target(ins[k]) == executor.loops[-1].head):
        # a body ending in ``continue``: the exit call is followed by the jump to the loop's head
        # (a with merely ending the loop body keeps its forward jump to the loop's back-jump)
        stmts.append(With(items, body + [Line("continue")], is_async))
        return after
    loop = executor.loops[-1] if executor.loops else None
    if (k == handler - 2 and loop is not None and loop.is_for and ins[k].opname == "POP_TOP"
            and ins[k + 1].opname in ("JUMP_FORWARD", "JUMP_BACKWARD") and executor.target(ins[k + 1]) == loop.exit):
        # a body ending in ``break`` out of a for loop: the exit call, the loop's iterator dropped,
        # the jump past the loop
        stmts.append(With(items, body + [Line("break")], is_async))
        return after
    stmts.append(With(items, body or [Line("pass")], is_async))
    if k == handler - 1 and ins[k].opname == "JUMP_FORWARD" and executor.target(ins[k]) == after:
        return after
    if k < handler:  # the compiler placed a short exit (``return``) before the handler
        tail, _ = executor.block(k, handler, stack)
        if not tail or not isinstance(tail[-1], Return):
            raise executor.refuse(ins[k], "code between the with exit and its handler")
        if after >= len(ins) and tail == [Return(Expr("None", atom=True))]:
            return after  # the function's implicit ``return None``
        stmts.extend(tail)
        return after
    raise executor.refuse(ins[k], "with: normal path of an unknown shape")


def _async_for(executor: Any, i: int, stack: list, stmts: list) -> int:
    ins = executor.instrs
    where = ins[i]
    iterable = executor.expr(stack.pop(), where)
    head = i + 1
    if _names(executor, head, head + 1) != ["GET_ANEXT"] or not _send_loop_at(executor, head + 1):
        raise executor.refuse(where, "async for of an unknown shape")
    entry = next((e for e in executor.exception_entries if e.start == ins[head].offset), None)
    end_for = executor.index.get(entry.target) if entry is not None else None
    if end_for is None or ins[end_for].opname != "END_ASYNC_FOR":
        raise executor.refuse(where, "async for without END_ASYNC_FOR")
    executor.consumed.add(entry)
    back = ins[end_for - 1]
    if back.opname != "JUMP_BACKWARD" or executor.target(back) != head:
        raise executor.refuse(back, "async for without its back-jump")
    marker = Iter(iterable)
    body, _ = executor.loop_body(Loop(head, end_for + 1, True), head + 6, end_for - 1, stack + [marker, Item()])
    if not body or not isinstance(body[0], ForTarget):
        raise executor.refuse(where, "async for target is not a plain name or tuple of names")
    node = For(body[0].target, iterable.text, body[1:])
    node.is_async = True  # type: ignore[attr-defined]
    stmts.append(node)
    return end_for + 1


def render_with(node: With, render_block: Any, indent: Any) -> list[str]:
    """Source lines of a With node."""
    return [f"{'async ' if node.is_async else ''}with {node.items}:"] + indent(render_block(node.body))


__all__ = ["With", "WithExit", "EarlyExit", "exit_call", "leave_with", "OPS", "step", "render_with", "Refusal"]
