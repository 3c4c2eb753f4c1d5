"""Decompile a CPython code object to source, and prove it: the source is recompiled and its bytecode
compared with the original (instructions, names, constants, nested code objects; line numbers aside).
Anything unproven is refused with the instruction that stopped it and a ``dis`` listing instead, so
the output is either equivalent code or an honest listing, never a different program."""

from __future__ import annotations

import __future__
import dis
import io
import sys
import types
from dataclasses import dataclass
from typing import Any

from .conditions import GENERAL, PREFERENCE, PREFERENCES
from .empty_arms import else_clauses, else_pass, implicit_end, last_readings, restart, second_reading
from .executor import COMPREHENSIONS, Executor
from .handlers import Try, render_try
from .patterns import Match, render_match
from .readings import search
from .streams import JUMP_OPCODES
from .suspend import With, render_with
from .symbolic import Append, For, ForTarget, Func, If, Line, Refusal, Return, While
from .versions import split_superinstructions

CO_VARARGS, CO_VARKEYWORDS = 0x04, 0x08
CO_COROUTINE, CO_ASYNC_GENERATOR = 0x80, 0x200
SUPPORTED = {(3, 10), (3, 11), (3, 12), (3, 13)}  # other versions are rewritten into 3.11 operations (versions.py)


@dataclass
class Decompilation:
    """The result: ``source`` when decompiled and verified, else ``refusal`` (why) and ``listing``."""

    name: str
    source: str | None
    refusal: str | None
    listing: str

    @property
    def ok(self) -> bool:
        return self.source is not None

    def text(self) -> str:
        """Source when available, else the refusal and the ``dis`` listing as Python comments."""
        if self.source is not None:
            return self.source
        lines = [f"# could not decompile {self.name}: {self.refusal}"]
        lines += ["# " + line for line in self.listing.splitlines()]
        return "\n".join(lines) + "\n"


def decompile(obj: Any, verify: bool = True) -> Decompilation:
    """Decompile a function or code object; never raises for bad code, returns a refusal instead."""
    code = getattr(obj, "__code__", obj)
    if not isinstance(code, types.CodeType):
        raise TypeError(f"decompile() takes a function or code object, not {type(obj).__name__}")
    name = code.co_name
    try:
        listing = _listing(code)
    except Exception as exc:  # corrupted bytecode: dis itself cannot read it
        return Decompilation(name, None, f"bytecode cannot be read: {exc}", "")
    if sys.version_info[:2] not in SUPPORTED:
        return Decompilation(name, None, f"CPython {sys.version_info[0]}.{sys.version_info[1]} is not supported", listing)
    first = _attempt(obj, code, name, listing, verify)
    if first.ok or not verify:
        return first
    if _reads_conditions(first.refusal):  # 3.12+ may have kept an empty ``else`` arm (empty_arms.py)
        kept = second_reading(code, lambda: _attempt(obj, code, name, listing, verify))
        if kept is not None:
            return kept
    best = first
    token = GENERAL.set(True)  # read compound conditions as a whole, then prove it the same way
    try:
        for preference in range(PREFERENCES):  # equivalent readings, until one is proven
            chosen = PREFERENCE.set(preference)
            try:
                second = _attempt(obj, code, name, listing, verify)
            finally:
                PREFERENCE.reset(chosen)
            if second.ok:
                return second
            if preference == 0 and _further(second.refusal, first.refusal):
                best = second
            if not _reads_conditions(second.refusal):
                break  # stopped before any other reading could matter
        if _reads_conditions(best.refusal) or _reads_conditions(first.refusal):
            # each condition may need its own reading: search them, still proving each try
            found = search(code, [0, 1], lambda sources: _attempt(obj, code, name, listing, verify, sources))
            if found is not None:
                return found
    finally:
        GENERAL.reset(token)
    if _reads_conditions(first.refusal) or _reads_conditions(best.refusal):  # last tries (empty_arms.py)
        return last_readings(lambda: _attempt(obj, code, name, listing, verify)) or best
    return best


def _reads_conditions(refusal: str | None) -> bool:
    """Whether a refusal came from the recompile check, which another reading of a condition may pass."""
    return bool(refusal) and refusal.startswith("recompiled source differs")


def _further(a: str | None, b: str | None) -> bool:
    """Whether refusal ``a`` came later than ``b``: a whole reading refused by the recompile check, or a
    rule that stopped at a later offset. The later one names what is left to read."""
    import re

    def rank(text: str | None) -> tuple[int, int]:
        if not text:
            return (-1, 0)
        if text.startswith("recompiled source differs"):
            return (1, 0)
        found = re.match(r"offset (\d+) ", text)
        return (0, int(found.group(1)) if found else -1)

    return rank(a) > rank(b)


def _attempt(obj: Any, code: types.CodeType, name: str, listing: str, verify: bool,
             sources: list | None = None) -> Decompilation:
    try:
        defaults = getattr(obj, "__defaults__", None)
        source = render_top(code, defaults)
        if sources is not None:
            sources.append(source)
        if verify:
            problem = check_equivalent(code, source)
            trailer = dead_trailer(code, source) if problem else None
            if trailer:  # what dead code left behind (cells, the generator flag): say it after the end
                source = render_top(code, defaults, trailer)
                if sources is not None:
                    sources.append(source)
                problem = check_equivalent(code, source)
            if problem:
                return Decompilation(name, None, f"recompiled source differs: {problem}", listing)
        return Decompilation(name, source, None, listing)
    except Refusal as exc:
        return Decompilation(name, None, str(exc), listing)
    except RecursionError:
        return Decompilation(name, None, "nesting too deep", listing)
    except Exception as exc:  # a rule tripped on an unexpected shape: refuse rather than raise
        return Decompilation(name, None, f"internal {type(exc).__name__}: {exc}", listing)


def _listing(code: types.CodeType) -> str:
    out = io.StringIO()
    dis.dis(code, file=out, depth=None)
    return out.getvalue()


# rendering --------------------------------------------------------------------------------------------
def render_top(code: types.CodeType, defaults: tuple | None, trailer: list[str] | None = None) -> str:
    if not code.co_name.isidentifier():
        raise Refusal(0, "-", f"code named {code.co_name!r} is not a function")
    restart()  # empty arms are counted from the first in each rendering
    default_texts = None
    note = ""
    if defaults:
        from .executor import const_expr
        from .versions import constant_instruction  # Instruction's fields differ by version

        try:
            default_texts = [const_expr(d, constant_instruction(d)).text
                             for d in defaults]
        except Refusal:  # defaults live on the function object, not in its code: show which, keep going
            note = f"# defaults not shown (not literals): {', '.join(type(d).__name__ for d in defaults)}\n"
    text = note + "\n".join(render_def(code, code.co_name, default_texts, trailer)) + "\n"
    if code.co_freevars:  # a closure: give it the enclosing cells it reads
        cells = "".join(f"    {v} = None\n" for v in code.co_freevars)
        inner = "".join("    " + line + "\n" if line else "\n" for line in text.splitlines())
        text = f"def __closure_of_{code.co_name}():\n{cells}{inner}    return {code.co_name}\n"
    elif sys.version_info[:2] == (3, 10):  # 3.10's bytecode holds nested functions' qualified names
        from .py310 import owning_classes

        for owner in reversed(owning_classes(code)):  # a method: inside its class, they come back the same
            text = f"class {owner}:\n" + "".join("    " + line + "\n" if line else "\n" for line in text.splitlines())
    imports = sorted(imported_globals(code))
    if imports:
        text = "".join(f"import {name}  # a module in the original's globals\n" for name in imports) + "\n" + text
    return text


def dead_trailer(original: types.CodeType, source: str) -> list[str] | None:
    """Statements that compile to nothing but restore what the original's dead code left behind: the
    compiler removes code after a ``return`` or under ``if 0:``, yet the names a removed closure read
    stay cells and a removed ``yield`` still makes a generator. None when that is not the difference."""
    try:
        rebuilt = find_code(compile_like(original, source), original.co_name)
    except SyntaxError:
        return None
    if rebuilt is None:
        return None
    lines: list[str] = []
    cells = [v for v in original.co_cellvars if v not in rebuilt.co_cellvars]
    if set(rebuilt.co_cellvars) - set(original.co_cellvars):
        return None
    if cells:
        lines.append(f"lambda: ({', '.join(cells)},)")
    generator = 0x20
    if original.co_flags & generator and not rebuilt.co_flags & generator:
        lines.append("yield")
    return lines or None


def imported_globals(code: types.CodeType) -> set[str]:
    """Globals the original module bound by ``import``: CPython 3.11 calls ``module.function(...)``
    with ``LOAD_ATTR`` (not ``LOAD_METHOD``) only when the name comes from a module-level import, so
    the rebuilt source needs the same import for its bytecode to match."""
    from .versions import module_calls  # each version spells the call differently

    names = module_calls(code)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= imported_globals(const)
    return names


def signature(code: types.CodeType, default_texts: list[str] | None) -> str:
    names = list(code.co_varnames)
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    params = names[:n_pos]
    if default_texts:
        for k, text in enumerate(default_texts):
            idx = n_pos - len(default_texts) + k
            params[idx] = f"{params[idx]}={text}"
    if code.co_posonlyargcount:
        params.insert(code.co_posonlyargcount, "/")
    pos = n_pos + n_kw
    if code.co_flags & CO_VARARGS:
        params.append("*" + names[pos])
    elif n_kw:
        params.append("*")
    params += names[n_pos:n_pos + n_kw]
    if code.co_flags & CO_VARKEYWORDS:
        params.append("**" + names[pos + bool(code.co_flags & CO_VARARGS)])
    return ", ".join(params)


def render_def(code: types.CodeType, name: str, default_texts: list[str] | None,
               trailer: list[str] | None = None) -> list[str]:
    executor = Executor(code, _nested)
    stmts = executor.run()
    if executor.implicit_return or implicit_end():  # a rule dropped copies of the implicit return, or a last try
        stmts = _implicit_end(stmts)
    body = _docstring(code) + sorted(executor.declared) + render_block(_drop_final_none(stmts, code))
    if trailer:
        ends = bool(stmts) and isinstance(stmts[-1], Return)
        body += trailer if ends else ["if 0:"] + ["    " + line for line in trailer]
    is_async = code.co_flags & (CO_COROUTINE | CO_ASYNC_GENERATOR)
    header = f"{'async ' if is_async else ''}def {name}({signature(code, default_texts)}):"
    return [header] + ["    " + line for line in (body or ["pass"])]


def _docstring(code: types.CodeType) -> list[str]:
    """The docstring line: a first constant that is a str no instruction loads."""
    if code.co_consts and isinstance(code.co_consts[0], str) and code.co_name != "<lambda>":
        if not any(ins.opname == "LOAD_CONST" and ins.arg == 0 for ins in dis.get_instructions(code)):
            return [repr(code.co_consts[0])]
    return []


def _implicit_end(stmts: list) -> list:
    """``stmts`` ending the function with its ``return None`` left implicit: dropped at the end and at
    the end of each arm of a final ``if`` (falling out of that arm reaches the function's end)."""
    if stmts and isinstance(stmts[-1], Return) and not stmts[-1].raw and stmts[-1].value.text == "None":
        return stmts[:-1]
    if stmts and isinstance(stmts[-1], If) and getattr(stmts[-1], "guard", None) is None:
        last = stmts[-1]
        body = _implicit_end(last.body) if len(last.body) > 1 else last.body
        orelse = _implicit_end(last.orelse) if len(last.orelse) > 1 else last.orelse
        return stmts[:-1] + [If(last.cond, body, orelse)]
    return stmts


def _drop_final_none(stmts: list, code: types.CodeType | None = None) -> list:
    if stmts and isinstance(stmts[-1], Return) and not stmts[-1].raw and stmts[-1].value.text == "None":
        # an async generator may not say ``return None``; its implicit return is the same code
        bare = code is not None and code.co_flags & CO_ASYNC_GENERATOR
        return stmts[:-1] + [Line("return" if bare else "return None")]
    return stmts


def _nested(func: Func, mode: str, extra: str) -> str:
    """Render a code object met inside another: a comprehension, a lambda or a nested def."""
    code = func.code
    defaults = getattr(func.defaults, "items", None) if func.defaults is not None else None
    if func.defaults is not None and defaults is None:
        raise Refusal(0, "MAKE_FUNCTION", "defaults that are not a tuple")
    if func.kwdefaults is not None:
        raise Refusal(0, "MAKE_FUNCTION", "keyword-only defaults")
    if mode == "comprehension":
        return render_comprehension(code, extra)
    if mode == "lambda":
        stmts = Executor(code, _nested).run()
        if len(stmts) != 1 or not isinstance(stmts[0], Return) or stmts[0].raw:
            raise Refusal(0, "<lambda>", "lambda body is not one expression")
        return f"lambda {signature(code, defaults)}: {stmts[0].value.text}".replace("lambda :", "lambda:")
    return "\n".join(render_def(code, extra, defaults))


def render_comprehension(code: types.CodeType, iterable: str) -> str:
    stmts = Executor(code, _nested).run()
    if not stmts or not isinstance(stmts[0], For) or stmts[0].iter != ".0" or len(stmts) != 2:
        raise Refusal(0, code.co_name, "comprehension of an unknown shape")
    clauses: list[str] = []
    loop = stmts[0]
    if not loop.body:
        # the compiler dropped the element behind a false constant condition; the cells it read remain
        seen = ", ".join(code.co_freevars)
        element = f"({seen}{',' if len(code.co_freevars) == 1 else ''})" if seen else "0"
        if code.co_name == "<dictcomp>":
            element = f"0: {element}"
        open_, close = COMPREHENSIONS[code.co_name]
        return f"{open_}{element} for {loop.target} in {iterable} if 0{close}"
    element = _clauses(loop, clauses, iterable)
    dead = _unread_cells(code)
    if dead:  # the compiler folded away the code that read them (``8 if 8 else b``); they stay cells
        clauses.append(f"if 1 or ({', '.join(dead)},)")
    open_, close = COMPREHENSIONS[code.co_name]
    return f"{open_}{element} {' '.join(clauses)}{close}"


def _unread_cells(code: types.CodeType) -> list[str]:
    """The free variables of ``code`` that no instruction of it reads or passes on: what they were
    read by was dead code the compiler removed. ``if 1 or (v,)`` compiles to nothing yet keeps them."""
    read = {ins.argval for ins in dis.get_instructions(code)
            if ins.opname in ("LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE", "LOAD_CLASSDEREF")}
    return [v for v in code.co_freevars if v not in read]


def _clauses(node: Any, clauses: list[str], iterable: str | None) -> str:
    clauses.append(f"for {node.target} in {iterable if iterable is not None else node.iter}")
    body = list(node.body)
    while body:
        first = body.pop(0)
        if isinstance(first, If) and getattr(first, "guard", None) and not first.orelse:
            clauses.append(f"if {_clause_test(first.guard)}")
        elif isinstance(first, If) and not first.orelse and not body:
            clauses.append(f"if {_clause_test(first.cond)}")
            body = list(first.body)
        elif isinstance(first, If) and not first.orelse and body and first.body == [Line("continue")]:
            # a test that jumps to the element when true, else back to the loop: the clause ended in
            # a constant the compiler folded into that jump (``if i or 0``)
            clauses.append(f"if (not ({first.cond})) or 0")
        elif isinstance(first, For) and not body:
            return _clauses(first, clauses, None)
        elif isinstance(first, Append) and not body:
            return first.text
        else:
            raise Refusal(0, "<comprehension>", f"unexpected {type(first).__name__} in a comprehension")
    raise Refusal(0, "<comprehension>", "comprehension without an element")


def _clause_test(text: str) -> str:
    """A comprehension's ``if`` test: a conditional expression or lambda there must be parenthesised
    (``[v for i in r if (a if b else c)]``), which changes nothing the compiler emits."""
    return f"({text})" if " if " in text or "lambda" in text else text


def render_block(stmts: list) -> list[str]:
    lines: list[str] = []
    for node in else_clauses(stmts):  # code after a try, as its else clause in a second reading
        if isinstance(node, Line):
            lines.extend(node.text.splitlines())
        elif isinstance(node, Return):
            lines.append(node.value.text if node.raw else f"return {node.value.text}")
        elif isinstance(node, If):
            lines.append(f"if {node.cond}:")
            lines += _indent(render_block(node.body))
            if node.orelse or else_pass(node):
                lines.append("else:")
                lines += _indent(render_block(node.orelse))
        elif isinstance(node, For):
            lines.append(f"{'async ' if getattr(node, 'is_async', False) else ''}for {node.target} in {node.iter}:")
            lines += _indent(render_block(node.body))
        elif isinstance(node, While):
            lines.append(f"while {node.cond}:")
            lines += _indent(render_block(node.body))
        elif isinstance(node, Try):
            lines += render_try(node, render_block, _indent)
        elif isinstance(node, With):
            lines += render_with(node, render_block, _indent)
        elif isinstance(node, Match):
            lines += render_match(node, render_block, _indent)
        elif isinstance(node, (Append, ForTarget)):
            raise Refusal(0, "-", f"{type(node).__name__} outside a comprehension or loop")
        else:
            raise Refusal(0, "-", f"cannot render {type(node).__name__}")
    return lines


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in (lines or ["pass"])]


# verification -----------------------------------------------------------------------------------------
def find_code(code: types.CodeType, name: str) -> types.CodeType | None:
    """The first code object called ``name`` inside ``code`` (depth first)."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name:
                return const
            found = find_code(const, name)
            if found is not None:
                return found
    return None


FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


def compile_like(original: types.CodeType, source: str) -> types.CodeType:
    """Compile ``source`` under the same ``from __future__`` features as ``original`` was."""
    return compile(source, "<decompiled>", "exec", flags=original.co_flags & FUTURE_FLAGS, dont_inherit=True)


def check_equivalent(original: types.CodeType, source: str) -> str | None:
    """None when ``source`` compiles to the same bytecode as ``original``, else the first difference."""
    try:
        module = compile_like(original, source)
    except SyntaxError as exc:
        return f"source does not compile: {exc.msg} (line {exc.lineno})"
    rebuilt = find_code(module, original.co_name)
    if rebuilt is None:
        return f"no function {original.co_name} in the source"
    return compare_code(original, rebuilt)


def _shape(code: types.CodeType) -> list[tuple]:
    """The instructions without NOPs; a jump's target is the index of the first real instruction at or
    after it (a NOP does nothing, so where it stood cannot change what the code does). Each real
    instruction carries the handler that catches what it raises, found the same way."""
    return _real_code(code)[0]


def _shape_plain(code: types.CodeType) -> list[tuple]:
    return [(ins.opname, ins.arg, ins.argval) for ins in dis.get_instructions(code)]


def _real_code(code: types.CodeType) -> tuple[list[tuple], list[tuple | None]]:
    out = []
    instrs = [ins for ins in split_superinstructions(dis.get_instructions(code)) if ins.opname != "EXTENDED_ARG"]
    idle = {"NOP", "RESUME"}
    inert: set[int] = set()  # offsets of NOPs and of forward jumps to the next real instruction

    def real_indices() -> dict[int, int]:
        found: dict[int, int] = {}
        count = 0
        for ins in instrs:
            found[ins.offset] = count
            if ins.opname not in idle and ins.offset not in inert:
                count += 1
        return found

    real_index = real_indices()
    for _ in range(3):
        more = {ins.offset for ins in instrs if ins.opname == "JUMP_FORWARD" and ins.offset not in inert
                and real_index.get(ins.argval) == real_index[ins.offset] + 1}
        if not more:
            break
        inert |= more
        real_index = real_indices()
    caught: list[tuple | None] = []
    # 3.10 has no table: its handlers are the targets of SETUP_* instructions, compared as jumps
    table = dis._parse_exception_table(code) if hasattr(dis, "_parse_exception_table") else []  # type: ignore[attr-defined]
    for ins in instrs:
        if ins.opname in idle or ins.offset in inert:
            continue
        entry = next((e for e in table if e.start <= ins.offset < e.end), None)
        caught.append(None if entry is None else (real_index.get(entry.target, entry.target), entry.depth, entry.lasti))
        value = ins.argval
        if ins.opcode in JUMP_OPCODES:
            value = ("to", real_index.get(ins.argval, ins.argval))
        if isinstance(value, types.CodeType):
            value = ("code", value.co_name)
        elif isinstance(value, float):
            value = ("float", repr(value))
        elif ins.opname == "KW_NAMES" or ins.opname == "LOAD_CONST":
            value = (type(value).__name__, repr(value))
        out.append((ins.opname, ins.arg if ins.opname in ("BINARY_OP", "COMPARE_OP", "FORMAT_VALUE") else None,
                    value if not ins.is_jump_target or True else value))
    return out, caught


def _loaded_code(code: types.CodeType) -> list[types.CodeType]:
    """The nested code objects the instructions load, in order: a function or comprehension the
    compiler built for dead code stays in ``co_consts`` but can never run, so it is not compared."""
    found: list[types.CodeType] = []
    for ins in dis.get_instructions(code):
        if isinstance(ins.argval, types.CodeType) and not any(ins.argval is c for c in found):
            found.append(ins.argval)
    return found


def compare_code(a: types.CodeType, b: types.CodeType) -> str | None:
    """The first difference between two code objects, ignoring line numbers and positions."""
    nested = 0x10  # CO_NESTED: where the def stood, not what it does
    if (a.co_flags | nested) != (b.co_flags | nested):
        return f"{a.co_name}: co_flags {a.co_flags} != {b.co_flags}"
    for attr in ("co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_freevars", "co_cellvars",
                 "co_name"):
        if getattr(a, attr) != getattr(b, attr):
            return f"{a.co_name}: {attr} {getattr(a, attr)!r} != {getattr(b, attr)!r}"
    # parameters must match by position; other locals are compared by name in the instructions, since
    # code the compiler removed as dead may leave unused locals and constants behind
    n_params = a.co_argcount + a.co_kwonlyargcount + bool(a.co_flags & CO_VARARGS) + bool(a.co_flags & CO_VARKEYWORDS)
    if a.co_varnames[:n_params] != b.co_varnames[:n_params]:
        return f"{a.co_name}: parameters {a.co_varnames[:n_params]!r} != {b.co_varnames[:n_params]!r}"
    if _docstring(a) != _docstring(b):
        return f"{a.co_name}: docstrings differ"
    try:
        (sa, handlers_a), (sb, handlers_b) = _real_code(a), _real_code(b)
    except Exception:  # an exception table that does not parse: only identical raw tables pass
        if getattr(a, "co_exceptiontable", None) != getattr(b, "co_exceptiontable", None):
            return f"{a.co_name}: exception tables differ"
        (sa, handlers_a), (sb, handlers_b) = (_shape_plain(a), []), (_shape_plain(b), [])
    for k, (x, y) in enumerate(zip(sa, sb)):
        if x != y:
            return f"{a.co_name}: instruction {k} {x[0]} {x[2]!r} != {y[0]} {y[2]!r}"
    if len(sa) != len(sb):
        return f"{a.co_name}: {len(sa)} instructions != {len(sb)}"
    for k, (x, y) in enumerate(zip(handlers_a, handlers_b)):
        if x != y:  # the same instructions, but an exception at one of them goes elsewhere
            return f"{a.co_name}: instruction {k} {sa[k][0]} handled by {x} != {y}"
    nested_a, nested_b = _loaded_code(a), _loaded_code(b)
    if len(nested_a) != len(nested_b):
        return f"{a.co_name}: nested code objects differ in number"
    for x, y in zip(nested_a, nested_b):
        problem = compare_code(x, y)
        if problem:
            return problem
    return None
