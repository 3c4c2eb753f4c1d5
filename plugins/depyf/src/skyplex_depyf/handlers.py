"""``try``/``except`` from CPython 3.11 exception tables, in the one layout the compiler gives it
without ``else``/``finally``: a protected body jumping over the handlers, then one clause per
``except`` (type test, optional ``as`` name with its cleanup), then the re-raise epilogue. Anything
else is refused; the recompile-and-compare check catches what this reading misses."""

from __future__ import annotations

import dis
from dataclasses import dataclass
from typing import Any

from .symbolic import Expr, Line, Refusal, Return


@dataclass
class Try:
    body: list
    handlers: list  # (type text or None, name or None, statements)


def try_entry(executor: Any, i: int, stack: list) -> Any:
    """The exception-table entry whose protected range starts at instruction ``i`` at this stack depth."""
    if executor.code.co_exceptiontable is None or not executor.code.co_exceptiontable:
        return None
    offset = executor.instrs[i].offset
    for entry in executor.exception_entries:
        if entry.start == offset and entry.depth == len(stack) and entry not in executor.consumed:
            handler = executor.index.get(entry.target)
            if handler is not None and executor.instrs[handler].opname == "PUSH_EXC_INFO":
                return entry
    return None


def try_block(executor: Any, i: int, entry: Any, stack: list, stmts: list) -> int:
    """Rebuild the try statement starting at ``i``; returns the index after it."""
    ins = executor.instrs
    executor.consumed.add(entry)
    handler = executor.index[entry.target]

    def refuse(k: int, why: str) -> Refusal:
        return Refusal(ins[k].offset, ins[k].opname, f"try/except: {why}")

    body_end, end = handler, None
    if ins[handler - 1].opname == "JUMP_FORWARD":
        body_end, end = handler - 1, executor.target(ins[handler - 1])
    body, rest = executor.block(i, body_end, stack)
    if len(rest) != len(stack):
        raise refuse(i, "body leaves values on the stack")
    clauses: list = []
    k = handler + 1
    while True:
        if ins[k].opname == "POP_TOP":  # bare ``except:``
            type_text, name, start, next_clause = None, None, k + 1, None
        else:
            match = next((m for m in range(k, len(ins)) if ins[m].opname == "CHECK_EXC_MATCH"), None)
            if match is None:
                raise refuse(k, "except clause without a type test")
            inner, types_stack = executor.block(k, match, [])
            if inner or len(types_stack) != 1 or not isinstance(types_stack[0], Expr):
                raise refuse(k, "except type is not one expression")
            type_text = types_stack[0].text
            jump = ins[match + 1]
            if jump.opname != "POP_JUMP_FORWARD_IF_FALSE":
                raise refuse(match + 1, "unexpected shape after the type test")
            next_clause = executor.target(jump)
            bind = ins[match + 2]
            if bind.opname == "POP_TOP":
                name = None
            elif bind.opname == "STORE_FAST":
                name = bind.argval
            else:
                raise refuse(match + 2, "except target is not a local name")
            start = match + 3
        pop = next((m for m in range(start, len(ins)) if ins[m].opname == "POP_EXCEPT"), None)
        if pop is None or any(x.opname in ("RETURN_VALUE", "PUSH_EXC_INFO") for x in ins[start:pop]):
            raise refuse(start, "handler body returns or nests another handler")
        handler_body, hstack = executor.block(start, pop, [])
        if hstack:
            raise refuse(start, "handler body leaves values on the stack")
        after = pop + 1
        if name is not None:
            tail = [x.opname for x in ins[after:after + 3]]
            if tail != ["LOAD_CONST", "STORE_FAST", "DELETE_FAST"]:
                raise refuse(after, "missing cleanup of the except name")
            after += 3
        if ins[after].opname != "JUMP_FORWARD":
            raise refuse(after, "handler does not jump past the try")
        target = executor.target(ins[after])
        if end is None:
            end = target
        elif target != end:
            raise refuse(after, "handlers end at different places")
        clauses.append((type_text, name, handler_body))
        if next_clause is None:
            epilogue = after + 1
            break
        k = next_clause
        if ins[k].opname == "RERAISE":
            epilogue = k + 1
            break
    if [x.opname for x in ins[epilogue:epilogue + 3]] != ["COPY", "POP_EXCEPT", "RERAISE"] or epilogue + 3 != end:
        raise refuse(epilogue, "unexpected epilogue after the handlers")
    stmts.append(Try(body, clauses))
    return end


def render_try(node: Try, render_block: Any, indent: Any) -> list[str]:
    """Source lines of a Try node."""
    lines = ["try:"] + indent(render_block(node.body))
    for type_text, name, body in node.handlers:
        head = "except" + (f" {type_text}" if type_text else "") + (f" as {name}" if name else "") + ":"
        lines += [head] + indent(render_block(body))
    return lines


def entries(code: Any) -> list:
    """The exception table of ``code`` (empty when it has none)."""
    try:
        return list(dis._parse_exception_table(code))  # type: ignore[attr-defined]
    except Exception:
        return []


__all__ = ["Try", "try_entry", "try_block", "render_try", "entries", "Line", "Return"]
